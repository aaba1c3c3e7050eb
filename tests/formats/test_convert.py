"""DICOM and NIfTI to OME-Zarr (`bioshare convert`), with the geometry kept."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from fakes.medical import MedicalFileServer, dicom_series_zip, write_dicom_series, write_nifti

import bioshare
from bioshare.cli import main
from bioshare.formats import convert
from bioshare.privacy import IdentifiableDataError, deidentify


def group_attrs(path: str | Path) -> dict:
    return json.loads((Path(path) / "zarr.json").read_text())["attributes"]


def test_dicom_round_trip_keeps_values_and_coordinates(tmp_path: Path) -> None:
    series = write_dicom_series(tmp_path / "raw" / "ct", n_slices=6, spacing=(2.5, 0.8, 0.6))
    deidentify(tmp_path / "raw", tmp_path / "clean")
    written = convert(tmp_path / "clean" / "ct", tmp_path / "ct.ome.zarr")
    image = bioshare.open_image(written)
    assert image.dims == ("z", "y", "x")
    np.testing.assert_allclose(image.values, series.volume)
    for dim in ("z", "y", "x"):
        np.testing.assert_allclose(image[dim].values, getattr(series, dim))
        assert image[dim].attrs["units"] == "millimeter"
    extra = group_attrs(written)["bioshare"]
    assert extra["modality"] == "CT"
    assert extra["orientation"] == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert extra["source_format"] == "dicom"
    assert bioshare.validate(written).ok


def test_nifti_round_trip_in_ngff_04(tmp_path: Path) -> None:
    volume = write_nifti(tmp_path / "v.nii.gz", shape=(2, 4, 5, 6), descrip="", slope=2.0)
    written = convert(tmp_path / "v.nii.gz", tmp_path / "v.ome.zarr", ngff_version="0.4")
    image = bioshare.open_image(written)
    assert image.dims == ("t", "z", "y", "x")
    np.testing.assert_allclose(image.values, volume.data)
    np.testing.assert_allclose(image["z"].values, -6.0 + 2.0 * np.arange(4))
    np.testing.assert_allclose(image["x"].values, -12.0 + np.arange(6))
    attrs = json.loads((Path(written) / ".zattrs").read_text())
    assert attrs["bioshare"]["orientation"] == "RAS"


def test_identifiable_sources_are_refused_unless_allowed(tmp_path: Path, caplog) -> None:
    write_dicom_series(tmp_path / "ct", n_slices=3)
    with pytest.raises(IdentifiableDataError) as caught:
        convert(tmp_path / "ct", tmp_path / "ct.ome.zarr")
    assert "PatientName" in str(caught.value)
    assert "Doe" not in str(caught.value)  # findings never carry the values
    assert not (tmp_path / "ct.ome.zarr").exists()
    with caplog.at_level(logging.WARNING, logger="bioshare.privacy"):
        convert(tmp_path / "ct", tmp_path / "ct.ome.zarr", allow_identifiable=True)
    assert "allowed explicitly" in caplog.text
    assert bioshare.open_image(tmp_path / "ct.ome.zarr").shape == (3, 16, 12)


def test_remote_sources_need_the_override(tmp_path: Path) -> None:
    with MedicalFileServer({"s.zip": dicom_series_zip(n_series=1)}) as server:
        url = f"{server.url}/files/s.zip"
        with pytest.raises(IdentifiableDataError, match="cannot be checked"):
            convert(url, tmp_path / "s.ome.zarr", format="dicom")
        convert(url, tmp_path / "s.ome.zarr", format="dicom", allow_identifiable=True)
    assert bioshare.open_image(tmp_path / "s.ome.zarr").sizes["z"] == 8


def test_cli_convert_picks_a_series(tmp_path: Path, capsys) -> None:
    dicom_series_zip(tmp_path / "two.zip", n_series=2)
    deidentify(tmp_path / "two.zip", tmp_path / "clean")
    dest = tmp_path / "mr.ome.zarr"
    assert main(["convert", str(tmp_path / "clean"), str(dest), "--series", "1"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert group_attrs(dest)["bioshare"]["modality"] == "MR"
    assert main(["convert", str(tmp_path / "clean"), str(tmp_path / "x.ome.zarr")]) == 1
    assert "holds 2 DICOM series" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "two.zip"), str(tmp_path / "y.ome.zarr")]) == 1
    assert "refusing to convert" in capsys.readouterr().err
