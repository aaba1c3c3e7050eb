"""NIfTI volumes into xarray: axis order, mm coordinates from the affine, scaling, URLs."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import numpy as np
import pytest
from fakes.medical import MedicalFileServer, write_nifti

import bioshare
from bioshare.formats import FormatError, open_nifti


@pytest.mark.parametrize("name", ["brain.nii", "brain.nii.gz"])
def test_volume_in_zyx_with_mm_coordinates(tmp_path: Path, name: str) -> None:
    volume = write_nifti(tmp_path / name, shape=(5, 7, 9), spacing=(2.0, 1.5, 0.5))
    image = bioshare.open_image(tmp_path / name)
    assert image.dims == ("z", "y", "x")
    assert image.dtype == np.int16
    np.testing.assert_array_equal(image.values, volume.data)
    np.testing.assert_allclose(image["z"].values, -6.0 + 2.0 * np.arange(5))
    np.testing.assert_allclose(image["y"].values, -15.0 + 1.5 * np.arange(7))
    np.testing.assert_allclose(image["x"].values, -12.0 + 0.5 * np.arange(9))
    assert image.attrs["units"] == {"x": "millimeter", "y": "millimeter", "z": "millimeter"}
    assert image.attrs["orientation"] == "RAS"
    np.testing.assert_allclose(image.attrs["affine"], volume.affine)


def test_selection_is_lazy_and_outer(tmp_path: Path) -> None:
    volume = write_nifti(tmp_path / "v.nii", shape=(4, 6, 8))
    image = bioshare.open_image(tmp_path / "v.nii")
    picked = image.isel(z=2, y=[1, 4], x=slice(3, 7))
    np.testing.assert_array_equal(picked.values, volume.data[2][[1, 4], 3:7])
    dask = bioshare.open_image(tmp_path / "v.nii", chunks={})
    assert dask.chunks == ((1,) * 4, (6,), (8,))
    np.testing.assert_array_equal(dask.values, volume.data)


def test_4d_with_scaling(tmp_path: Path) -> None:
    volume = write_nifti(tmp_path / "fmri.nii.gz", shape=(3, 4, 5, 6), slope=0.5, intercept=-3)
    image = bioshare.open_image(tmp_path / "fmri.nii.gz")
    assert image.dims == ("t", "z", "y", "x")
    assert image.dtype == np.float32
    np.testing.assert_allclose(image.values, volume.data)
    assert image.attrs["rescale"] == {"slope": 0.5, "intercept": -3.0, "applied": True}
    assert image["t"].attrs["units"] == "second"


def test_flipped_axis_keeps_increasing_coordinates_along_its_direction(tmp_path: Path) -> None:
    affine = np.diag([-1.0, 2.0, 3.0, 1.0])
    affine[:3, 3] = (50.0, -20.0, 10.0)
    write_nifti(tmp_path / "las.nii", shape=(3, 4, 5), affine=affine)
    image = bioshare.open_image(tmp_path / "las.nii")
    assert image.attrs["orientation"] == "LAS"
    # x runs along -R: positions along that direction start at -50 and grow by 1 mm
    np.testing.assert_allclose(image["x"].values, -50.0 + np.arange(5))
    np.testing.assert_allclose(image["z"].values, 10.0 + 3.0 * np.arange(3))


def test_remote_nifti_is_downloaded_once(tmp_path: Path) -> None:
    volume = write_nifti(tmp_path / "v.nii.gz", shape=(3, 4, 5))
    with MedicalFileServer({"v.nii.gz": volume.path.read_bytes()}, token="tok") as server:
        url = f"{server.url}/files/v.nii.gz?download=1"
        image = bioshare.open_image(
            url, storage_options={"headers": {"Authorization": "Bearer tok"}}
        )
        np.testing.assert_array_equal(image.values, volume.data)
        assert image.attrs["source"] == f"{server.url}/files/v.nii.gz"
        assert len(server.requests_to("/files/*")) == 1


def test_not_nifti(tmp_path: Path) -> None:
    (tmp_path / "fake.nii").write_bytes(b"\0" * 400)
    with pytest.raises(FormatError, match=r"fake\.nii"):
        open_nifti(tmp_path / "fake.nii")
    with (
        MedicalFileServer({"x.nii.gz": gzip.compress(b"hello" * 100)}) as server,
        pytest.raises(FormatError, match="not a NIfTI file"),
    ):
        open_nifti(f"{server.url}/files/x.nii.gz")


def test_nifti2_from_nibabel(tmp_path: Path) -> None:
    import nibabel as nib

    data = np.arange(2 * 3 * 4, dtype=np.float32).reshape(4, 3, 2)  # (x, y, z) on disk
    affine = np.diag([0.5, 0.25, 2.0, 1.0])
    nib.save(nib.Nifti2Image(data, affine), tmp_path / "v2.nii")
    image = bioshare.open_image(tmp_path / "v2.nii")
    assert image.dims == ("z", "y", "x")
    np.testing.assert_array_equal(image.values, data.T)
    np.testing.assert_allclose(image["x"].values, 0.5 * np.arange(4))
    np.testing.assert_allclose(image["z"].values, [0.0, 2.0])


@pytest.mark.slow
def test_gzipped_volume_in_plane_chunks_is_decompressed_once(tmp_path: Path) -> None:
    # Reading plane by plane through the gzip stream costs a decompression from the start
    # per plane (quadratic: ~13 s here); decompressed once, it takes well under a second.
    volume = write_nifti(tmp_path / "big.nii.gz", shape=(200, 160, 160), descrip="")
    start = time.perf_counter()
    image = bioshare.open_image(tmp_path / "big.nii.gz", chunks={})
    assert image.chunks[0] == (1,) * 200
    values = image.values
    elapsed = time.perf_counter() - start
    np.testing.assert_array_equal(values, volume.data)
    assert elapsed < 4.0, f"reading 200 planes took {elapsed:.2f} s"
