"""`MetadataEditor` without a browser: the comm is replaced by one that records messages."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
from widget_comms import browser_sends, browser_sets, sent_state, wait_for

import bioshare
from bioshare.errors import MetadataError
from bioshare.metadata import Study
from bioshare.widgets import editor as editor_module
from bioshare.widgets.editor import MetadataEditor, form_schema, parse_path, read_autosave

TIMEOUT = 30.0


@pytest.fixture
def editors() -> Iterator[Callable[..., MetadataEditor]]:
    """Factory of editors, closed at the end of the test."""
    made: list[MetadataEditor] = []

    def make(*args: Any, **kwargs: Any) -> MetadataEditor:
        widget = MetadataEditor(*args, **kwargs)
        made.append(widget)
        return widget

    yield make
    for widget in made:
        widget.close()


def custom_messages(widget: MetadataEditor) -> list[dict[str, Any]]:
    return [
        m["data"]["content"]
        for m in widget.comm.sent
        if m["msg_type"] == "comm_msg" and m["data"].get("method") == "custom"
    ]


def full_study() -> Study:
    return Study(
        title="Dividing nuclei in 3D",
        description="Synthetic time-lapse of dividing nuclei.",
        release_date="2025-01-15",
        keyword=["mitosis", "nuclei"],
        licence="CC BY 4.0",
        author=[
            {
                "display_name": "Ada Lovelace",
                "contact_email": "ada@example.org",
                "orcid": "0000-0002-1825-0097",
                "affiliation": [{"display_name": "EMBL-EBI"}],
            }
        ],
        biosample=[
            {
                "title": "HeLa",
                "organism_classification": ["human"],
                "biological_entity_description": "HeLa cells",
            }
        ],
        specimen=[{"title": "fixed", "protocol_description": "PFA 4%"}],
        image_acquisition=[
            {
                "title": "SPIM",
                "imaging_instrument_description": "home-built light sheet",
                "protocol_description": "488 nm",
                "imaging_method": ["FBbi:00000369"],
            }
        ],
        study_component=[
            {
                "title": "time-lapse",
                "description": "all of it",
                "biosample": "HeLa",
                "specimen": "fixed",
                "image_acquisition": "SPIM",
                "files": [{"file_path": "cells.ome.zarr"}],
            }
        ],
    )


# -- the form description ----------------------------------------------------------------------


def test_schema_has_a_section_per_rembi_module_and_marks_required_fields():
    schema = form_schema()
    titles = [s["title"] for s in schema["sections"]]
    assert titles == [
        "Study",
        "Authors",
        "Biosamples",
        "Specimens",
        "Image acquisitions",
        "Image correlations",
        "Image analyses",
        "Annotations",
        "Study components",
    ]
    sections = {s["key"]: s for s in schema["sections"]}
    study = {f["key"]: f for f in sections["study"]["fields"]}
    assert study["title"]["obligation"] == "required"
    assert study["title"]["label"] == "Title"
    assert study["title"]["example"] == "Mitosis in HeLa cells, 3D time-lapse"
    assert study["release_date"]["kind"] == "date"
    assert study["keyword"]["kind"] == "list"
    assert study["licence"]["kind"] == "choice"
    assert {c["label"] for c in study["licence"]["choices"]} == {"CC0-1.0", "CC-BY-4.0"}
    assert study["acknowledgement"]["obligation"] == "desirable"
    assert study["accession_id"]["obligation"] == "optional"
    assert study["grant"]["kind"] == "group"  # grants, publications and links live in Study
    author = {f["key"]: f for f in sections["author"]["fields"]}
    assert sections["author"]["repeatable"] is True
    assert sections["author"]["obligation"] == "required"
    assert author["contact_email"]["obligation"] == "required"
    assert author["affiliation"]["kind"] == "group"
    assert author["affiliation"]["fields"][0]["key"] == "display_name"
    biosample = {f["key"]: f for f in sections["biosample"]["fields"]}
    assert biosample["organism_classification"]["kind"] == "term"
    assert biosample["organism_classification"]["ontology"] == ["ncbitaxon"]
    assert biosample["biological_entity"]["ontology"] == ["efo", "cl", "uberon"]
    acquisition = {f["key"]: f for f in sections["image_acquisition"]["fields"]}
    assert acquisition["imaging_method"]["ontology"] == ["fbbi"]
    annotation = {f["key"]: f for f in sections["annotation"]["fields"]}
    assert annotation["method_type"]["kind"] == "multichoice"
    component = {f["key"]: f for f in sections["study_component"]["fields"]}
    assert component["biosample"] == component["biosample"] | {
        "kind": "reference",
        "collection": "biosample",
    }
    assert component["image_data"]["readonly"] is True
    json.dumps(schema)  # plain JSON, as widget state must be


def test_the_schema_is_in_the_widget_state(comms, editors):
    widget = editors(autosave=None)
    opened = widget.comm.sent[0]
    assert opened["msg_type"] == "comm_open"
    state = opened["data"]["state"]
    assert state["schema"]["sections"][0]["key"] == "study"
    assert state["values"] == {}
    assert state["ok"] is False
    assert any(i["path"] == "title" for i in state["issues"])


# -- checking as you type -----------------------------------------------------------------------


def test_an_invalid_email_is_reported_until_fixed(comms, editors):
    widget = editors(autosave=None)
    widget.comm.sent.clear()
    browser_sets(widget, values={"author": [{"contact_email": "ada.example.org"}]})
    issues = {i["path"]: i for i in widget.issues}
    issue = issues["author[0].contact_email"]
    assert issue["level"] == "invalid"
    assert "not an e-mail address" in issue["message"]
    sent = sent_state(widget, "issues")[-1]  # the browser was told
    assert any(i["path"] == "author[0].contact_email" for i in sent)

    browser_sets(widget, values={"author": [{"contact_email": "ada@example.org"}]})
    assert "author[0].contact_email" not in {i["path"] for i in widget.issues}
    assert not any(i["path"] == "author[0].contact_email" for i in sent_state(widget, "issues")[-1])
    assert widget.values == {"author": [{"contact_email": "ada@example.org"}]}


def test_score_and_ok_follow_the_form(editors):
    widget = editors(autosave=None)
    assert widget.ok is False
    assert widget.score == 0
    widget.study = full_study()
    assert widget.ok is True, widget.issues
    assert widget.score > 50
    assert widget.score == widget.report.score
    widget.set_value("title", "")
    assert widget.ok is False
    assert {"path": "title", "level": "missing-required"}.items() <= widget.issues[0].items()


def test_set_value_takes_either_path_form(editors):
    widget = editors(autosave=None)
    widget.set_value("author[0].affiliation[0].display_name", "EMBL")
    widget.set_value("author.0.contact_email", "ada@example.org")
    widget.set_value("keyword", ["a", "b"])
    assert widget.values == {
        "author": [{"affiliation": [{"display_name": "EMBL"}], "contact_email": "ada@example.org"}],
        "keyword": ["a", "b"],
    }
    widget.set_value("author[0].contact_email", None)
    assert widget.values["author"] == [{"affiliation": [{"display_name": "EMBL"}]}]
    assert parse_path("biosample[2].title") == ["biosample", 2, "title"]
    with pytest.raises(ValueError, match="not a field path"):
        parse_path("author..x")


def test_bad_references_between_modules_are_reported(editors):
    widget = editors(autosave=None)
    widget.set_value("study_component[0].biosample", "nothing")
    issue = {i["path"]: i for i in widget.issues}["study_component[0].biosample"]
    assert issue["level"] == "invalid"
    assert "names no biosample" in issue["message"]


# -- ontology terms -----------------------------------------------------------------------------


def test_ontology_lookup_answers_from_bundled_terms_offline(comms, editors):
    widget = editors(autosave=None)
    path = "image_acquisition.0.imaging_method"
    request = {"type": "lookup", "path": path, "ontology": ["fbbi"], "text": "light sheet"}
    browser_sends(widget, request | {"seq": 7})
    answers = wait_for(lambda: [m for m in custom_messages(widget) if m["path"] == path])
    answer = answers[-1]
    assert answer["type"] == "suggestions"
    assert answer["seq"] == 7
    assert answer["terms"][0]["label"] == "SPIM"
    assert answer["terms"][0]["curie"] == "FBbi:00000369"
    assert widget.suggestions[path][0]["curie"] == "FBbi:00000369"

    # A suggestion picked in the browser is stored as the term itself, and is valid.
    widget.set_value(path, [answer["terms"][0]])
    assert not [i for i in widget.issues if "imaging_method" in i["path"]]
    assert widget.study.image_acquisition[0].imaging_method[0].label == "SPIM"


def test_organism_lookup_and_unknown_ontologies(comms, editors):
    widget = editors(autosave=None)
    assert widget.lookup("human", ["ncbitaxon"])[0]["curie"] == "NCBITaxon:9606"
    assert widget.lookup("h", ["ncbitaxon"]) == []  # too short to search
    browser_sends(widget, {"type": "lookup", "path": "p", "ontology": "not an id!", "text": "x y"})
    answer = wait_for(lambda: [m for m in custom_messages(widget) if m["path"] == "p"])[-1]
    assert answer["terms"] == []
    assert "not an ontology id" in answer["error"]


def test_the_last_lookup_of_a_field_wins(comms, editors, monkeypatch):
    """A slow answer to an older request is dropped once a newer one was asked."""
    release = threading.Event()
    real = editor_module.lookup_term

    def slow_lookup(text: str, *args: Any, **kwargs: Any) -> Any:
        if text == "confocal":
            assert release.wait(TIMEOUT)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(editor_module, "lookup_term", slow_lookup)
    widget = editors(autosave=None)
    path = "image_acquisition.0.imaging_method"
    base = {"type": "lookup", "path": path, "ontology": ["fbbi"]}
    browser_sends(widget, base | {"text": "confocal", "seq": 1})
    browser_sends(widget, base | {"text": "light sheet", "seq": 2})
    answers = wait_for(lambda: [m for m in custom_messages(widget) if m["path"] == path])
    release.set()
    widget._executor.shutdown(wait=True)  # the slow lookup has finished, too
    answers = [m for m in custom_messages(widget) if m["path"] == path]
    assert [a["seq"] for a in answers] == [2]
    assert answers[0]["terms"][0]["label"] == "SPIM"


# -- autosave -----------------------------------------------------------------------------------


def test_autosave_is_atomic_and_a_restart_loses_nothing(comms, editors, tmp_path, monkeypatch):
    saved = tmp_path / "notebooks" / "form.json"
    replaced: list[tuple[str, str]] = []
    real_replace = os.replace

    def recording_replace(source: Any, target: Any) -> None:
        replaced.append((str(source), str(target)))
        real_replace(source, target)

    monkeypatch.setattr(editor_module.os, "replace", recording_replace)
    widget = editors(autosave=saved)
    browser_sets(widget, values={"title": "Mitosis", "author": [{"contact_email": "bad"}]})
    assert replaced, "the autosave must be written beside the file, then renamed over it"
    source, target = replaced[-1]
    assert target == str(saved)
    assert Path(source).parent == saved.parent
    assert not Path(source).exists()
    assert sorted(p.name for p in saved.parent.iterdir()) == ["form.json"]
    values, saved_at = read_autosave(saved)
    assert values == {"title": "Mitosis", "author": [{"contact_email": "bad"}]}
    assert saved_at == widget.saved_at
    assert sent_state(widget, "saved_at")

    # The kernel restarts: a new editor in the same notebook starts from the autosave,
    # invalid values included, even when the cell passes a study.
    widget.close()
    again = editors(Study(title="something else"), autosave=saved)
    assert again.values == values
    assert "restored the form from form.json" in again.message["text"]
    assert "author[0].contact_email" in {i["path"] for i in again.issues}


def test_a_failed_autosave_leaves_the_previous_file_whole(editors, tmp_path, monkeypatch):
    saved = tmp_path / "form.json"
    widget = editors(autosave=saved)
    widget.set_value("title", "first")
    before = saved.read_text()

    def broken_dump(obj: Any, handle: Any, **kwargs: Any) -> None:
        handle.write('{"format": "bioshare-metadata-form", "valu')
        raise OSError("disk full")

    monkeypatch.setattr(editor_module.json, "dump", broken_dump)
    widget.set_value("title", "second")
    assert saved.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["form.json"]
    assert widget.message["level"] == "error"
    assert "disk full" in widget.message["text"]


def test_an_unreadable_autosave_is_kept_aside(editors, tmp_path):
    saved = tmp_path / "form.json"
    saved.write_text("{not json")
    widget = editors(Study(title="from the cell"), autosave=saved)
    assert widget.values == {"title": "from the cell"}
    assert (tmp_path / "form.json.unreadable").read_text() == "{not json"
    assert "form.json.unreadable" in widget.message["text"]
    assert read_autosave(saved)[0] == {"title": "from the cell"}


def test_no_autosave(editors, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    widget = editors(autosave=None)
    widget.set_value("title", "x")
    assert list(tmp_path.iterdir()) == []
    assert widget.saved_at == ""
    widget.save(tmp_path / "copy.json")
    assert read_autosave(tmp_path / "copy.json")[0] == {"title": "x"}


# -- spreadsheets -------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["xlsx", "csv"])
def test_spreadsheet_export_and_import_round_trip(comms, editors, tmp_path, suffix):
    sheet = tmp_path / f"metadata.{suffix}"
    widget = editors(full_study(), autosave=None)
    browser_sends(widget, {"type": "export", "path": str(sheet)})
    assert sheet.is_file()
    assert widget.message == {"level": "info", "text": f"exported to {sheet}"}

    other = editors(autosave=None)
    browser_sends(other, {"type": "import", "path": str(sheet)})
    assert other.message == {"level": "info", "text": f"imported {sheet}"}
    assert other.study == widget.study
    assert other.ok is True
    assert sent_state(other, "values")[-1] == other.values  # the form was redrawn


def test_export_leaves_out_invalid_values_and_says_so(comms, editors, tmp_path):
    sheet = tmp_path / "metadata.xlsx"
    widget = editors(full_study(), autosave=None)
    widget.set_value("author[0].contact_email", "not an address")
    browser_sends(widget, {"type": "export", "path": str(sheet)})
    assert widget.message["level"] == "error"
    assert "author[0].contact_email" in widget.message["text"]
    assert Study.from_spreadsheet(sheet).author[0].contact_email is None


def test_import_problems_are_shown_not_raised(comms, editors, tmp_path):
    widget = editors(autosave=None)
    browser_sends(widget, {"type": "import", "path": str(tmp_path / "missing.xlsx")})
    assert widget.message["level"] == "error"
    assert "missing.xlsx" in widget.message["text"]
    browser_sends(widget, {"type": "export", "path": str(tmp_path / "metadata.docx")})
    assert widget.message["level"] == "error"
    assert ".docx" in widget.message["text"]
    browser_sends(widget, {"type": "import", "path": ""})
    assert "path" in widget.message["text"]
    with pytest.raises(FileNotFoundError):
        widget.import_spreadsheet(tmp_path / "missing.xlsx")


# -- the validated model ------------------------------------------------------------------------


def test_study_is_the_validated_model(editors):
    widget = editors(full_study(), autosave=None)
    study = widget.study
    assert isinstance(study, Study)
    assert study == full_study()
    assert study.biosample[0].organism_classification[0].curie == "NCBITaxon:9606"

    widget.set_value("author[0].contact_email", "ada.example.org")
    widget.set_value("release_date", "15/01/2025")
    with pytest.raises(MetadataError) as caught:
        widget.study  # noqa: B018
    message = str(caught.value)
    assert "2 invalid value(s)" in message
    assert "- author[0].contact_email: 'ada.example.org' is not an e-mail address" in message
    assert "release_date" in message

    widget.study = Study(title="replaced")
    assert widget.values == {"title": "replaced"}
    assert widget.study.title == "replaced"


def test_missing_fields_do_not_make_the_study_invalid(editors):
    widget = editors(autosave=None)
    widget.set_value("title", "Only a title")
    assert widget.study.title == "Only a title"
    assert not widget.report.ok
    assert any(i.path == "licence" for i in widget.report.missing_required)


# -- image data ---------------------------------------------------------------------------------


@pytest.fixture
def image(tmp_path: Path) -> Path:
    data = xr.DataArray(
        np.zeros((2, 3, 16, 20), dtype="uint16"),
        dims=("c", "z", "y", "x"),
        coords={
            "c": ["DAPI", "GFP"],
            "z": ("z", 2.0 * np.arange(3), {"units": "micrometer"}),
            "y": ("y", 0.5 * np.arange(16), {"units": "micrometer"}),
            "x": ("x", 0.5 * np.arange(20), {"units": "micrometer"}),
        },
    )
    path = tmp_path / "cells.ome.zarr"
    bioshare.write_image(data, path)
    return path


def test_image_data_is_harvested_from_the_opened_image(editors, image):
    widget = editors(full_study(), image=image, autosave=None)
    harvested = widget.values["study_component"][0]["image_data"]
    assert len(harvested) == 1
    data = harvested[0]
    assert data["file_path"] == "cells.ome.zarr"
    assert data["image_format"] == "OME-Zarr"
    assert data["dims"] == ["c", "z", "y", "x"]
    assert data["shape"] == [2, 3, 16, 20]
    assert data["channels"] == ["DAPI", "GFP"]
    assert data["physical_size"]["x"] == pytest.approx(0.5)
    assert widget.study.study_component[0].image_data[0].dtype == "uint16"
    assert widget.ok is True

    widget.add_image(image)  # the same image again replaces its entry
    assert len(widget.values["study_component"][0]["image_data"]) == 1


def test_image_data_without_a_study_and_a_bad_image(editors, image, tmp_path):
    widget = editors(image=image, autosave=None)
    assert widget.values["study_component"][0]["image_data"][0]["dims"] == ["c", "z", "y", "x"]
    bad = editors(image=tmp_path / "nothing.ome.zarr", autosave=None)
    assert bad.message["level"] == "error"
    assert "nothing.ome.zarr" in bad.message["text"]
    assert bad.values == {}


def test_harvested_image_data_survives_a_spreadsheet_import(editors, image, tmp_path):
    sheet = full_study().to_spreadsheet(tmp_path / "metadata.xlsx")
    widget = editors(image=image, autosave=None)
    widget.import_spreadsheet(sheet)
    assert widget.values["title"] == "Dividing nuclei in 3D"
    assert widget.values["study_component"][0]["image_data"][0]["file_path"] == "cells.ome.zarr"


def test_widget_state_is_plain_json(editors, image):
    widget = editors(full_study(), image=image, autosave=None)
    state = widget.get_state()
    json.dumps({k: v for k, v in state.items() if k not in ("_esm", "_css")})
    assert "editor-field-" in state["_esm"]  # the form's JavaScript, for browser tests
