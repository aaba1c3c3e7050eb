"""DICOM series into xarray: geometry, laziness, multi-series, multi-frame and errors."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fakes.medical import (
    MedicalFileServer,
    dicom_series_zip,
    dicom_zip_series,
    write_dicom_series,
    write_enhanced_dicom,
)

import bioshare
from bioshare.errors import AccessDeniedError, BioshareError
from bioshare.formats import (
    MissingSlicesError,
    MixedOrientationError,
    MixedShapesError,
    MultipleSeriesError,
    NoDicomError,
    ShearedStackError,
    list_series,
    open_dicom_series,
)


def assert_geometry(image, series) -> None:
    np.testing.assert_allclose(image.values, series.volume, rtol=1e-6)
    np.testing.assert_allclose(image["z"].values, series.z)
    np.testing.assert_allclose(image["y"].values, series.y)
    np.testing.assert_allclose(image["x"].values, series.x)


def test_folder_opens_sorted_by_position_with_mm_coordinates(tmp_path: Path) -> None:
    series = write_dicom_series(tmp_path / "ct", n_slices=9, spacing=(3.0, 0.7, 0.6))
    image = bioshare.open_image(tmp_path / "ct")
    assert image.dims == ("z", "y", "x")
    assert image.shape == series.volume.shape
    assert_geometry(image, series)
    assert image.attrs["units"] == {"z": "millimeter", "y": "millimeter", "x": "millimeter"}
    assert image["z"].attrs["units"] == "millimeter"
    assert image.attrs["modality"] == "CT"
    assert image.attrs["orientation"] == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert image.attrs["rescale"]["intercept"] == -1024.0
    assert image.attrs["series_uid"] == series.series_uid
    assert image.attrs["source"] == str(tmp_path / "ct")
    affine = np.asarray(image.attrs["affine"])
    np.testing.assert_allclose(affine @ [0, 0, 1, 1], [-30.0, -40.0, -47.0, 1.0])


def test_oblique_orientation_projects_positions_on_the_normal(tmp_path: Path) -> None:
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    orientation = (c, s, 0.0, -s, c, 0.0)
    series = write_dicom_series(tmp_path / "obl", orientation=orientation, spacing=(2.0, 1, 1))
    image = bioshare.open_image(tmp_path / "obl")
    assert_geometry(image, series)
    np.testing.assert_allclose(image.attrs["orientation"], orientation)


def test_selection_decodes_only_the_slices_it_touches(tmp_path: Path) -> None:
    series = write_dicom_series(tmp_path / "ct", n_slices=6)
    image = bioshare.open_image(tmp_path / "ct")
    # Opening read the headers only: a slice file removed afterwards is only missed when
    # its own values are asked for.
    victim = series.files[0]
    victim_z = _slice_z(victim)
    victim_index = int(np.argmin(np.abs(series.z - victim_z)))
    victim.unlink()
    other = (victim_index + 1) % 6
    np.testing.assert_allclose(image.isel(z=other).values, series.volume[other])
    np.testing.assert_allclose(
        image.isel(z=other, y=[1, 3], x=slice(2, 5)).values,
        series.volume[other][[1, 3], 2:5],
    )
    with pytest.raises(FileNotFoundError):
        image.isel(z=victim_index).values  # noqa: B018


def _slice_z(path: Path) -> float:
    import pydicom

    return float(pydicom.dcmread(path, stop_before_pixels=True).ImagePositionPatient[2])


def test_dask_chunks_one_slice_each(tmp_path: Path) -> None:
    series = write_dicom_series(tmp_path / "ct", n_slices=5)
    image = bioshare.open_image(tmp_path / "ct", chunks={})
    assert image.chunks == ((1,) * 5, (16,), (12,))
    np.testing.assert_allclose(image.mean("z").values, series.volume.mean(0), rtol=1e-6)
    np.testing.assert_allclose(image.values, series.volume)


def test_mr_without_rescale_keeps_the_stored_dtype(tmp_path: Path) -> None:
    series = write_dicom_series(tmp_path / "mr", modality="MR")
    image = bioshare.open_image(tmp_path / "mr")
    assert image.dtype == np.uint16
    assert "rescale" not in image.attrs
    assert_geometry(image, series)


def test_single_dicom_file_opens_as_one_slice(tmp_path: Path) -> None:
    series = write_dicom_series(tmp_path / "ct", n_slices=3)
    image = bioshare.open_image(series.files[0])
    assert image.sizes["z"] == 1
    assert image.attrs["format"] == "dicom"


def test_zip_with_subfolders_and_other_members(tmp_path: Path) -> None:
    blob = dicom_series_zip(tmp_path / "one.zip", n_series=1)
    expected = dicom_zip_series(n_series=1)[0]
    assert "README.txt" in zipfile.ZipFile(io.BytesIO(blob)).namelist()
    image = bioshare.open_image(tmp_path / "one.zip")
    assert_geometry(image, expected)


def test_several_series_need_a_choice(tmp_path: Path) -> None:
    dicom_series_zip(tmp_path / "two.zip", n_series=2)
    ct, mr = dicom_zip_series(n_series=2)
    with pytest.raises(MultipleSeriesError) as caught:
        bioshare.open_image(tmp_path / "two.zip")
    message = str(caught.value)
    assert ct.series_uid in message
    assert mr.series_uid in message
    assert ct.description in message
    assert [s[0] for s in caught.value.series] == [ct.series_uid, mr.series_uid]
    assert_geometry(bioshare.open_image(tmp_path / "two.zip", series=1), mr)
    assert_geometry(bioshare.open_image(tmp_path / "two.zip", series=ct.series_uid), ct)
    both = open_dicom_series(tmp_path / "two.zip")
    assert list(both) == [ct.series_uid, mr.series_uid]
    assert both[mr.series_uid].attrs["modality"] == "MR"
    infos = list_series(tmp_path / "two.zip")
    assert [(i.modality, i.n_files) for i in infos] == [("CT", 8), ("MR", 8)]
    with pytest.raises(BioshareError, match="not in"):
        bioshare.open_image(tmp_path / "two.zip", series="1.2.3")


def test_enhanced_multiframe_volume(tmp_path: Path) -> None:
    series = write_enhanced_dicom(tmp_path / "mr" / "enhanced.dcm", n_slices=5)
    image = bioshare.open_image(tmp_path / "mr")
    assert image.dims == ("z", "y", "x")
    assert_geometry(image, series)
    assert image.attrs["rescale"]["slope"] == 2.0
    assert image.attrs["rescale"]["intercept"] == -100.0
    assert image.dtype == np.float32


def test_enhanced_multiframe_with_time(tmp_path: Path) -> None:
    series = write_enhanced_dicom(tmp_path / "mr.dcm", n_slices=4, n_times=3)
    image = bioshare.open_image(tmp_path / "mr.dcm")
    assert image.dims == ("t", "z", "y", "x")
    assert image.shape == (3, 4, 10, 8)
    np.testing.assert_allclose(image["t"].values, [1, 2, 3])
    assert_geometry(image, series)
    np.testing.assert_allclose(image.isel(t=2, z=1).values, series.volume[2, 1])


def test_single_frame_series_with_temporal_positions(tmp_path: Path) -> None:
    import pydicom

    times = [
        write_dicom_series(
            tmp_path / "dce",
            n_slices=4,
            series_uid="1.2.3.7",
            seed=t,
            filename=f"T{t}_{{index}}.dcm",
        )
        for t in (1, 2)
    ]
    for t, series in zip((1, 2), times, strict=True):
        for path in series.files:
            ds = pydicom.dcmread(path)
            ds.TemporalPositionIdentifier = t
            ds.save_as(path)
    image = bioshare.open_image(tmp_path / "dce")
    assert image.dims == ("t", "z", "y", "x")
    np.testing.assert_allclose(image["t"].values, [1, 2])
    np.testing.assert_allclose(image.values, np.stack([s.volume for s in times]))
    np.testing.assert_allclose(image["z"].values, times[0].z)
    times[1].files[0].unlink()
    with pytest.raises(MissingSlicesError, match="temporal position 2"):
        bioshare.open_image(tmp_path / "dce")


def test_missing_slices_are_named(tmp_path: Path) -> None:
    series = write_dicom_series(tmp_path / "gap", n_slices=8, missing=(3, 4))
    with pytest.raises(MissingSlicesError) as caught:
        bioshare.open_image(tmp_path / "gap")
    message = str(caught.value)
    assert "missing 2 slice(s)" in message
    for z in series.z[[3, 4]]:
        assert f"{z:g}" in message


def test_uneven_spacing_is_refused(tmp_path: Path) -> None:
    write_dicom_series(tmp_path / "s", n_slices=3, series_uid="1.2.3.4", spacing=(2.0, 1, 1))
    write_dicom_series(
        tmp_path / "s2",
        n_slices=1,
        series_uid="1.2.3.4",
        spacing=(2.0, 1, 1),
        origin=(-30.0, -40.0, -44.7),
        seed=5,
    )
    for f in (tmp_path / "s2").iterdir():
        f.rename(tmp_path / "s" / f"extra-{f.name}")
    with pytest.raises(MissingSlicesError, match="uneven slice spacing"):
        bioshare.open_image(tmp_path / "s")


def test_mixed_orientations_are_refused(tmp_path: Path) -> None:
    write_dicom_series(tmp_path / "a", n_slices=3, series_uid="1.2.3.5")
    write_dicom_series(
        tmp_path / "b",
        n_slices=2,
        series_uid="1.2.3.5",
        orientation=(1, 0, 0, 0, 0, -1),
        filename="COR{index:04d}.dcm",
    )
    for f in (tmp_path / "b").iterdir():
        f.rename(tmp_path / "a" / f.name)
    with pytest.raises(MixedOrientationError) as caught:
        bioshare.open_image(tmp_path / "a")
    assert "1.2.3.5" in str(caught.value)
    assert "COR0000.dcm" in str(caught.value)


def test_mixed_shapes_are_refused(tmp_path: Path) -> None:
    write_dicom_series(tmp_path / "a", n_slices=3, series_uid="1.2.3.6")
    write_dicom_series(
        tmp_path / "b",
        n_slices=1,
        series_uid="1.2.3.6",
        rows=20,
        origin=(-30, -40, -42.5),
        filename="BIG{index}.dcm",
    )
    for f in (tmp_path / "b").iterdir():
        f.rename(tmp_path / "a" / f.name)
    with pytest.raises(MixedShapesError, match=r"BIG0\.dcm"):
        bioshare.open_image(tmp_path / "a")


def test_no_dicom_found(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.dcm").write_bytes(b"not really dicom at all")
    with pytest.raises(NoDicomError, match="no DICOM image found"):
        bioshare.open_image(folder, format="dicom")


def test_remote_zip_is_downloaded_once_with_auth_headers(tmp_path: Path) -> None:
    ct, mr = dicom_zip_series(n_series=2)
    with MedicalFileServer({"study": dicom_series_zip(n_series=2)}, token="s3cret") as server:
        url = f"{server.url}/files/study?format=zip&projection=all"
        headers = {"headers": {"Authorization": "Bearer s3cret"}}
        image = bioshare.open_image(url, series=ct.series_uid, storage_options=headers)
        assert_geometry(image, ct)
        assert image.attrs["source"] == f"{server.url}/files/study"  # no query string
        assert len(server.requests_to("/files/*")) == 1
        forced = bioshare.open_image(
            f"{server.url}/files/study", format="dicom", series=1, storage_options=headers
        )
        assert_geometry(forced, mr)
        with pytest.raises(AccessDeniedError, match="401"):
            bioshare.open_image(url, series=0)


@pytest.mark.parametrize("ranges", [True, False])
def test_remote_zip_url_with_zip_suffix_falls_back_from_ome_zarr(ranges: bool) -> None:
    expected = dicom_zip_series(n_series=1)[0]
    with MedicalFileServer({"series.zip": dicom_series_zip(n_series=1)}, ranges=ranges) as server:
        image = bioshare.open_image(f"{server.url}/files/series.zip")
        assert_geometry(image, expected)
        downloads = [
            r
            for r in server.requests_to("/files/*")
            if r.method == "GET" and not any(k.lower() == "range" for k in r.headers)
        ]
        assert len(downloads) == 1  # the OME-Zarr attempt only reads ranges, if any


@pytest.mark.slow
def test_200_slice_series_opens_in_well_under_a_second(tmp_path: Path) -> None:
    write_dicom_series(tmp_path / "big", n_slices=200, rows=256, cols=256, private_tags=False)
    start = time.perf_counter()
    image = bioshare.open_image(tmp_path / "big")
    elapsed = time.perf_counter() - start
    assert image.shape == (200, 256, 256)
    assert elapsed < 1.0, f"opening took {elapsed:.2f} s"


def test_remote_single_dicom_file(tmp_path: Path) -> None:
    series = write_dicom_series(tmp_path / "ct", n_slices=2)
    with MedicalFileServer({"one.dcm": series.files[0].read_bytes()}) as server:
        image = bioshare.open_image(f"{server.url}/files/one.dcm")
        assert image.sizes["z"] == 1
        assert image.attrs["modality"] == "CT"


def _slices_by_position(files: list[Path]) -> dict[tuple[float, ...], np.ndarray]:
    """Each file's rescaled pixels, keyed by its ImagePositionPatient (read by pydicom)."""
    import pydicom

    out = {}
    for path in files:
        ds = pydicom.dcmread(path)
        key = tuple(round(float(v), 6) for v in ds.ImagePositionPatient)
        out[key] = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    return out


