"""Reading OME-Zarr from local folders and zips: images, levels, labels, plates, layouts."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import xarray as xr
import zarr
from ngff_samples import sample_image, write_json
from xarray.core import indexing

import bioshare
from bioshare.errors import MetadataError, NotOMEZarrError, UnsupportedVersionError
from bioshare.ngff.write import write_group_metadata


def test_open_image_values_dims_and_coordinates(written, ngff_version, image):
    opened = bioshare.open_image(written[ngff_version])
    assert opened.dims == ("t", "c", "z", "y", "x")
    assert opened.shape == image.shape
    assert opened.dtype == image.dtype
    np.testing.assert_array_equal(opened.values, image.values)
    for dim in ("t", "z", "y", "x"):
        np.testing.assert_allclose(opened[dim].values, image[dim].values)
        assert opened[dim].attrs["units"] == image[dim].attrs["units"]
    assert list(opened.c.values) == ["DAPI", "GFP"]


def test_open_image_attrs(written, ngff_version):
    opened = bioshare.open_image(written[ngff_version])
    assert opened.name == "cells"
    assert opened.attrs["ngff_version"] == ngff_version
    assert opened.attrs["source"] == str(written[ngff_version])
    assert opened.attrs["units"] == {
        "t": "second",
        "z": "micrometer",
        "y": "micrometer",
        "x": "micrometer",
    }
    assert opened.attrs["channel_colors"] == ["0000FF", "00FF00"]
    assert set(opened.attrs["channel_windows"][0]) == {"min", "max", "start", "end"}
    assert opened.attrs["level"] == "0"
    assert opened.encoding["chunks"] == (1, 1, 4, 48, 64)


def test_default_is_lazily_indexed_not_dask(written):
    opened = bioshare.open_image(written["0.5"])
    assert isinstance(opened.variable._data, indexing.LazilyIndexedArray)
    plane = opened.isel(t=1, c=0, z=2)
    assert isinstance(plane.variable._data, indexing.LazilyIndexedArray)
    assert plane.shape == (96, 160)


def test_selection_reads_the_right_pixels(written, ngff_version, image):
    opened = bioshare.open_image(written[ngff_version])
    selection = {"t": 30.0, "c": "GFP", "z": slice(3.0, 5.0), "y": slice(20.0, 30.0)}
    np.testing.assert_array_equal(opened.sel(selection).values, image.sel(selection).values)
    fancy = {"x": [0, 5, 159], "y": [1, 90]}
    np.testing.assert_array_equal(opened.isel(fancy).values, image.isel(fancy).values)


def test_pyramid_levels_have_physical_coordinates(written, ngff_version, image):
    level1 = bioshare.open_image(written[ngff_version], level=1)
    assert level1.shape == (2, 2, 4, 48, 80)
    # a 2x2 mean moves pixel centres by half an original pixel
    np.testing.assert_allclose(level1.x.values[:3], [0.25, 1.25, 2.25])
    np.testing.assert_allclose(level1.y.values[:2], [10.25, 11.25])
    expected = image.isel(t=0, c=0, z=0).values[:2, :2].mean()
    assert level1.isel(t=0, c=0, z=0, y=0, x=0).item() == round(expected)
    by_path = bioshare.open_image(written[ngff_version], level="1")
    xr.testing.assert_identical(by_path, level1)


def test_level_out_of_range_says_how_many_exist(written):
    with pytest.raises(IndexError, match=r"level 7 does not exist; this image has 3 level"):
        bioshare.open_image(written["0.5"], level=7)
    with pytest.raises(KeyError, match="no pyramid level with path 'x'"):
        bioshare.open_image(written["0.5"], level="x")


@pytest.mark.parametrize("chunks", ["auto", {"z": 4, "y": 96}, (1, 1, 4, 48, 64)])
def test_chunks_give_dask_arrays(written, image, chunks):
    opened = bioshare.open_image(written["0.4"], chunks=chunks)
    assert isinstance(opened.data, da.Array)
    zarr_chunks = (1, 1, 4, 48, 64)
    for dask_chunk, zarr_chunk, size in zip(
        opened.data.chunksize, zarr_chunks, opened.shape, strict=True
    ):
        assert dask_chunk % zarr_chunk == 0 or dask_chunk == size
    np.testing.assert_array_equal(opened.mean("t").values, image.mean("t").values)


def test_open_multiscales_tree(written, ngff_version):
    tree = bioshare.open_multiscales(written[ngff_version])
    assert list(tree.children) == ["0", "1", "2"]
    assert [tree[p]["image"].shape[-2:] for p in tree.children] == [(96, 160), (48, 80), (24, 40)]
    assert tree.attrs["ngff_version"] == ngff_version
    assert "labels" not in tree.children


def test_open_multiscales_with_labels(written, ngff_version, image):
    tree = bioshare.open_multiscales(written[ngff_version], labels=True)
    nuclei = tree["labels/nuclei/0/image"]
    assert nuclei.dims == ("z", "y", "x")
    assert set(np.unique(nuclei.values)) == {0, 7}
    np.testing.assert_allclose(nuclei.x.values, image.x.values)
    colors = tree["labels/nuclei"].attrs["image_label"]["colors"]
    assert [c["label-value"] for c in colors] == [7]


def test_open_labels_by_name(written):
    labels = bioshare.open_labels(written["0.4"], names=["nuclei"])
    assert list(labels.children) == ["nuclei"]
    with pytest.raises(NotOMEZarrError, match="labels/missing"):
        bioshare.open_labels(written["0.4"], names=["missing"])


def test_labels_requested_on_image_without_labels(tmp_path):
    path = bioshare.write_image(sample_image(), tmp_path / "plain.zarr")
    assert "labels" not in bioshare.open_multiscales(path, labels=True).children
    with pytest.raises(NotOMEZarrError, match="labels"):
        bioshare.open_labels(path)


def test_open_ome_zarr_dispatches_on_kind(written, plate):
    assert bioshare.open_ome_zarr(written["0.5"]).attrs["kind"] == "image"
    assert bioshare.open_ome_zarr(plate).attrs["kind"] == "plate"
    labels = bioshare.open_ome_zarr(Path(written["0.5"]) / "labels")
    assert labels.attrs["kind"] == "labels"
    assert list(labels.children) == ["nuclei"]


# -- plates ------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["0.4", "0.5"])
def plate(request, tmp_path_factory) -> Path:
    """A 2 x 3 plate with two fields per well, built by hand as the NGFF spec lays it out."""
    version = request.param
    root = tmp_path_factory.mktemp("plate") / "plate.ome.zarr"
    rows, columns = ["A", "B"], ["1", "2", "3"]
    wells = []
    for r, row in enumerate(rows):
        for c, column in enumerate(columns):
            wells.append({"path": f"{row}/{column}", "rowIndex": r, "columnIndex": c})
            for field in range(2):
                value = 10 * r + c + 100 * field
                field_image = xr.DataArray(
                    np.full((2, 32, 32), value, dtype=np.uint8), dims=("c", "y", "x")
                )
                bioshare.write_image(
                    field_image, root / row / column / str(field), ngff_version=version
                )
            well = {"images": [{"path": "0"}, {"path": "1"}]}
            write_group_metadata(root / row / column, {"well": well}, version)
        write_group_metadata(root / row, {}, version)
    plate_meta = {
        "name": "test plate",
        "rows": [{"name": r} for r in rows],
        "columns": [{"name": c} for c in columns],
        "wells": wells,
        "field_count": 2,
    }
    write_group_metadata(root, {"plate": plate_meta}, version)
    return root


def test_open_plate(plate):
    tree = bioshare.open_plate(plate)
    assert tree.attrs["plate"]["name"] == "test plate"
    assert sorted(tree.children) == ["A", "B"]
    assert sorted(tree["A"].children) == ["1", "2", "3"]
    assert sorted(tree["B/3"].children) == ["0", "1"]
    assert int(tree["B/3/1/image"][0, 0, 0]) == 10 * 1 + 2 + 100
    assert tree["A/2"].attrs["well"]["images"] == [{"path": "0"}, {"path": "1"}]


def test_open_plate_selected_wells_and_level(plate):
    tree = bioshare.open_plate(plate, wells=["A/1"], level=0)
    assert list(tree.children) == ["A"]
    assert list(tree["A"].children) == ["1"]
    with pytest.raises(KeyError, match=r"wells \['Z/9'\] are not in the plate"):
        bioshare.open_plate(plate, wells=["Z/9"])


def test_open_image_on_a_plate_points_to_open_plate(plate):
    with pytest.raises(NotOMEZarrError, match=r"open it with bioshare\.open_plate"):
        bioshare.open_image(plate)


def test_open_plate_on_an_image_says_what_was_found(written):
    with pytest.raises(NotOMEZarrError, match="not an HCS plate: found a image group"):
        bioshare.open_plate(written["0.5"])


# -- layouts and old versions ------------------------------------------------------------------


def test_bioformats2raw_layout(tmp_path):
    root = tmp_path / "b2r.ome.zarr"
    image = sample_image()
    bioshare.write_image(image, root / "0", ngff_version="0.4")
    bioshare.write_image(image.isel(t=0), root / "1", ngff_version="0.4")
    write_json(root / ".zgroup", {"zarr_format": 2})
    write_json(root / ".zattrs", {"bioformats2raw.layout": 3})
    np.testing.assert_array_equal(bioshare.open_image(root).values, image.values)
    assert bioshare.open_image(root, series=1).dims == ("c", "z", "y", "x")
    with pytest.raises(NotOMEZarrError, match=r"b2r.ome.zarr/5: \.zattrs not found"):
        bioshare.open_image(root, series=5)


@pytest.mark.parametrize("version", ["0.1", "0.2", "0.3"])
def test_versions_before_04_infer_axes(tmp_path, version):
    root = tmp_path / f"old-{version}.zarr"
    group = zarr.open_group(root, mode="w", zarr_format=2)
    data = np.arange(2 * 3 * 4 * 5 * 6, dtype=np.uint16).reshape(2, 3, 4, 5, 6)
    group.create_array("0", data=data, chunks=(1, 1, 2, 5, 6))
    entry: dict = {"version": version, "datasets": [{"path": "0"}]}
    if version == "0.3":
        entry["axes"] = ["t", "c", "z", "y", "x"]
    group.attrs["multiscales"] = [entry]
    opened = bioshare.open_image(root)
    assert opened.dims == ("t", "c", "z", "y", "x")
    np.testing.assert_array_equal(opened.values, data)


def test_version_03_with_fewer_axes(tmp_path):
    root = tmp_path / "old.zarr"
    group = zarr.open_group(root, mode="w", zarr_format=2)
    group.create_array("0", data=np.ones((5, 6), dtype=np.uint8))
    group.attrs["multiscales"] = [
        {"version": "0.3", "axes": ["y", "x"], "datasets": [{"path": "0"}]}
    ]
    assert bioshare.open_image(root).dims == ("y", "x")


def test_local_zip(written, tmp_path, image):
    source = written["0.5"]
    archive = tmp_path / "cells.ome.zarr.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(source).as_posix())
    opened = bioshare.open_image(archive)
    np.testing.assert_array_equal(opened.values, image.values)


def test_local_zip_of_a_folder(written, tmp_path, image):
    """``zip -r cells.zip cells.ome.zarr``: the OME-Zarr is the zip's single top folder."""
    source = written["0.4"]
    archive = tmp_path / "cells.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                zf.write(path, f"cells.ome.zarr/{path.relative_to(source).as_posix()}")
    opened = bioshare.open_image(archive, chunks={})
    np.testing.assert_array_equal(opened.values, image.values)


