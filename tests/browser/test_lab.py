"""The browser harness itself: Lab starts, a notebook runs, its output shows."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_a_notebook_runs_in_lab(notebook):
    panel = notebook("smoke.ipynb")
    expect(panel.locator(".jp-OutputArea-output").first).to_contain_text("LOCAL True")
