"""Image Data harvested from OME-Zarr, and studies stored inside OME-Zarr."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

import bioshare
from bioshare.errors import MetadataError, WriteError
from bioshare.metadata import Study, describe_image
from bioshare.metadata.omezarr import read_study, write_study
from bioshare.server import BackgroundServer


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("describe")
    image = xr.DataArray(
        np.zeros((2, 3, 32, 40), dtype="uint16"),
        dims=("c", "z", "y", "x"),
        coords={
            "c": ["DAPI", "GFP"],
            "z": ("z", 2.0 * np.arange(3), {"units": "micrometer"}),
            "y": ("y", 0.5 * np.arange(32), {"units": "micrometer"}),
            "x": ("x", 0.5 * np.arange(40), {"units": "micrometer"}),
        },
    )
    paths = {version: root / f"cells-{version}.ome.zarr" for version in ("0.4", "0.5")}
    for version, path in paths.items():
        bioshare.write_image(image, path, ngff_version=version)
    return paths


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_describe_image(images, version):
    data = describe_image(images[version])
    assert data.image_format == "OME-Zarr"
    assert data.ngff_version == version
    assert data.dims == ["c", "z", "y", "x"]
    assert data.shape == [2, 3, 32, 40]
    assert data.dtype == "uint16"
    assert data.physical_size == {"z": 2.0, "y": 0.5, "x": 0.5}
    assert data.units == {"z": "micrometer", "y": "micrometer", "x": "micrometer"}
    assert data.channels == ["DAPI", "GFP"]
    assert data.levels >= 1
    assert data.total_size_in_bytes > 0
    assert data.uncompressed_size_in_bytes == 2 * 3 * 32 * 40 * 2
    assert data.file_path == f"cells-{version}.ome.zarr"


def test_describe_a_remote_image(images):
    folder = images["0.5"].parent
    with BackgroundServer(folder) as server:
        data = describe_image(f"{server.url}/cells-0.5.ome.zarr")
    assert data.shape == [2, 3, 32, 40]
    assert data.channels == ["DAPI", "GFP"]


def _study() -> Study:
    return Study(
        title="Cells",
        licence="CC0",
        keyword=["cells"],
        biosample=[{"title": "HeLa", "organism_classification": ["Homo sapiens"]}],
    )


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_study_is_stored_beside_the_ngff_metadata(images, version, tmp_path):
    import shutil

    path = shutil.copytree(images[version], tmp_path / "copy.ome.zarr")
    document = path / ("zarr.json" if version == "0.5" else ".zattrs")
    before = json.loads(document.read_text())
    study = _study()
    assert write_study(study, path) == document
    after = json.loads(document.read_text())
    attributes = after["attributes"] if version == "0.5" else after
    original = before["attributes"] if version == "0.5" else before
    for key, value in original.items():  # ome / multiscales untouched
        if key != "bioshare":
            assert attributes[key] == value
    assert attributes["bioshare"]["study"]["title"] == "Cells"
    assert read_study(path) == study
    reopened, original_image = bioshare.open_image(path), bioshare.open_image(images[version])
    xr.testing.assert_equal(reopened, original_image)
    assert reopened.attrs.keys() == original_image.attrs.keys()
    assert not [p for p in path.iterdir() if p.name.endswith(".tmp")]


def test_other_bioshare_keys_are_kept(images, tmp_path):
    import shutil

    path = shutil.copytree(images["0.5"], tmp_path / "copy.ome.zarr")
    document = path / "zarr.json"
    data = json.loads(document.read_text())
    data["attributes"]["bioshare"] = {"custom": "kept", "study": {"title": "old"}}
    document.write_text(json.dumps(data))
    write_study(_study(), path)
    section = json.loads(document.read_text())["attributes"]["bioshare"]
    assert section["custom"] == "kept"
    assert section["study"]["title"] == "Cells"
    assert section["title"] == "Cells"  # listed by bioshare serve
    assert section["license"] == "https://creativecommons.org/publicdomain/zero/1.0/"


def test_a_failed_write_leaves_the_document_intact(images, tmp_path, monkeypatch):
    import shutil

    import bioshare.metadata.omezarr as module

    path = shutil.copytree(images["0.5"], tmp_path / "copy.ome.zarr")
    before = (path / "zarr.json").read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(module.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_study(_study(), path)
    assert (path / "zarr.json").read_bytes() == before
    assert sorted(p.name for p in path.iterdir()) == sorted(p.name for p in images["0.5"].iterdir())


def test_read_study_over_http_and_errors(images, tmp_path):
    import shutil

    path = shutil.copytree(images["0.4"], tmp_path / "served" / "cells.ome.zarr")
    with BackgroundServer(path.parent) as server:
        url = f"{server.url}/cells.ome.zarr"
        with pytest.raises(MetadataError, match="holds no bioshare study metadata"):
            read_study(url)
        write_study(_study(), path)
        assert read_study(url).title == "Cells"
        with pytest.raises(WriteError, match="only local OME-Zarr folders are written"):
            write_study(_study(), url)
    with pytest.raises(MetadataError, match="is not a local OME-Zarr group"):
        write_study(_study(), tmp_path)
