"""The Browser widget without a browser: a recording comm stands in for the front end.

Searches run against a real ``bioshare serve`` of the demo data (the ``local``
repository); messages are sent the way the front end sends them, over the widget's comm.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import ipywidgets
import pytest
import traitlets
from widget_comms import RecordingComm

from bioshare.catalog.index import RecordIndex, default_index_path
from bioshare.demo import build_demo
from bioshare.repositories.base import DatasetRecord, ImageRef, Term
from bioshare.server import BackgroundServer
from bioshare.widgets import browser as browser_module
from bioshare.widgets.browser import Browser, browse

CLOSED = "http://127.0.0.1:9"  # nothing listens on the discard port
WAIT = 30.0
STATIC = Path(browser_module.__file__).parent / "static"
TESTIDS = (
    "browser-query",
    "browser-search",
    "browser-result",
    "browser-facet-",
    "browser-status-",
    "browser-detail",
    "browser-open",
    "browser-next",
    "browser-prev",
    "browser-searching",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    data = tmp_path_factory.mktemp("browser-demo")
    build_demo(data)
    with BackgroundServer(data) as server:
        yield server


@pytest.fixture(autouse=True)
def env(server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The local repository is the demo server; a private cache, so no offline index."""
    monkeypatch.setenv("BIOSHARE_LOCAL_URL", server.url)
    monkeypatch.setenv("BIOSHARE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BIOSHARE_RETRIES", "0")
    monkeypatch.delenv("BIOSHARE_OFFLINE", raising=False)
    return server


@pytest.fixture(autouse=True)
def _record_comms(comms: list[RecordingComm]) -> list[RecordingComm]:
    """Every test here records what its widgets send."""
    return comms


