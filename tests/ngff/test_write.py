"""Writing OME-Zarr: round trips, pyramids, chunks, labels, atomicity and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from ngff_samples import sample_image, sample_labels

import bioshare
from bioshare.errors import WriteError


def _assert_round_trip(original: xr.DataArray, opened: xr.DataArray) -> None:
    assert opened.dims == original.dims
    np.testing.assert_array_equal(opened.values, original.values)
    for name, coord in original.coords.items():
        if coord.dtype.kind in "fi":
            np.testing.assert_allclose(opened[name].values, coord.values)
        else:
            np.testing.assert_array_equal(opened[name].values, coord.values)
        assert opened[name].attrs.get("units") == coord.attrs.get("units")


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_round_trip(tmp_path, version):
    image = sample_image()
    path = bioshare.write_image(image, tmp_path / "rt.ome.zarr", ngff_version=version)
    opened = bioshare.open_image(path)
    _assert_round_trip(image, opened)
    assert opened.name == image.name
    assert opened.attrs["channel_colors"] == image.attrs["channel_colors"]


def test_round_trip_of_what_was_opened(tmp_path, written):
    first = bioshare.open_image(written["0.4"])
    path = bioshare.write_image(first, tmp_path / "again.zarr", ngff_version="0.5")
    again = bioshare.open_image(path)
    _assert_round_trip(first, again)
    assert again.attrs["channel_windows"] == first.attrs["channel_windows"]


def test_metadata_on_disk_0_5(tmp_path):
    path = Path(bioshare.write_image(sample_image(), tmp_path / "a.zarr", metadata={"title": "T"}))
    root = json.loads((path / "zarr.json").read_text())
    ome = root["attributes"]["ome"]
    assert ome["version"] == "0.5"
    assert [a["name"] for a in ome["multiscales"][0]["axes"]] == ["t", "c", "z", "y", "x"]
    assert [a.get("type") for a in ome["multiscales"][0]["axes"]] == [
        "time",
        "channel",
        "space",
        "space",
        "space",
    ]
    assert [c["label"] for c in ome["omero"]["channels"]] == ["DAPI", "GFP"]
    assert root["attributes"]["bioshare"] == {"title": "T"}
    level0 = json.loads((path / "0" / "zarr.json").read_text())
    assert level0["dimension_names"] == ["t", "c", "z", "y", "x"]
    transforms = ome["multiscales"][0]["datasets"][0]["coordinateTransformations"]
    assert transforms == [
        {"type": "scale", "scale": [30.0, 1.0, 2.0, 0.5, 0.5]},
        {"type": "translation", "translation": [0.0, 0.0, 1.0, 10.0, 0.0]},
    ]


def test_metadata_on_disk_0_4(tmp_path):
    path = Path(bioshare.write_image(sample_image(), tmp_path / "a.zarr", ngff_version="0.4"))
    attrs = json.loads((path / ".zattrs").read_text())
    assert attrs["multiscales"][0]["version"] == "0.4"
    array = json.loads((path / "0" / ".zarray").read_text())
    assert array["dimension_separator"] == "/"
    assert (path / "0" / "0" / "0" / "0" / "0" / "0").is_file()  # nested chunk keys


def test_pyramid_mean_and_translation(tmp_path):
    data = np.arange(64, dtype=np.uint16).reshape(8, 8)
    image = xr.DataArray(data, dims=("y", "x"), coords={"y": np.arange(8.0), "x": np.arange(8.0)})
    path = bioshare.write_image(image, tmp_path / "p.zarr", chunks=(2, 2))
    tree = bioshare.open_multiscales(path)
    assert list(tree.children) == ["0", "1", "2"]
    level1 = tree["1"]["image"]
    expected = [np.round(data[:2, :2].mean()), np.round(data[:2, 2:4].mean())]
    np.testing.assert_array_equal(level1.values[0, :2], expected)
    np.testing.assert_allclose(level1.x.values, [0.5, 2.5, 4.5, 6.5])
    np.testing.assert_allclose(tree["2"]["image"].x.values, [1.5, 5.5])


def test_odd_sizes_keep_every_pixel(tmp_path):
    image = xr.DataArray(np.ones((5, 7), dtype=np.float32), dims=("y", "x"))
    tree = bioshare.open_multiscales(bioshare.write_image(image, tmp_path / "o.zarr", levels=3))
    assert [tree[p]["image"].shape for p in tree.children] == [(5, 7), (3, 4), (2, 2)]
    assert float(tree["2"]["image"].min()) == 1.0  # padding never leaks into the mean


def test_labels_use_nearest_values(tmp_path):
    image = sample_image()
    labels = sample_labels(image)
    path = bioshare.write_image(image, tmp_path / "l.zarr", labels={"nuclei": labels})
    tree = bioshare.open_multiscales(path, labels=True)
    for level in tree["labels/nuclei"].children.values():
        assert set(np.unique(level["image"].values)) <= {0, 7}


def test_default_chunks_are_about_one_mebibyte(tmp_path):
    image = xr.DataArray(
        da.zeros((3, 2048, 2048), dtype=np.uint16, chunks=(1, 1024, 1024)), dims=("c", "y", "x")
    )
    path = bioshare.write_image(image, tmp_path / "big.zarr")
    chunks = bioshare.open_image(path).encoding["chunks"]
    assert chunks == (1, 512, 512)
    volume = xr.DataArray(np.zeros((64, 256, 256), dtype=np.uint8), dims=("z", "y", "x"))
    chunks = bioshare.open_image(bioshare.write_image(volume, tmp_path / "v.zarr")).encoding[
        "chunks"
    ]
    assert chunks == (16, 256, 256)  # 1 MiB: whole planes, then z


def test_dims_are_put_in_ngff_order(tmp_path):
    rgb = xr.DataArray(np.zeros((4, 6, 3), dtype=np.uint8), dims=("y", "x", "c"))
    opened = bioshare.open_image(bioshare.write_image(rgb, tmp_path / "rgb.zarr"))
    assert opened.dims == ("c", "y", "x")


def test_numpy_input_needs_dims(tmp_path):
    with pytest.raises(WriteError, match="needs dims="):
        bioshare.write_image(np.zeros((4, 4)), tmp_path / "n.zarr")
    path = bioshare.write_image(np.zeros((4, 4)), tmp_path / "n.zarr", dims=("y", "x"))
    assert bioshare.open_image(path).shape == (4, 4)


def test_datatree_levels_written_as_given(tmp_path, written):
    tree = bioshare.open_multiscales(written["0.5"], labels=True)
    path = bioshare.write_image(tree, tmp_path / "tree.zarr", ngff_version="0.4")
    again = bioshare.open_multiscales(path, labels=True)
    assert list(again.children) == ["0", "1", "2", "labels"]
    for level in ("0", "1", "2"):
        xr.testing.assert_equal(again[level]["image"], tree[level]["image"])
    np.testing.assert_array_equal(
        again["labels/nuclei/0/image"].values, tree["labels/nuclei/0/image"].values
    )


@pytest.mark.parametrize(
    ("data", "kwargs", "message"),
    [
        (np.zeros(4), {"dims": ("x",)}, "2 to 5 dims; got 1"),
        (np.zeros((4, 4)), {"dims": ("c", "x")}, "at least two spatial dims"),
        (np.zeros((2, 2, 4, 4)), {"dims": ("c", "q", "y", "x")}, "more than one channel/custom"),
        (np.zeros((4, 4)), {"dims": ("y", "x"), "ngff_version": "0.3"}, "ngff_version='0.3'"),
        (np.zeros((4, 4)), {"dims": ("y", "x"), "chunks": {"q": 2}}, r"chunks name dims \['q'\]"),
        (np.zeros((4, 4)), {"dims": ("y", "x"), "chunks": (1, 2, 3)}, "one size per dim"),
        (np.zeros((4, 4)), {"dims": ("y", "x"), "levels": 0}, "levels=0 must be at least 1"),
        ("not an image", {}, "cannot write str"),
    ],
)
def test_bad_input(tmp_path, data, kwargs, message):
    with pytest.raises(WriteError, match=message):
        bioshare.write_image(data, tmp_path / "bad.zarr", **kwargs)
    assert not (tmp_path / "bad.zarr").exists()


def test_irregular_coordinates_are_refused(tmp_path):
    image = xr.DataArray(np.zeros((3, 3)), dims=("y", "x"), coords={"x": [0.0, 1.0, 5.0]})
    with pytest.raises(WriteError, match="coordinate 'x' is not regularly increasing"):
        bioshare.write_image(image, tmp_path / "irr.zarr")


def test_existing_destination_is_kept_unless_overwrite(tmp_path):
    dest = tmp_path / "img.zarr"
    first = xr.DataArray(np.ones((4, 4), dtype=np.uint8), dims=("y", "x"))
    bioshare.write_image(first, dest)
    with pytest.raises(WriteError, match="already exists; pass overwrite=True"):
        bioshare.write_image(first * 2, dest)
    assert int(bioshare.open_image(dest).max()) == 1
    bioshare.write_image((first * 2).astype(np.uint8), dest, overwrite=True)
    assert int(bioshare.open_image(dest).max()) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.zarr"]


def test_failure_mid_write_leaves_nothing_that_looks_valid(tmp_path):
    image = sample_image()
    bad_labels = sample_labels(image).astype(np.float32)  # labels must be integers
    with pytest.raises(WriteError, match="label image 'nuclei' has dtype float32"):
        bioshare.write_image(image, tmp_path / "half.zarr", labels={"nuclei": bad_labels})
    assert list(tmp_path.iterdir()) == []


def test_label_with_wrong_shape(tmp_path):
    image = sample_image()
    labels = xr.DataArray(np.zeros((4, 10, 10), dtype=np.uint8), dims=("z", "y", "x"))
    with pytest.raises(WriteError, match="expected the image's spatial sizes"):
        bioshare.write_image(image, tmp_path / "s.zarr", labels={"cells": labels})


def test_lazy_input_is_written_without_loading_everything(tmp_path):
    lazy = xr.DataArray(
        da.random.default_rng(0)
        .integers(0, 255, (8, 512, 512), chunks=(1, 256, 256))
        .astype(np.uint8),
        dims=("z", "y", "x"),
    )
    path = bioshare.write_image(lazy, tmp_path / "lazy.zarr", chunks={"z": 1})
    np.testing.assert_array_equal(bioshare.open_image(path).values, lazy.values)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_write_group_metadata_lays_out_each_version(tmp_path, version):
    from bioshare.ngff.write import write_group_metadata

    well = {"images": [{"path": "0"}]}
    write_group_metadata(tmp_path / "w", {"well": well}, version, {"bioshare": {"title": "T"}})
    if version == "0.5":
        document = json.loads((tmp_path / "w" / "zarr.json").read_text())["attributes"]
        assert document == {"ome": {"version": "0.5", "well": well}, "bioshare": {"title": "T"}}
    else:
        document = json.loads((tmp_path / "w" / ".zattrs").read_text())
        assert document == {"well": {**well, "version": "0.4"}, "bioshare": {"title": "T"}}
    assert well == {"images": [{"path": "0"}]}  # the caller's dict is left alone
    assert bioshare.validate(document).ok
    with pytest.raises(WriteError, match=r"ngff_version='0.3' cannot be written"):
        write_group_metadata(tmp_path / "x", {"well": well}, "0.3")


def test_levels_of_an_image_without_coordinates_have_growing_scales(tmp_path):
    import json

    data = xr.DataArray(np.zeros((2, 1024, 1024), dtype="uint16"), dims=("c", "y", "x"))
    path = bioshare.write_image(data, tmp_path / "plain.ome.zarr", ngff_version="0.5")
    ome = json.loads((Path(path) / "zarr.json").read_text())["attributes"]["ome"]
    datasets = ome["multiscales"][0]["datasets"]
    scales = [d["coordinateTransformations"][0]["scale"] for d in datasets]
    assert len(scales) >= 2
    assert scales == [[1.0, 2.0**n, 2.0**n] for n in range(len(scales))]
    assert bioshare.validate(path).ok


def test_a_selection_with_scalar_coordinates_is_written(tmp_path):
    """``image.sel(c=...).isel(t=0)`` leaves scalar coords, which NGFF has no place for."""
    image = xr.DataArray(
        np.arange(2 * 2 * 16 * 16, dtype=np.uint16).reshape(2, 2, 16, 16),
        dims=("t", "c", "y", "x"),
        coords={"t": [0.0, 60.0], "c": ["DAPI", "GFP"], "y": 0.5 * np.arange(16)},
    )
    plane = image.sel(c="GFP").isel(t=1)
    written = bioshare.write_image(plane, tmp_path / "plane.ome.zarr")
    back = bioshare.open_image(written)
    assert back.dims == ("y", "x")
    np.testing.assert_array_equal(back.values, plane.values)
    np.testing.assert_allclose(back["y"].values, plane["y"].values)
