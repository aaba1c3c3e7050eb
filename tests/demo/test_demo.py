"""The demo datasets: built offline, opened with bioshare, idempotent."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from skimage.color import rgb2hed

import bioshare
from bioshare.demo import DEMO_DATASETS, DEMO_VERSIONS, build_demo, main
from bioshare.demo.datasets import _build_plate, mitosis_arrays, plate_field
from bioshare.ngff import fetch_metadata

VERSIONS = ("0.4", "0.5")
UM = "micrometer"


@pytest.fixture(params=VERSIONS)
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def root(demo_dir: Path, version: str) -> Path:
    return demo_dir / f"v{version}"


def _files(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` with its modification time in nanoseconds."""
    found = {}
    for directory, _, names in os.walk(folder):
        for name in names:
            path = Path(directory, name)
            found[str(path.relative_to(folder))] = path.stat().st_mtime_ns
    return found


def _raw_attrs(path: Path, version: str) -> dict:
    """A group's attributes straight from disk, checking the Zarr format of the version."""
    if version == "0.5":
        assert not (path / ".zattrs").exists()
        document = json.loads((path / "zarr.json").read_text())
        assert document["zarr_format"] == 3
        assert document["node_type"] == "group"
        return document["attributes"]
    assert not (path / "zarr.json").exists()
    assert json.loads((path / ".zgroup").read_text()) == {"zarr_format": 2}
    return json.loads((path / ".zattrs").read_text())


def _ngff(attrs: dict, version: str) -> dict:
    if version == "0.5":
        assert attrs["ome"]["version"] == "0.5"
        return attrs["ome"]
    return attrs


# -- the build ------------------------------------------------------------------------------


def test_builds_every_dataset_in_both_versions(demo_dir):
    assert DEMO_VERSIONS == VERSIONS
    assert sorted(p.name for p in demo_dir.iterdir()) == ["v0.4", "v0.5"]
    for version in VERSIONS:
        folder = demo_dir / f"v{version}"
        assert sorted(p.name for p in folder.iterdir()) == sorted(DEMO_DATASETS)


def test_no_staging_folders_left(demo_dir):
    leftovers = [p for p in demo_dir.rglob("*") if ".tmp-" in p.name or ".old-" in p.name]
    assert leftovers == []


def test_demo_datasets_describe_each_in_one_line():
    assert list(DEMO_DATASETS) == [
        "ihc.ome.zarr",
        "cells.ome.zarr",
        "mitosis.ome.zarr",
        "plate.ome.zarr",
    ]
    for description in DEMO_DATASETS.values():
        assert description
        assert "\n" not in description


@pytest.mark.parametrize("name", list(DEMO_DATASETS))
def test_every_dataset_has_bioshare_metadata(root, version, name):
    metadata = _raw_attrs(root / name, version)["bioshare"]
    assert {"title", "description", "license", "source"} <= set(metadata)
    assert all(isinstance(metadata[k], str) and metadata[k] for k in ("title", "description"))
    expected_license = {
        "ihc.ome.zarr": "No known copyright restrictions",
        "cells.ome.zarr": "CC0-1.0",
    }.get(name, "CC-BY-4.0")
    assert metadata["license"] == expected_license
    assert fetch_metadata(root / name).zarr_format == (3 if version == "0.5" else 2)


def test_second_build_is_fast_and_changes_nothing(demo_dir):
    before = _files(demo_dir)
    started = time.perf_counter()
    paths = build_demo(demo_dir)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0
    assert _files(demo_dir) == before
    assert paths == [demo_dir / f"v{v}" / name for v in VERSIONS for name in DEMO_DATASETS]


def test_main_reports_the_datasets(demo_dir, capsys):
    assert main([str(demo_dir)]) == 0
    out = capsys.readouterr().out
    assert str(demo_dir / "v0.5" / "mitosis.ome.zarr") in out
    assert "8 datasets ready" in out


def test_unknown_version_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"0\.3"):
        build_demo(tmp_path, versions=("0.3",))
    assert list(tmp_path.iterdir()) == []