def test_zip_root():
    from bioshare.ngff.store import zip_root

    assert zip_root(["zarr.json", "0/zarr.json"]) == ""
    assert zip_root([".zattrs", ".zgroup", "0/.zarray"]) == ""
    assert zip_root(["a.ome.zarr/", "a.ome.zarr/.zattrs", "a.ome.zarr/0/.zarray"]) == "a.ome.zarr"
    assert zip_root(["a/zarr.json", "b/zarr.json"]) == ""  # two images: not one OME-Zarr
    assert zip_root(["readme.txt"]) == ""


def test_file_url_and_path_objects(written):
    a = bioshare.open_image(f"file://{written['0.4']}")
    b = bioshare.open_image(written["0.4"])
    xr.testing.assert_identical(a, b)


# -- errors -------------------------------------------------------------------------------------


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing\.zarr: no such file or directory"):
        bioshare.open_image(tmp_path / "nothing.zarr")


def test_plain_file_is_not_an_ome_zarr(tmp_path):
    path = tmp_path / "image.tif"
    path.write_bytes(b"II*\x00")
    with pytest.raises(bioshare.errors.BioshareError, match=r"image\.tif is a file"):
        bioshare.open_image(path)


def test_empty_folder_says_what_was_expected(tmp_path):
    with pytest.raises(NotOMEZarrError, match=r"zarr\.json or \.zattrs not found"):
        bioshare.open_image(tmp_path)


