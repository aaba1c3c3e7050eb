"""The widgets in real JupyterLab in real Chromium: search and open, view, describe, publish."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def canvas_pixels(panel) -> str:
    """A digest of the viewer canvas, to see it change."""
    return panel.locator("[data-testid=viewer-canvas]").evaluate(
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                 let h = 0; for (let i = 0; i < d.length; i += 7) h = (h * 31 + d[i]) >>> 0;
                 return String(h); }"""
    )


def wait_new_frame(panel, previous: str) -> None:
    canvas = panel.locator("[data-testid=viewer-canvas]")
    expect(canvas).not_to_have_attribute("data-frame-id", previous)


def test_search_the_demo_repository_and_open_a_result(notebook):
    panel = notebook("browser.ipynb")
    query = panel.get_by_test_id("browser-query")
    expect(query).to_be_visible()
    query.fill("mitosis")
    panel.get_by_test_id("browser-search").click()
    results = panel.get_by_test_id("browser-result")
    expect(results.first).to_be_visible()
    expect(panel.get_by_test_id("browser-status-local")).to_have_attribute("data-ok", "true")
    chosen = panel.locator("[data-testid=browser-result][data-id='v0.5/mitosis.ome.zarr']")
    chosen.locator("button.bsb-title").click()
    detail = panel.get_by_test_id("browser-detail")
    expect(detail).to_be_visible()
    detail.get_by_test_id("browser-open").first.click()
    expect(panel.get_by_test_id("viewer-canvas")).to_have_attribute("data-frame-id", "1")


def test_slider_and_channel_toggle_change_the_picture(notebook):
    panel = notebook("viewer.ipynb")
    canvas = panel.get_by_test_id("viewer-canvas")
    expect(canvas).not_to_have_attribute("data-frame-id", "0")
    before, frame = canvas_pixels(panel), canvas.get_attribute("data-frame-id")
    panel.get_by_test_id("viewer-slider-z").fill("8")
    wait_new_frame(panel, frame)
    expect(panel.get_by_test_id("viewer-loading")).to_have_attribute("data-state", "idle")
    after_z = canvas_pixels(panel)
    assert after_z != before
    frame = canvas.get_attribute("data-frame-id")
    panel.get_by_test_id("viewer-channel-Membrane").click()
    wait_new_frame(panel, frame)
    expect(panel.get_by_test_id("viewer-loading")).to_have_attribute("data-state", "idle")
    assert canvas_pixels(panel) != after_z
    expect(panel.get_by_test_id("viewer-scalebar")).to_contain_text("µm")


def test_jpeg_frames_for_remote_kernels_draw_and_change(notebook):
    panel = notebook("viewer-jpeg.ipynb")
    canvas = panel.get_by_test_id("viewer-canvas")
    expect(canvas).to_have_attribute("data-encoding", "jpeg")
    expect(panel.get_by_test_id("viewer-loading")).to_have_attribute("data-state", "idle")
    lit = canvas.evaluate(
        "c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data"
        ".filter((v, i) => i % 4 === 3 && v > 0).length"
    )
    assert lit > 384 * 384 // 2  # the image, not a blank canvas
    before, frame = canvas_pixels(panel), canvas.get_attribute("data-frame-id")
    panel.get_by_test_id("viewer-slider-z").fill("8")
    wait_new_frame(panel, frame)
    expect(panel.get_by_test_id("viewer-loading")).to_have_attribute("data-state", "idle")
    assert canvas_pixels(panel) != before


def test_describe_with_validation_then_publish_locally(notebook):
    panel = notebook("describe.ipynb")
    panel.locator("[data-testid=editor-section-author] > summary").click()
    email = panel.get_by_test_id("editor-field-author.0.contact_email")
    expect(email).to_be_visible()
    issue = panel.get_by_test_id("editor-issue-author.0.contact_email")
    expect(issue).to_have_count(0)
    email.fill("ada@")
    expect(issue).to_contain_text("not an e-mail address")
    email.fill("ada@example.org")
    expect(issue).to_have_count(0)
    panel.get_by_test_id("editor-add-biosample").click()
    organism = panel.get_by_test_id("editor-field-biosample.0.organism_classification")
    organism.fill("human")
    suggestion = panel.get_by_test_id("editor-suggestion").filter(has_text="Homo sapiens")
    suggestion.first.click()
    expect(
        panel.get_by_test_id("editor-term-biosample.0.organism_classification.0")
    ).to_contain_text("Homo sapiens")
    panel.get_by_test_id("publisher-check").click()
    expect(panel.get_by_test_id("publisher-manifest")).to_contain_text("cells.ome.zarr")
    panel.get_by_test_id("publisher-publish").click()
    expect(panel.get_by_test_id("publisher-state")).to_have_attribute("data-state", "done")
    expect(panel.get_by_test_id("publisher-result")).to_contain_text("local:published-")
