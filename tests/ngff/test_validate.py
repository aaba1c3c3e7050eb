"""Validation of OME-NGFF 0.4 and 0.5 metadata: schemas and the rules they miss."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

import bioshare
from bioshare.cli import main
from bioshare.errors import MetadataError
from bioshare.ngff.validate import validate

REFERENCE = Path(__file__).resolve().parent / "data"  # the spec examples from the NGFF docs


def image_04() -> dict:
    return {
        "multiscales": [
            {
                "version": "0.4",
                "name": "img",
                "axes": [
                    {"name": "c", "type": "channel"},
                    {"name": "y", "type": "space", "unit": "micrometer"},
                    {"name": "x", "type": "space", "unit": "micrometer"},
                ],
                "datasets": [
                    {
                        "path": "0",
                        "coordinateTransformations": [{"type": "scale", "scale": [1, 0.5, 0.5]}],
                    },
                    {
                        "path": "1",
                        "coordinateTransformations": [{"type": "scale", "scale": [1, 1, 1]}],
                    },
                ],
            }
        ],
        "omero": {
            "channels": [
                {
                    "color": "00FF00",
                    "label": "GFP",
                    "window": {"min": 0, "max": 65535, "start": 0, "end": 4000},
                }
            ]
        },
    }


def image_05() -> dict:
    attrs = image_04()
    multiscales = attrs.pop("multiscales")
    del multiscales[0]["version"]
    return {"ome": {"version": "0.5", "multiscales": multiscales, "omero": attrs["omero"]}}


ARRAYS = {
    "0": {"shape": [1, 64, 64], "dtype": "uint16", "dimension_names": ["c", "y", "x"]},
    "1": {"shape": [1, 32, 32], "dtype": "uint16", "dimension_names": ["c", "y", "x"]},
}


def rules(report) -> set[tuple[str, str, str]]:
    return {(i.rule, i.severity, i.path) for i in (*report.errors, *report.warnings)}


@pytest.mark.parametrize("make", [image_04, image_05])
def test_good_images(make):
    report = validate(make(), arrays=ARRAYS)
    assert report.ok, report.to_text()
    assert report.warnings == []
    assert report.kind == "image"


def test_reference_documents_are_valid():
    assert validate(json.loads((REFERENCE / "min04_zattrs.json").read_text())).ok
    assert validate(json.loads((REFERENCE / "min05_attributes.json").read_text())).ok


def test_a_whole_zarr_json_document():
    document = {"zarr_format": 3, "node_type": "group", "attributes": image_05()}
    report = validate(document)
    assert report.ok
    assert report.version == "0.5"


def test_schema_errors_have_json_paths():
    attrs = image_05()
    attrs["ome"]["multiscales"][0]["datasets"][0]["path"] = 7
    attrs["ome"]["multiscales"][0]["axes"][0]["type"] = 3
    report = validate(attrs)
    schema = {(i.path, i.rule) for i in report.errors}
    assert ("$.ome.multiscales[0].datasets[0].path", "schema") in schema
    assert ("$.ome.multiscales[0].axes[0]", "schema") in schema


def test_strict_requires_name_type_metadata():
    attrs = image_04()
    del attrs["multiscales"][0]["name"]
    assert validate(attrs).ok
    report = validate(attrs, strict=True)
    messages = {i.message for i in report.errors}
    assert {
        "'name' is a required property",
        "'type' is a required property",
        "'metadata' is a required property",
    } <= messages


@pytest.mark.parametrize(
    ("change", "rule", "severity", "path"),
    [
        (lambda ms: ms["axes"].reverse(), "axis-order", "error", "$.multiscales[0].axes"),
        (
            lambda ms: ms["axes"][1].update(unit="microns"),
            "unit",
            "warning",
            "$.multiscales[0].axes[1].unit",
        ),
        (lambda ms: ms["axes"][1].pop("unit"), "unit", "warning", "$.multiscales[0].axes[1]"),
        (
            lambda ms: ms["axes"][2].update(type="channel"),
            "axis-count",
            "error",
            "$.multiscales[0].axes",
        ),
        (lambda ms: ms["axes"][2].update(name="y"), "axis-names", "error", "$.multiscales[0].axes"),
        (
            lambda ms: ms["axes"].insert(1, ms["axes"].pop(2)),  # c, x, y
            "axis-order",
            "warning",
            "$.multiscales[0].axes",
        ),
        (
            lambda ms: (
                ms["datasets"][0]["coordinateTransformations"].reverse()
                or ms["datasets"][0]["coordinateTransformations"].insert(
                    0, {"type": "translation", "translation": [0, 0, 0]}
                )
            ),
            "transform-order",
            "error",
            "$.multiscales[0].datasets[0].coordinateTransformations",
        ),
        (
            lambda ms: ms["datasets"][1]["coordinateTransformations"][0].update(
                scale=[1, 0.25, 0.25]
            ),
            "levels-shrink",
            "error",
            "$.multiscales[0].datasets[1].coordinateTransformations",
        ),
        (
            lambda ms: ms["datasets"][0]["coordinateTransformations"][0].update(scale=[1, 0.5]),
            "transform-length",
            "error",
            "$.multiscales[0].datasets[0].coordinateTransformations[0].scale",
        ),
        (
            lambda ms: ms["datasets"][0]["coordinateTransformations"][0].update(scale=[1, 0, 0.5]),
            "scale-positive",
            "error",
            "$.multiscales[0].datasets[0].coordinateTransformations[0].scale",
        ),
    ],
)
def test_rules_the_schemas_miss(change, rule, severity, path):
    attrs = image_04()
    change(attrs["multiscales"][0])
    report = validate(attrs)
    assert (rule, severity, path) in rules(report), report.to_text()


def test_unit_suggestion():
    attrs = image_04()
    attrs["multiscales"][0]["axes"][1]["unit"] = "microns"
    (issue,) = [i for i in validate(attrs).warnings if i.rule == "unit"]
    assert issue.message == (
        "unit 'microns' is not a UDUNITS-2 space unit from the spec's list; "
        "did you mean 'micrometer'?"
    )


@pytest.mark.parametrize(
    ("arrays", "rule", "fragment"),
    [
        ({**ARRAYS, "0": {**ARRAYS["0"], "shape": [64, 64]}}, "shape-axes", "has 2 dimensions"),
        (
            {**ARRAYS, "0": {**ARRAYS["0"], "dimension_names": ["c", "x", "y"]}},
            "dimension-names",
            "dimension_names ['c', 'x', 'y']",
        ),
        (
            {**ARRAYS, "0": {**ARRAYS["0"], "dimension_names": None}},
            "dimension-names",
            "has no dimension_names",
        ),
        ({"0": ARRAYS["0"]}, "array-missing", "dataset '1' has no array"),
        (
            {**ARRAYS, "1": {**ARRAYS["1"], "shape": [1, 128, 128]}},
            "levels-shrink",
            "larger than the previous level's",
        ),
    ],
)
def test_array_rules(arrays, rule, fragment):
    report = validate(image_05(), arrays=arrays)
    assert any(i.rule == rule and fragment in i.message for i in report.errors), report.to_text()


def test_dimension_names_are_not_asked_of_04():
    arrays = {p: {**a, "dimension_names": None} for p, a in ARRAYS.items()}
    assert validate(image_04(), arrays=arrays).ok


def test_omero_rules():
    attrs = image_05()
    channel = attrs["ome"]["omero"]["channels"][0]
    channel["color"] = "green"
    del channel["window"]["end"]
    arrays = {p: {**a, "shape": [2, *a["shape"][1:]]} for p, a in ARRAYS.items()}
    report = validate(attrs, arrays=arrays)
    found = rules(report)
    assert ("omero", "error", "$.ome.omero.channels[0].color") in found
    assert ("omero", "error", "$.ome.omero.channels[0].window") in found
    assert ("omero", "warning", "$.ome.omero.channels") in found


def label_image() -> dict:
    attrs = image_04()
    attrs["multiscales"][0]["axes"] = attrs["multiscales"][0]["axes"][1:]
    for ds in attrs["multiscales"][0]["datasets"]:
        ds["coordinateTransformations"][0]["scale"] = ds["coordinateTransformations"][0]["scale"][
            1:
        ]
    del attrs["omero"]
    attrs["image-label"] = {
        "version": "0.4",
        "colors": [{"label-value": 1, "rgba": [255, 0, 0, 255]}],
        "source": {"image": "../../"},
    }
    return attrs


def test_label_images():
    arrays = {
        "0": {"shape": [64, 64], "dtype": "uint8"},
        "1": {"shape": [32, 32], "dtype": "uint8"},
    }
    report = validate(label_image(), arrays=arrays)
    assert report.ok, report.to_text()
    assert report.kind == "label"
    floats = {p: {**a, "dtype": "float32"} for p, a in arrays.items()}
    assert "label-dtype" in {i.rule for i in validate(label_image(), arrays=floats).errors}
    bad = label_image()
    bad["image-label"]["colors"] += [{"label-value": 1, "rgba": [0, 0, 300, 1]}]
    found = rules(validate(bad))
    assert ("image-label", "error", "$.image-label.colors[1].label-value") in found
    assert ("image-label", "error", "$.image-label.colors[1].rgba") in found


def plate() -> dict:
    return {
        "plate": {
            "version": "0.4",
            "name": "p",
            "rows": [{"name": "A"}, {"name": "B"}],
            "columns": [{"name": "1"}],
            "wells": [
                {"path": "A/1", "rowIndex": 0, "columnIndex": 0},
                {"path": "B/1", "rowIndex": 1, "columnIndex": 0},
            ],
        }
    }


def test_plates_and_wells():
    assert validate(plate()).ok
    assert validate({"well": {"version": "0.4", "images": [{"path": "0"}]}}).ok
    bad = plate()
    bad["plate"]["wells"][1]["path"] = "A/1"
    bad["plate"]["wells"].append({"path": "C/1", "rowIndex": 5, "columnIndex": 0})
    found = rules(validate(bad))
    assert ("plate", "error", "$.plate.wells[1].path") in found
    assert ("plate", "error", "$.plate.wells[2].rowIndex") in found


def test_bioformats2raw_05():
    report = validate({"ome": {"version": "0.5", "bioformats2raw.layout": 3}})
    assert report.ok
    assert report.kind == "bioformats2raw"
    assert not validate({"ome": {"version": "0.5", "bioformats2raw.layout": 2}}).ok


def test_no_metadata_and_unknown_versions():
    report = validate({"hello": 1})
    assert report.errors[0].rule == "kind"
    assert "no OME-NGFF metadata found" in report.errors[0].message
    attrs = image_05()
    attrs["ome"]["version"] = "0.6"
    (issue,) = validate(attrs).errors
    assert issue.rule == "version"
    assert "'0.6' cannot be validated; expected one of 0.4, 0.5" in issue.message


def test_05_metadata_at_the_top_level_is_reported():
    attrs = image_04()
    attrs["multiscales"][0]["version"] = "0.5"
    assert "layout" in {i.rule for i in validate(attrs).errors}


def test_report_outputs():
    attrs = image_04()
    attrs["multiscales"][0]["axes"].reverse()
    report = validate(attrs)
    assert not report
    text = report.to_text()
    assert text.startswith("metadata: OME-NGFF 0.4 image: ")
    assert "error   $.multiscales[0].axes: axis order" in text
    document = report.to_dict()
    assert document["ok"] is False
    assert document["errors"][0]["rule"] in {"axis-order", "axis-count"}
    assert "<table>" in report._repr_html_()
    with pytest.raises(MetadataError, match=r"metadata is not valid OME-NGFF: \$\.multiscales"):
        report.raise_for_errors()


def test_validate_written_images(written, ngff_version):
    report = bioshare.validate(written[ngff_version], strict=True)
    assert report.ok, report.to_text()
    assert report.source == str(written[ngff_version])
    labels = bioshare.validate(written[ngff_version] / "labels" / "nuclei", strict=True)
    assert labels.ok, labels.to_text()
    assert labels.kind == "label"


def test_validate_finds_array_problems_on_disk(written, tmp_path):
    import shutil

    path = tmp_path / "broken.zarr"
    shutil.copytree(written["0.5"], path)
    level = json.loads((path / "1" / "zarr.json").read_text())
    level["dimension_names"] = ["t", "c", "z", "x", "y"]
    (path / "1" / "zarr.json").write_text(json.dumps(level))
    report = bioshare.validate(path)
    assert [i.rule for i in report.errors] == ["dimension-names"]


def test_cli(written, capsys):
    assert main(["validate", str(written["0.4"])]) == 0
    assert "valid" in capsys.readouterr().out
    attrs_path = written["0.4"] / ".zattrs"
    broken = copy.deepcopy(json.loads(attrs_path.read_text()))
    broken["multiscales"][0]["axes"].reverse()
    target = written["0.4"].parent / "cli-broken.zarr"
    import shutil

    shutil.copytree(written["0.4"], target)
    (target / ".zattrs").write_text(json.dumps(broken))
    assert main(["validate", str(target), "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is False