def test_zarr_group_without_ngff_metadata(tmp_path):
    group = zarr.open_group(tmp_path / "plain.zarr", mode="w")
    group.attrs["hello"] = 1
    with pytest.raises(NotOMEZarrError, match=r"found a group with attributes \['hello'\]"):
        bioshare.open_image(tmp_path / "plain.zarr")


def test_root_that_is_an_array(tmp_path):
    zarr.create_array(tmp_path / "arr.zarr", shape=(4, 4), dtype="u1")
    with pytest.raises(NotOMEZarrError, match="is a Zarr array, not a group"):
        bioshare.open_image(tmp_path / "arr.zarr")


def _copy_with_attrs(source: Path, dest: Path, change) -> Path:
    shutil.copytree(source, dest)
    group = zarr.open_group(dest, mode="r+")
    attrs = group.attrs.asdict()
    change(attrs.get("ome", attrs))
    group.attrs.put(attrs)
    return dest


def test_unsupported_version(written, tmp_path):
    def bump(ome):
        ome["version"] = "0.9"

    path = _copy_with_attrs(written["0.5"], tmp_path / "v09.zarr", bump)
    with pytest.raises(UnsupportedVersionError, match=r"version '0.9' is not supported"):
        bioshare.open_image(path)


def test_dataset_listed_but_missing(written, tmp_path):
    path = tmp_path / "missing-level.zarr"
    shutil.copytree(written["0.4"], path)
    shutil.rmtree(path / "2")
    with pytest.raises(MetadataError, match=r"2/\.zarray not found: the multiscales metadata"):
        bioshare.open_image(path, level=2)