def test_overwrite_replaces_a_dataset_atomically(tmp_path):
    path = tmp_path / "plate.ome.zarr"
    _build_plate(path, "0.5")
    (path / "stale").write_text("from an older build")
    _build_plate(path, "0.5")
    assert not (path / "stale").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plate.ome.zarr"]
    assert len(bioshare.open_plate(path).leaves) == 12


# -- ihc ------------------------------------------------------------------------------------


def test_ihc(root, version):
    image = bioshare.open_image(root / "ihc.ome.zarr")
    assert image.dims == ("c", "y", "x")
    assert image.shape == (3, 512, 512)
    assert image.dtype == np.uint16
    assert list(image.c.values) == ["Hematoxylin", "Eosin", "DAB"]
    assert image.attrs["ngff_version"] == version
    assert image.attrs["units"] == {"y": UM, "x": UM}
    np.testing.assert_allclose(image.x.values[:3], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(image.y.values[-1], 0.5 * 511)
    assert len(image.attrs["channel_colors"]) == 3
    stains = rgb2hed(skimage.data.immunohistochemistry())
    values = image.values
    for i in range(3):
        assert values[i].max() == 65535
        # Rescaled linearly from zero optical density: the order of pixels is kept.
        expected = np.round(stains[..., i] / stains[..., i].max() * 65535)
        np.testing.assert_allclose(values[i], expected, atol=1)
    tree = bioshare.open_multiscales(root / "ihc.ome.zarr")
    assert [tuple(tree[p]["image"].shape) for p in ("0", "1", "2")] == [
        (3, 512, 512),
        (3, 256, 256),
        (3, 128, 128),
    ]


# -- cells ------------------------------------------------------------------------------------


def test_cells(root, version):
    image = bioshare.open_image(root / "cells.ome.zarr")
    assert image.dims == ("y", "x")
    assert image.shape == (660, 550)
    np.testing.assert_array_equal(image.values, skimage.data.cell())
    assert image.attrs["units"] == {"y": UM, "x": UM}
    np.testing.assert_allclose(image.x.values[1] - image.x.values[0], 0.107)
    assert image.attrs["ngff_version"] == version
    assert len(bioshare.open_multiscales(root / "cells.ome.zarr").children) == 3


# -- mitosis ----------------------------------------------------------------------------------


def test_mitosis_image(root, version):
    image = bioshare.open_image(root / "mitosis.ome.zarr")
    assert image.dims == ("t", "c", "z", "y", "x")
    assert image.shape == (4, 2, 16, 256, 256)
    assert image.dtype == np.uint16
    assert list(image.c.values) == ["Nuclei", "Membrane"]
    assert image.attrs["units"] == {"t": "minute", "z": UM, "y": UM, "x": UM}
    np.testing.assert_allclose(image.t.values, [0, 10, 20, 30])
    np.testing.assert_allclose(image.z.values[:2], [0.0, 1.0])
    np.testing.assert_allclose(image.x.values[:2], [0.0, 0.25])
    assert image.attrs["channel_colors"] == ["00FF00", "FF00FF"]
    expected, _, _ = mitosis_arrays()
    np.testing.assert_array_equal(image.values, expected)


def test_mitosis_labels(root, version):
    tree = bioshare.open_multiscales(root / "mitosis.ome.zarr", labels=True)
    assert sorted(tree.children) == ["0", "1", "2", "labels"]
    assert list(tree["labels"].children) == ["nuclei"]
    nuclei = tree["labels/nuclei"]
    assert sorted(nuclei.children) == ["0", "1", "2"]
    labels = nuclei["0/image"]
    assert labels.dims == ("t", "z", "y", "x")
    assert labels.shape == (4, 16, 256, 256)
    assert np.issubdtype(labels.dtype, np.integer)
    np.testing.assert_allclose(labels.x.values, tree["0/image"].x.values)
    np.testing.assert_allclose(labels.t.values, tree["0/image"].t.values)
    values = labels.values
    present = [set(np.unique(values[t]).tolist()) for t in range(4)]
    assert present[0] == set(range(9))  # eight nuclei
    assert {1, 2}.isdisjoint(present[3])  # the two mothers have divided ...
    assert {9, 10, 11, 12} <= present[3]  # ... into four daughters
    # The labels sit on the bright nuclei.
    image = tree["0/image"].sel(c="Nuclei").values
    assert image[values > 0].mean() > 5 * image[values == 0].mean()
    # Nearest-neighbour levels: never a value that level 0 does not have.
    assert set(np.unique(nuclei["2/image"].values)) <= set(np.unique(values))

    image_label = nuclei.attrs["image_label"]
    colored = {c["label-value"] for c in image_label["colors"]}
    assert colored == set(range(1, 13))
    assert all(len(c["rgba"]) == 4 for c in image_label["colors"])
    properties = {p["label-value"]: p for p in image_label["properties"]}
    assert set(properties) == set(range(1, 13))
    assert {p["class"] for p in properties.values()} == {"nucleus"}
    assert {properties[v]["parent"] for v in (9, 10, 11, 12)} == {1, 2}
    assert image_label["source"] == {"image": "../../"}
    if version == "0.4":
        assert image_label["version"] == "0.4"


def test_mitosis_is_deterministic():
    first, second = mitosis_arrays(), mitosis_arrays()
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert first[2] == second[2]


# -- plate ----------------------------------------------------------------------------------


def test_plate_structure(root, version):
    plate = bioshare.open_plate(root / "plate.ome.zarr")
    wells = [f"{r}/{c}" for r in "AB" for c in "123"]
    assert sorted(plate.children) == ["A", "B"]
    for well in wells:
        assert sorted(plate[well].children) == ["0", "1"]
    fields = [node for node in plate.subtree if "image" in node.dataset]
    assert len(fields) == 12
    for node in fields:
        image = node["image"]
        assert image.dims == ("c", "y", "x")
        assert image.shape == (2, 128, 128)
        assert image.dtype == np.uint16
        assert list(image.c.values) == ["Nuclei", "Membrane"]
        assert image.attrs["units"] == {"y": UM, "x": UM}
        assert image.attrs["ngff_version"] == version
    np.testing.assert_array_equal(plate["B/3/1/image"].values, plate_field(1, 2, 1))
    field = bioshare.open_multiscales(root / "plate.ome.zarr" / "A" / "2" / "0")
    assert [tuple(field[p]["image"].shape) for p in ("0", "1")] == [(2, 128, 128), (2, 64, 64)]


def test_plate_metadata_follows_the_spec(root, version):
    path = root / "plate.ome.zarr"
    plate = _ngff(_raw_attrs(path, version), version)["plate"]
    assert plate["rows"] == [{"name": "A"}, {"name": "B"}]
    assert plate["columns"] == [{"name": "1"}, {"name": "2"}, {"name": "3"}]
    assert plate["wells"] == [
        {"path": f"{r}/{c}", "rowIndex": i, "columnIndex": j}
        for i, r in enumerate("AB")
        for j, c in enumerate("123")
    ]
    assert plate["field_count"] == 2
    assert isinstance(plate["name"], str)
    assert [a["id"] for a in plate["acquisitions"]] == [0]
    assert ("version" in plate) == (version == "0.4")
    if version == "0.4":
        assert plate["version"] == "0.4"
    for well_entry in plate["wells"]:
        well_path = path / well_entry["path"]
        well = _ngff(_raw_attrs(well_path, version), version)["well"]
        assert well["images"] == [{"path": "0", "acquisition": 0}, {"path": "1", "acquisition": 0}]
        assert ("version" in well) == (version == "0.4")
        for image in well["images"]:
            field = _ngff(_raw_attrs(well_path / image["path"], version), version)
            assert "multiscales" in field
    for row in "AB":  # row groups are plain groups
        assert "plate" not in _raw_attrs(path / row, version).get("ome", {})