def test_sagittal_geometry_against_hand_computed_coordinates(tmp_path: Path) -> None:
    # Rows run anterior->posterior (+y), columns head->feet (-z): the normal is -x, so
    # slice k sits at x = 10 - 2k. Expected values below are worked out by hand.
    series = write_dicom_series(
        tmp_path / "sag",
        n_slices=4,
        rows=6,
        cols=5,
        spacing=(2.0, 0.75, 0.5),
        origin=(10.0, 20.0, 30.0),
        orientation=(0.0, 1.0, 0.0, 0.0, 0.0, -1.0),
    )
    image = bioshare.open_image(tmp_path / "sag")
    np.testing.assert_allclose(image["z"].values, [-10.0, -8.0, -6.0, -4.0])
    np.testing.assert_allclose(image["y"].values, [-30.0, -29.25, -28.5, -27.75, -27.0, -26.25])
    np.testing.assert_allclose(image["x"].values, [20.0, 20.5, 21.0, 21.5, 22.0])
    affine = np.asarray(image.attrs["affine"])
    np.testing.assert_allclose(affine @ [3, 5, 2, 1], [6.0, 21.5, 26.25, 1.0])
    np.testing.assert_allclose(affine @ [0, 0, 0, 1], [10.0, 20.0, 30.0, 1.0])
    slices = _slices_by_position(series.files)
    for k in range(4):
        np.testing.assert_allclose(image.isel(z=k).values, slices[(10.0 - 2 * k, 20.0, 30.0)])