def test_scale_with_wrong_length(written, tmp_path):
    def shorten(ome):
        ome["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"] = [1, 1]

    path = _copy_with_attrs(written["0.5"], tmp_path / "bad-scale.zarr", shorten)
    with pytest.raises(
        MetadataError, match=r"datasets\[0\]\.coordinateTransformations\[0\]\.scale has 2 values"
    ):
        bioshare.open_image(path)


def test_axes_and_array_disagree(written, tmp_path):
    def drop_axis(ome):
        ome["multiscales"][0]["axes"] = ome["multiscales"][0]["axes"][1:]
        for ds in ome["multiscales"][0]["datasets"]:
            ds["coordinateTransformations"][0]["scale"] = ds["coordinateTransformations"][0][
                "scale"
            ][1:]
            if len(ds["coordinateTransformations"]) > 1:
                ds["coordinateTransformations"][1]["translation"] = ds["coordinateTransformations"][
                    1
                ]["translation"][1:]

    path = _copy_with_attrs(written["0.4"], tmp_path / "bad-axes.zarr", drop_axis)
    with pytest.raises(MetadataError, match=r"has 5 dimensions but .* declares 4 axes"):
        bioshare.open_image(path)


def test_bad_version_argument(written):
    with pytest.raises(ValueError, match=r"version='1.0' is not an OME-NGFF version"):
        bioshare.open_image(written["0.5"], version="1.0")


def test_wrong_version_hint_is_a_clear_error(written):
    with pytest.raises(NotOMEZarrError, match=r"\.zattrs not found"):
        bioshare.open_image(written["0.5"], version="0.4")