@pytest.fixture
def viewers(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The default viewer factory, replaced: records the data it is given."""
    made: list[Any] = []

    def factory(data: Any) -> ipywidgets.HTML:
        made.append(data)
        return ipywidgets.HTML("viewer")

    monkeypatch.setattr(browser_module, "make_viewer", factory)
    return made


def send(widget: Browser, content: dict[str, Any]) -> None:
    """A custom message from the front end (``model.send(content)``)."""
    widget.comm.handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
    )


def update(widget: Browser, **state: Any) -> None:
    """Trait changes from the front end (``model.set(...); model.save_changes()``)."""
    widget.comm.handle_msg(
        {
            "content": {"data": {"method": "update", "state": state, "buffer_paths": []}},
            "buffers": [],
        }
    )


def settle(widget: Browser) -> None:
    assert widget.wait(WAIT), "the browser is still busy"


def ids(widget: Browser) -> list[str]:
    return [r["id"] for r in widget.results]


def facet(widget: Browser, field: str) -> dict[Any, int]:
    return {entry["value"]: entry["count"] for entry in widget.facets[field]}


# -- the front end's files --------------------------------------------------------------------


def test_static_files_are_self_contained() -> None:
    js = (STATIC / "browser.js").read_text()
    css = (STATIC / "browser.css").read_text()
    assert "export default" in js
    assert not re.search(r"^\s*import\s", js, re.MULTILINE), "no imports: plain, offline ESM"
    assert not re.search(r"import\(|https?://(?!doi\.org)", js), "no CDN or other origins"
    assert "@import" not in css
    assert "url(" not in css
    for testid in TESTIDS:
        assert testid in js, testid


def test_initial_state_reaches_the_front_end(comms: list[RecordingComm]) -> None:
    widget = Browser(["local"], query="cells", limit=5)
    opened = widget.comm.sent[0]
    assert opened["msg_type"] == "comm_open"
    state = opened["data"]["state"]
    assert state["query"] == "cells"
    assert state["limit"] == 5
    assert state["repositories"] == ["local"]
    assert state["filters"] == {
        "repository": [],
        "organism": None,
        "imaging_method": None,
        "license": None,
        "has_ome_zarr": None,
    }
    assert "export default" in state["_esm"]
    assert ".bioshare-browser" in state["_css"]
    assert not state["searched"]
    assert widget.selected is None


# -- searching --------------------------------------------------------------------------------


def test_search_message_fills_results_facets_and_statuses() -> None:
    widget = Browser(["local"], viewer=False)
    update(widget, query="saline")
    send(widget, {"type": "search"})
    settle(widget)
    assert set(ids(widget)) == {"v0.4/cells.ome.zarr", "v0.5/cells.ome.zarr"}
    assert widget.total == 2
    assert (widget.page, widget.pages, widget.more) == (1, 1, False)
    card = widget.results[0]
    assert card["repository"] == "local"
    assert card["has_ome_zarr"] is True
    assert card["license"] == "CC0-1.0"
    assert card["title"].startswith("Cell floating")
    assert facet(widget, "repository") == {"local": 2}
    assert facet(widget, "license") == {"CC0-1.0": 2}
    assert facet(widget, "has_ome_zarr") == {True: 2}
    (status,) = widget.statuses
    assert status["repository"] == "local"
    assert status["ok"] is True
    assert status["count"] == 2
    assert status["error"] is None
    assert not widget.searching
    assert widget.error == ""
    assert not widget.offline
    sent = widget.comm.state_sent()  # what the front end now shows
    assert [r["id"] for r in sent["results"]] == ids(widget)
    assert sent["searching"] is False
    assert sent["statuses"] == widget.statuses


def test_search_method_returns_the_page() -> None:
    widget = Browser(["local"], viewer=False, limit=5)
    results = widget.search("")
    assert len(results) == 5
    assert results.total == 8
    assert [r.id for r in results] == ids(widget)
    assert widget.pages == 2
    assert facet(widget, "license") == {
        "CC-BY-4.0": 4,
        "CC0-1.0": 2,
        "No known copyright restrictions": 2,
    }
    assert widget.counted == 8


def test_searching_indicator_is_set_while_a_search_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    real = browser_module._search

    def slow(query: str, **kwargs: Any) -> Any:
        assert release.wait(WAIT)
        return real(query, **kwargs)

    monkeypatch.setattr(browser_module, "_search", slow)
    widget = Browser(["local"], viewer=False)
    send(widget, {"type": "search", "query": "ihc"})
    assert widget.searching
    assert widget.comm.state_sent()["searching"] is True
    release.set()
    settle(widget)
    assert not widget.searching
    assert len(widget.results) == 2


def test_pagination_reuses_the_fetched_records(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    real = browser_module._search

    def counting(query: str, **kwargs: Any) -> Any:
        calls.append({"query": query, **kwargs})
        return real(query, **kwargs)

    monkeypatch.setattr(browser_module, "_search", counting)
    widget = Browser(["local"], viewer=False, limit=3)
    send(widget, {"type": "search"})
    settle(widget)
    first = ids(widget)
    assert (widget.total, widget.page, widget.pages) == (8, 1, 3)
    update(widget, page=2)  # the Next button
    send(widget, {"type": "search"})
    settle(widget)
    second = ids(widget)
    send(widget, {"type": "search", "page": 3})
    settle(widget)
    third = ids(widget)
    assert (len(first), len(second), len(third)) == (3, 3, 2)
    assert len(set(first + second + third)) == 8
    assert widget.page == 3
    send(widget, {"type": "search", "page": 9})  # past the end: the last page
    settle(widget)
    assert widget.page == 3
    assert ids(widget) == third
    assert len(calls) == 1  # pages came from the records fetched once
    send(widget, {"type": "search", "query": "mitosis"})  # a new query asks again
    settle(widget)
    assert len(calls) == 2
    assert widget.total == 2


def test_pages_beyond_the_pool_ask_again(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []
    real = browser_module._search

    def counting(query: str, **kwargs: Any) -> Any:
        asked.append(kwargs["limit"])
        return real(query, **kwargs)

    monkeypatch.setattr(browser_module, "_search", counting)
    widget = Browser(["local"], viewer=False, limit=3, pool=3)
    widget.search("")
    assert (widget.total, widget.pages, widget.more) == (3, 1, True)  # "page 1 of 1+"
    widget.search(page=2)
    assert (widget.total, widget.page, widget.more) == (6, 2, True)
    widget.search(page=3)
    assert (widget.total, widget.page, widget.pages, widget.more) == (8, 3, 3, False)
    assert len(widget.results) == 2
    assert asked == [3, 6, 9]


def test_filters_pass_through_and_the_repository_facet_restricts() -> None:
    widget = Browser(["local", f"omero:{CLOSED}"], viewer=False)
    update(widget, filters={"repository": ["local"], "license": "CC0-1.0"})
    send(widget, {"type": "search", "page": 1})
    settle(widget)
    assert set(ids(widget)) == {"v0.4/cells.ome.zarr", "v0.5/cells.ome.zarr"}
    assert [s["repository"] for s in widget.statuses] == ["local"]  # omero was not asked
    assert facet(widget, "license") == {"CC0-1.0": 2}  # facets of the filtered set
    assert widget.repositories == ["local", f"omero:{CLOSED}"]  # all still offered
    assert widget.filters["organism"] is None
    widget.search(license=None, has_ome_zarr=False)
    assert widget.total == 0
    assert widget.results == []
    assert widget.filters["repository"] == ["local"]  # untouched filters stay


def test_bad_filters_are_refused() -> None:
    widget = Browser(["local"], viewer=False)
    with pytest.raises(traitlets.TraitError, match="unknown filters"):
        widget.filters = {"colour": "blue"}
    with pytest.raises(ValueError, match="unknown filters"):
        widget.search("cells", colour="blue")
    send(widget, {"type": "search", "filters": {"colour": "blue"}})
    assert "unknown filters" in widget.error
    send(widget, {"type": "dance"})
    assert "unknown message" in widget.error


def test_a_failing_repository_shows_in_statuses(comms: list[RecordingComm]) -> None:
    widget = Browser(["local", f"omero:{CLOSED}"], viewer=False, timeout=10)
    send(widget, {"type": "search", "query": "mitosis"})
    settle(widget)
    assert set(ids(widget)) == {"v0.4/mitosis.ome.zarr", "v0.5/mitosis.ome.zarr"}
    statuses = {s["repository"]: s for s in widget.statuses}
    assert statuses["local"]["ok"] is True
    failed = statuses[f"omero:{CLOSED}"]
    assert failed["ok"] is False
    assert failed["count"] == 0
    assert "127.0.0.1:9" in failed["error"]
    assert widget.error == ""  # one repository answered: no banner
    assert not widget.offline
    sent = widget.comm.state_sent()["statuses"]
    assert any(s["ok"] is False and s["error"] for s in sent)


def test_no_repository_and_no_index_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIOSHARE_LOCAL_URL", CLOSED)
    widget = Browser(["local"], viewer=False)
    widget.search("cells")
    assert widget.results == []
    assert not widget.offline
    assert widget.statuses[0]["ok"] is False
    assert "offline index" in widget.error


def _indexed_records() -> list[DatasetRecord]:
    human = Term("NCBITaxon:9606", "Homo sapiens")
    mouse = Term("NCBITaxon:10090", "Mus musculus")
    confocal = Term("FBbi:00000251", "confocal microscopy")
    return [
        DatasetRecord(
            repository="local",
            id=f"indexed/{name}.ome.zarr",
            title=f"Indexed {name} cells",
            license="CC-BY-4.0",
            organisms=(organism,),
            imaging_methods=(confocal,),
            has_ome_zarr=True,
        )
        for name, organism in (("hela", human), ("u2os", human), ("fibroblast", mouse))
    ]


def test_offline_fallback_when_the_network_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    with RecordIndex(default_index_path()) as index:  # in this test's private cache
        index.add(_indexed_records())
    monkeypatch.setenv("BIOSHARE_LOCAL_URL", CLOSED)  # the network is down
    widget = Browser(["local"], viewer=False)
    send(widget, {"type": "search", "query": "cells"})
    settle(widget)
    assert widget.offline is True
    assert widget.comm.state_sent()["offline"] is True
    assert widget.total == 3
    assert {r["title"] for r in widget.results} >= {"Indexed hela cells"}
    assert facet(widget, "organism") == {"Homo sapiens": 2, "Mus musculus": 1}
    assert facet(widget, "imaging_method") == {"confocal microscopy": 3}
    (status,) = widget.statuses  # why it answered offline
    assert status["ok"] is False
    assert widget.error == ""
    send(widget, {"type": "search", "filters": {"organism": "Homo sapiens"}})
    settle(widget)
    assert widget.total == 2
    assert widget.offline


def test_a_failing_search_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(query: str, **kwargs: Any) -> Any:
        raise RuntimeError("index is corrupt")

    monkeypatch.setattr(browser_module, "_search", broken)
    widget = Browser(["local"], viewer=False)
    send(widget, {"type": "search", "query": "cells"})
    settle(widget)
    assert widget.error == "RuntimeError: index is corrupt"
    assert not widget.searching
    assert widget.results == []
    with pytest.raises(RuntimeError, match="corrupt"):
        widget.search("cells")


def test_a_stale_search_never_overwrites_a_newer_one(monkeypatch: pytest.MonkeyPatch) -> None:
    started, release = threading.Event(), threading.Event()
    real = browser_module._search

    def slow_for_mitosis(query: str, **kwargs: Any) -> Any:
        if query == "mitosis":
            started.set()
            assert release.wait(WAIT)
        return real(query, **kwargs)

    monkeypatch.setattr(browser_module, "_search", slow_for_mitosis)
    widget = Browser(["local"], viewer=False)
    send(widget, {"type": "search", "query": "mitosis"})
    assert started.wait(WAIT)
    send(widget, {"type": "search", "query": "saline"})
    settle(widget)  # the newer search is done while the older one still runs
    assert set(ids(widget)) == {"v0.4/cells.ome.zarr", "v0.5/cells.ome.zarr"}
    release.set()
    for thread in threading.enumerate():
        if thread.name == "bioshare-browser-search":
            thread.join(WAIT)
            assert not thread.is_alive()
    assert set(ids(widget)) == {"v0.4/cells.ome.zarr", "v0.5/cells.ome.zarr"}
    assert widget.query == "saline"
    assert not widget.searching
    assert [r["id"] for r in widget.comm.state_sent()["results"]] == ids(widget)


# -- details and open -------------------------------------------------------------------------


def test_details_list_the_images(server: Any) -> None:
    widget = Browser(["local"], viewer=False)
    widget.search("cells")
    send(widget, {"type": "details", "repository": "local", "id": "v0.5/cells.ome.zarr"})
    settle(widget)
    detail = widget.detail
    assert detail["id"] == "v0.5/cells.ome.zarr"
    assert detail["license"] == "CC0-1.0"
    assert detail["description"].startswith("Quantitative phase image")
    (image,) = detail["images"]
    assert image["zarr_url"] == f"{server.url}/v0.5/cells.ome.zarr"
    assert image["shape"] == [660, 550]
    assert image["dtype"] == "uint8"
    assert detail["images_error"] is None
    assert widget.loading == ""
    assert widget.comm.state_sent()["detail"]["images"] == detail["images"]
    record, images = widget.details("local", "v0.4/plate.ome.zarr")  # not among the results
    assert record.image_count == 6
    assert widget.detail["id"] == "v0.4/plate.ome.zarr"
    assert images[0].id == "v0.4/plate.ome.zarr"


def test_details_of_a_missing_dataset_is_an_error() -> None:
    widget = Browser(["local"], viewer=False)
    send(widget, {"type": "details", "repository": "local", "id": "v0.5/none.zarr"})
    settle(widget)
    assert "has no dataset" in widget.error
    assert widget.detail == {}
    send(widget, {"type": "details", "repository": "local"})
    assert "KeyError" in widget.error


def test_open_selects_the_image_and_hands_it_to_the_viewer(viewers: list[Any]) -> None:
    widget = Browser(["local"])
    widget.search("cells")
    opened: list[ImageRef] = []
    widget.on_open(opened.append)
    changes: list[Any] = []
    widget.observe(lambda change: changes.append(change["new"]), names="selected")
    send(
        widget,
        {"type": "open", "repository": "local", "id": "v0.5/cells.ome.zarr", "image": None},
    )
    settle(widget)
    assert widget.error == ""
    ref = widget.selected
    assert isinstance(ref, ImageRef)
    assert ref.id == "v0.5/cells.ome.zarr"
    assert ref.open().shape == (660, 550)
    assert widget.selected_record is not None
    assert widget.selected_record.id == "v0.5/cells.ome.zarr"
    assert opened == [ref]
    assert changes == [ref]
    (data,) = viewers  # the viewer got every level and the labels, lazily
    assert data["0"]["image"].shape == (660, 550)
    assert widget.viewer is not None
    assert widget.viewer_area.children == (widget.viewer,)
    assert widget.opened["dataset"] == "v0.5/cells.ome.zarr"
    assert widget.comm.state_sent()["opened"]["zarr_url"] == ref.zarr_url


def test_open_image_method_and_browse_layout(viewers: list[Any]) -> None:
    box = browse(["local"])
    widget = box.browser
    assert box.children == (widget, widget.viewer_area)
    ref = widget.open_image("local", "v0.4/mitosis.ome.zarr", "v0.4/mitosis.ome.zarr")
    assert widget.selected == ref
    assert len(viewers) == 1
    assert widget.viewer_area.children == (widget.viewer,)
    widget.open_image("local", "v0.5/cells.ome.zarr")  # a second image replaces the first
    assert len(viewers) == 2
    assert widget.viewer_area.children == (widget.viewer,)
    assert widget.selected is not None
    assert widget.selected.id == "v0.5/cells.ome.zarr"


def test_open_without_a_viewer_only_selects(viewers: list[Any]) -> None:
    widget = Browser(["local"], viewer=False)
    ref = widget.open_image("local", "v0.5/ihc.ome.zarr")
    assert widget.selected == ref
    assert viewers == []
    assert widget.viewer is None
    assert widget.viewer_area.children == ()


def test_a_custom_viewer_factory() -> None:
    made: list[Any] = []
    widget = Browser(["local"], viewer=lambda data: made.append(data) or "my viewer")
    widget.open_image("local", "v0.5/cells.ome.zarr")
    assert widget.viewer == "my viewer"
    assert len(made) == 1
    assert widget.viewer_area.children == ()  # not a widget: display it yourself


def test_open_failures_are_reported(viewers: list[Any]) -> None:
    widget = Browser(["local"])
    send(widget, {"type": "open", "repository": "local", "id": "v0.5/cells.ome.zarr", "image": "x"})
    settle(widget)
    assert "has no image 'x'" in widget.error
    assert widget.selected is None
    # a plate is selected, but the image viewer cannot show it: say so
    send(widget, {"type": "open", "repository": "local", "id": "v0.5/plate.ome.zarr"})
    settle(widget)
    assert widget.selected is not None
    assert widget.selected.id == "v0.5/plate.ome.zarr"
    assert "viewer could not open it" in widget.error
    assert "open_plate" in widget.error
    assert widget.loading == ""
    with pytest.raises(Exception, match="viewer could not open it"):
        widget.open_image("local", "v0.4/plate.ome.zarr")


def test_a_newer_open_supersedes_an_older_one(
    viewers: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release = threading.Event(), threading.Event()
    widget = Browser(["local"])
    real = widget._image_list

    def slow_for_ihc(repository: str, id: str) -> list[ImageRef]:
        if "ihc" in id:
            started.set()
            assert release.wait(WAIT)
        return real(repository, id)

    monkeypatch.setattr(widget, "_image_list", slow_for_ihc)
    send(widget, {"type": "open", "repository": "local", "id": "v0.5/ihc.ome.zarr"})
    assert started.wait(WAIT)
    send(widget, {"type": "open", "repository": "local", "id": "v0.5/cells.ome.zarr"})
    settle(widget)
    release.set()
    for thread in threading.enumerate():
        if thread.name == "bioshare-browser-open":
            thread.join(WAIT)
            assert not thread.is_alive()
    assert widget.selected is not None
    assert widget.selected.id == "v0.5/cells.ome.zarr"
    assert len(viewers) == 1