def test_45_degree_oblique_affine_against_hand_computed_positions(tmp_path: Path) -> None:
    h = np.sqrt(0.5)
    write_dicom_series(
        tmp_path / "obl",
        n_slices=4,
        spacing=(2.0, 0.75, 0.5),
        origin=(0.0, 0.0, 0.0),
        orientation=(h, h, 0.0, 0.0, 0.0, -1.0),
    )
    image = bioshare.open_image(tmp_path / "obl")
    affine = np.asarray(image.attrs["affine"])
    # voxel (i=1, j=2, k=3): 0.5 mm along (h, h, 0), 1.5 mm along (0, 0, -1), 6 mm along
    # the normal (-h, h, 0)
    np.testing.assert_allclose(affine @ [1, 2, 3, 1], [-3.8890873, 4.5961941, -1.5, 1.0], atol=1e-6)
    np.testing.assert_allclose(image["z"].values, [0.0, 2.0, 4.0, 6.0], atol=1e-9)


def test_sheared_stack_from_gantry_tilt_is_refused(tmp_path: Path) -> None:
    import pydicom

    series = write_dicom_series(tmp_path / "tilt", n_slices=5, series_uid="1.2.3.9")
    shift = np.tan(np.radians(10))  # 10 degree tilt: y moves with z
    for path in series.files:
        ds = pydicom.dcmread(path)
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y + shift * (z - series.z[0]), z]
        ds.save_as(path)
    with pytest.raises(ShearedStackError) as caught:
        bioshare.open_image(tmp_path / "tilt")
    message = str(caught.value)
    assert "1.2.3.9" in message
    assert "gantry tilt" in message
    assert f"{shift * (series.z[-1] - series.z[0]):.4g} mm" in message


@pytest.mark.parametrize("modality", ["CT", "MR"])  # with and without rescale
def test_colour_images_are_refused_at_open(tmp_path: Path, modality: str) -> None:
    import pydicom

    series = write_dicom_series(tmp_path / "rgb", n_slices=2, modality=modality)
    for path in series.files:
        ds = pydicom.dcmread(path)
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0
        ds.save_as(path)
    with pytest.raises(BioshareError, match=r"colour DICOM images \(SamplesPerPixel=3\)"):
        bioshare.open_image(tmp_path / "rgb")
