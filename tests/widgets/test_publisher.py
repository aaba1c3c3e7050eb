"""`Publisher` without a browser, against the local repository and a fake Zenodo."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ipywidgets
import numpy as np
import pytest
from fakes.invenio import FakeInvenio
from widget_comms import browser_sends, browser_sets, sent_state
from widget_comms import wait_for as wait_until

import bioshare
from bioshare.metadata import Study
from bioshare.publishing import api as publishing_api
from bioshare.publishing.publication import Publication
from bioshare.widgets.editor import MetadataEditor
from bioshare.widgets.publisher import Publisher

TOKEN = "widget-secret-token-5f2c9a"
TIMEOUT = 120.0


def wait_for(condition: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
    return wait_until(condition, timeout)


@pytest.fixture
def widgets() -> Iterator[Callable[..., Publisher]]:
    made: list[Publisher] = []

    def make(*args: Any, **kwargs: Any) -> Publisher:
        widget = Publisher(*args, **kwargs)
        made.append(widget)
        return widget

    yield make
    for widget in made:
        widget.wait(TIMEOUT)
        widget.close()


def finish(widget: Publisher) -> None:
    """Wait for the job the browser started."""
    assert widget.wait(TIMEOUT), f"still {widget.state} after {TIMEOUT} s"


def make_study(**changes: Any) -> Study:
    values: dict[str, Any] = {
        "title": "Dividing nuclei in 3D",
        "description": "Synthetic time-lapse of dividing nuclei.",
        "licence": "CC BY 4.0",
        "release_date": "2025-01-15",
        "keyword": ["mitosis"],
        "author": [{"display_name": "Ada Lovelace", "contact_email": "ada@example.org"}],
    }
    return Study(**(values | changes))


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """Two small OME-Zarr images and a text file."""
    folder = tmp_path / "dataset"
    folder.mkdir()
    for name, value in (("a", 1), ("b", 2)):
        image = np.full((3, 32, 32), value, dtype="uint8")
        bioshare.write_image(image, folder / f"{name}.ome.zarr", dims=("z", "y", "x"))
    (folder / "README.txt").write_text("Two synthetic images.\n")
    return folder


@pytest.fixture
def zenodo(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeInvenio]:
    with FakeInvenio(flavour="zenodo", token=TOKEN) as fake:
        monkeypatch.setenv("BIOSHARE_ZENODO_SANDBOX_URL", fake.url)
        monkeypatch.setenv("BIOSHARE_RETRIES", "1")
        monkeypatch.delenv("ZENODO_SANDBOX_TOKEN", raising=False)
        monkeypatch.delenv("ZENODO_TOKEN", raising=False)
        yield fake
        fake.clear_faults()


# -- the local repository -----------------------------------------------------------------------


def test_publish_to_the_local_repository(comms, widgets, dataset, tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    widget = widgets(dataset, make_study(), local_root=root)
    assert widget.validation["ok"] is True
    browser_sends(widget, {"type": "publish", "token": ""})
    finish(widget)
    assert widget.state == "done", widget.error
    result = widget.result
    assert result["record_id"].startswith("local:published-dividing-nuclei-in-3d-")
    assert result["doi"] is None
    assert result["target"] == "local"
    assert "Ada Lovelace (2025). Dividing nuclei in 3D." in result["citation"]
    assert result["badge"] == f"[{result['record_id']}]({result['url']})"
    assert isinstance(widget.publication, Publication)
    assert (Path(widget.publication.path) / "ro-crate-metadata.json").is_file()
    names = {"README.txt", "a.ome.zarr", "b.ome.zarr"}
    assert set(widget.progress["completed"]) == names
    assert widget.progress["phase"] == "published"
    states = sent_state(widget, "state")
    assert states[-2:] == ["publishing", "done"]
    assert sent_state(widget, "result")[-1] == result


def test_publish_errors_are_clear(comms, widgets, dataset, monkeypatch):
    monkeypatch.delenv("BIOSHARE_LOCAL_ROOT", raising=False)
    monkeypatch.setenv("BIOSHARE_CACHE_DIR", str(dataset.parent / "cache"))  # nothing served
    widget = widgets(dataset, make_study())
    browser_sends(widget, {"type": "publish"})
    finish(widget)
    assert widget.state == "error"
    assert widget.error.startswith("BioshareError: no local repository to publish to")
    assert widget.result == {}


# -- the dry run --------------------------------------------------------------------------------


def test_the_dry_run_manifest_lists_the_files_with_checksums(comms, widgets, dataset):
    widget = widgets(dataset, make_study(), target="zenodo-sandbox")
    browser_sends(widget, {"type": "check"})
    finish(widget)
    assert widget.state == "idle", widget.error
    manifest = {row["name"]: row for row in widget.manifest}
    assert sorted(manifest) == ["README.txt", "a.ome.zarr.zip", "b.ome.zarr.zip"]
    readme = (dataset / "README.txt").read_bytes()
    assert manifest["README.txt"]["size"] == len(readme)
    assert manifest["README.txt"]["md5"] == hashlib.md5(readme).hexdigest()
    plan = bioshare.publish(dataset, make_study(), target="zenodo", dry_run=True, progress=False)
    assert widget.manifest == [{"name": f.name, "size": f.size, "md5": f.md5} for f in plan.files]
    assert widget.plan == plan
    assert sent_state(widget, "manifest")[-1] == widget.manifest
    assert sent_state(widget, "state")[-2:] == ["checking", "idle"]
    assert widget.validation["warnings"] == list(plan.warnings)


# -- validation for the target ------------------------------------------------------------------


def test_validation_lists_what_the_target_needs(comms, widgets, dataset):
    widget = widgets(dataset, Study(title="Only a title"))
    validation = widget.validation
    assert validation["target"] == "local"
    assert validation["ok"] is False
    assert [m["path"] for m in validation["missing"]] == ["description", "licence"]
    assert [m["label"] for m in validation["missing"]] == ["Description", "License"]

    browser_sets(widget, target="zenodo-sandbox")
    missing = [m["path"] for m in widget.validation["missing"]]
    assert missing == ["description", "licence", "author"]
    assert widget.validation["missing"][2]["label"] == "Authors"
    assert sent_state(widget, "validation")[-1]["target"] == "zenodo-sandbox"

    widget.target = "invenio"
    assert widget.validation["ok"] is False
    assert "base URL" in widget.validation["message"]
    widget.invenio_url = "https://data.example.org"
    assert [m["path"] for m in widget.validation["missing"]] == missing

    nameless = Study(title="t", description="d", licence="CC0", author=[{"orcid": None}])
    other = widgets(dataset, nameless, target="zenodo-sandbox")
    assert other.validation["missing"] == [
        {"path": "author[0].display_name", "label": "author 1: name"}
    ]


def test_validation_follows_an_editor(comms, widgets, dataset):
    editor = MetadataEditor(make_study(), autosave=None)
    widget = widgets(dataset, editor, target="zenodo-sandbox")
    assert widget.validation["ok"] is True
    editor.set_value("author[0].contact_email", "not an address")
    assert widget.validation["ok"] is False
    assert widget.validation["invalid"][0].startswith("author[0].contact_email: ")
    editor.set_value("author[0].contact_email", "ada@example.org")
    editor.set_value("description", None)
    assert [m["path"] for m in widget.validation["missing"]] == ["description"]
    widget.close()
    editor.set_value("description", "back")
    assert widget.validation["ok"] is False  # no longer following the editor
    editor.close()


def test_nothing_to_publish(comms, widgets, tmp_path):
    widget = widgets(tmp_path / "missing", make_study())
    assert widget.validation["ok"] is False
    assert "nothing to publish there" in widget.validation["message"]


# -- Zenodo and the token -----------------------------------------------------------------------


def token_free(texts: list[str]) -> list[str]:
    return [text[:200] for text in texts if TOKEN in text]


def test_publish_to_zenodo_and_the_token_is_never_kept(
    comms, widgets, dataset, zenodo, caplog, tmp_path
):
    caplog.set_level(logging.DEBUG)
    widget = widgets(dataset, make_study(), target="zenodo-sandbox")

    # A failing run first: the server answers 500 to the publish action.
    zenodo.inject("status", status=500, path="*/actions/publish")
    browser_sends(widget, {"type": "publish", "token": TOKEN})
    finish(widget)
    assert widget.state == "error"
    assert widget.error
    failed_error = widget.error
    failed_state = json.dumps(widget.get_state(), default=str)
    zenodo.clear_faults()

    browser_sends(widget, {"type": "publish", "token": TOKEN})
    finish(widget)
    assert widget.state == "done", widget.error
    result = widget.result
    assert result["doi"] == f"10.5072/zenodo.{result['record_id']}"
    assert result["doi_url"] == f"https://doi.org/{result['doi']}"
    assert result["badge"].startswith("[![DOI](")
    assert result["doi"] in result["citation"]
    assert sorted(widget.progress["completed"]) == [
        "README.txt",
        "a.ome.zarr.zip",
        "b.ome.zarr.zip",
        "ro-crate-metadata.json",
    ]

    # The token went to the server in the Authorization header...
    assert any(r.headers.get("Authorization") == f"Bearer {TOKEN}" for r in zenodo.log)
    # ... and nowhere else: not in widget state, messages to the browser, errors or logs.
    texts = [failed_error, failed_state, widget.error, caplog.text]
    texts.append(json.dumps(widget.get_state(), default=str))
    texts.append(json.dumps(ipywidgets.Widget.get_manager_state(), default=str))
    for made in comms:
        texts += [json.dumps(m, default=str) for m in made.sent]
    texts += [repr(value) for value in vars(widget).values()]
    texts += [repr(widget.publication), json.dumps(widget.result)]
    assert not token_free(texts)


def test_a_failing_publish_does_not_show_the_token(comms, widgets, dataset, zenodo, monkeypatch):
    """Even if an error message carried the token, the widget masks it."""

    def leaky(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"server said: bad token {kwargs['token']} (Bearer {kwargs['token']})")

    widget = widgets(dataset, make_study(), target="zenodo-sandbox")
    monkeypatch.setattr(publishing_api, "publish", leaky)
    browser_sends(widget, {"type": "publish", "token": TOKEN})
    finish(widget)
    assert widget.state == "error"
    assert widget.error == "RuntimeError: server said: bad token *** (Bearer ***)"
    with pytest.raises(Exception, match=r"bad token \*\*\*") as caught:
        widget.publish(TOKEN)
    assert TOKEN not in str(caught.value)
    texts = [json.dumps(m, default=str) for made in comms for m in made.sent]
    assert not token_free([*texts, json.dumps(widget.get_state(), default=str)])


def test_progress_shows_the_files_the_server_holds(comms, widgets, dataset, zenodo):
    """While the second image uploads, the first and the text file are done."""
    zenodo.inject("hang", path="*/draft/files/b.ome.zarr.zip/content")
    widget = widgets(dataset, make_study(), target="zenodo-sandbox")
    browser_sends(widget, {"type": "publish", "token": TOKEN})
    progress = wait_for(
        lambda: (
            zenodo.faults_triggered
            and widget.progress.get("file") == "b.ome.zarr.zip"
            and widget.progress
        )
    )
    assert progress["phase"] == "uploading"
    assert progress["completed"] == ["README.txt", "a.ome.zarr.zip"]
    assert progress["files_done"] == 2
    assert progress["indeterminate"] is True
    assert 0 < progress["done"] < progress["total"]
    zenodo.clear_faults()
    finish(widget)
    assert widget.state == "done", widget.error
    assert any(p.get("phase") == "uploading" for p in sent_state(widget, "progress"))


def test_production_zenodo_needs_a_confirmation(comms, widgets, dataset, zenodo):
    widget = widgets(dataset, make_study(), target="zenodo")
    browser_sends(widget, {"type": "publish", "token": TOKEN})
    assert widget.state == "error"
    assert "permanent" in widget.error
    assert zenodo.log == []


def test_one_job_at_a_time(comms, widgets, dataset, zenodo):
    zenodo.inject("hang", path="*/draft/files/a.ome.zarr.zip/content")
    widget = widgets(dataset, make_study(), target="zenodo-sandbox")
    browser_sends(widget, {"type": "publish", "token": TOKEN})
    wait_for(lambda: zenodo.faults_triggered)
    browser_sends(widget, {"type": "check"})
    assert widget.state == "publishing"
    browser_sends(widget, {"type": "publish", "token": TOKEN})
    assert "running already" in widget.error
    zenodo.clear_faults()
    finish(widget)
    assert widget.state == "done"
    assert zenodo.drafts_created == 1


def test_the_token_field_is_not_widget_state(comms, widgets, dataset):
    widget = widgets(dataset, make_study())
    state = widget.get_state()
    assert not [name for name in state if "token" in name.lower()]
    script = state["_esm"]
    assert 'type: "password"' in script
    assert 'model.set("token"' not in script
    for testid in (
        "publisher-target",
        "publisher-token",
        "publisher-check",
        "publisher-publish",
        "publisher-manifest",
        "publisher-state",
        "publisher-result",
        "publisher-error",
        "publisher-doi",
    ):
        assert f'"{testid}"' in script
