"""Packing OME-Zarr into one streamable zip, and the publishing journal."""

from __future__ import annotations

import hashlib
import zipfile

import numpy as np
import pytest
import xarray as xr

import bioshare
from bioshare.publishing.journal import Journal, journal_path
from bioshare.publishing.package import file_md5, is_ome_zarr, zip_ome_zarr


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    data = np.arange(2 * 4 * 64 * 64, dtype="uint16").reshape(2, 4, 64, 64)
    image = xr.DataArray(data, dims=("c", "z", "y", "x"))
    path = tmp_path_factory.mktemp("pack") / "cells.ome.zarr"
    bioshare.write_image(image, path, chunks={"y": 32, "x": 32}, ngff_version="0.4")
    return path


def test_zip_is_uncompressed_metadata_first_and_reads_back(image_dir, tmp_path):
    seen = []
    packed = zip_ome_zarr(image_dir, tmp_path / "cells.ome.zarr.zip", progress=seen.append)
    assert packed.name == "cells.ome.zarr.zip"
    assert packed.size == packed.path.stat().st_size
    assert packed.md5 == hashlib.md5(packed.path.read_bytes()).hexdigest()
    files = [p for p in image_dir.rglob("*") if p.is_file()]
    assert sum(seen) == sum(p.stat().st_size for p in files)
    with zipfile.ZipFile(packed.path) as archive:
        infos = archive.infolist()
    assert all(info.compress_type == zipfile.ZIP_STORED for info in infos)
    names = [info.filename for info in infos]
    assert names[:2] == [".zattrs", ".zgroup"]
    metadata = [n for n in names if n.rsplit("/", 1)[-1] in {".zattrs", ".zgroup", ".zarray"}]
    assert names[: len(metadata)] == metadata  # every metadata document before any chunk
    xr.testing.assert_equal(bioshare.open_image(packed.path), bioshare.open_image(image_dir))


def test_zips_are_reproducible(image_dir, tmp_path):
    first = zip_ome_zarr(image_dir, tmp_path / "a.zip")
    second = zip_ome_zarr(image_dir, tmp_path / "b.zip")
    assert first.md5 == second.md5


def test_a_failure_leaves_no_partial_zip(image_dir, tmp_path, monkeypatch):
    import bioshare.publishing.package as module

    calls = {"n": 0}
    original = module._add

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError("disk full")
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "_add", failing)
    with pytest.raises(OSError, match="disk full"):
        zip_ome_zarr(image_dir, tmp_path / "x.zip")
    assert list(tmp_path.iterdir()) == []


def test_helpers(image_dir, tmp_path):
    assert is_ome_zarr(image_dir)
    assert not is_ome_zarr(tmp_path)
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 3_000_000)
    assert file_md5(path) == hashlib.md5(b"x" * 3_000_000).hexdigest()


def test_journal_round_trip_and_atomic_save(tmp_path):
    path = journal_path("zenodo", "https://sandbox.zenodo.org", tmp_path)
    assert path.parent.name == "publish"
    journal = Journal.load(path)
    assert journal.state == "new"
    journal.target, journal.record_id, journal.state = "zenodo", "123", "draft"
    journal.file_done("a.zip", 10, "abc")
    again = Journal.load(path)
    assert again.record_id == "123"
    assert again.is_done("a.zip", "abc")
    assert not again.is_done("a.zip", "other")
    assert not [p for p in path.parent.iterdir() if p.suffix == ".tmp"]
    path.write_text("{broken")
    assert Journal.load(path).state == "new"
    again.forget()
    assert not path.exists()
