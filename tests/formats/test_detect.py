"""Format detection: by name for URLs (no request), by content for local sources."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes.medical import dicom_series_zip, write_dicom_series, write_nifti

import bioshare
from bioshare.formats import detect_format


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("https://example.org/data/image.ome.zarr", "ome-zarr"),
        ("https://example.org/data/image.zarr.zip", "ome-zarr"),
        ("s3://bucket/plate.zarr", "ome-zarr"),
        ("https://example.org/brain.nii.gz?token=x", "nifti"),
        ("https://example.org/brain.nii", "nifti"),
        ("https://example.org/slice.dcm", "dicom"),
        ("https://xnat.example.org/data/experiments/E1/scans/2/files?format=zip", "dicom"),
        ("https://example.org/archive.zip", "zip"),
        ("https://tcia.example.org/services/v1/getImage?SeriesInstanceUID=1.2.3", "ome-zarr"),
    ],
)
def test_urls_by_name(source: str, expected: str) -> None:
    assert detect_format(source) == expected


def test_explicit_format_wins() -> None:
    url = "https://tcia.example.org/services/v1/getImage?SeriesInstanceUID=1.2.3"
    assert detect_format(url, "dicom") == "dicom"
    assert detect_format(url, "NIfTI") == "nifti"
    with pytest.raises(ValueError, match="format='tiff'"):
        detect_format(url, "tiff")


def test_local_sources_by_content(tmp_path: Path) -> None:
    series = write_dicom_series(tmp_path / "ct", n_slices=2, filename="slice{index}")
    assert detect_format(tmp_path / "ct") == "dicom"
    assert detect_format(series.files[0]) == "dicom"  # no suffix: the DICM preamble
    dicom_series_zip(tmp_path / "study.zip")
    assert detect_format(tmp_path / "study.zip") == "dicom"
    write_nifti(tmp_path / "v.nii")
    assert detect_format(tmp_path / "v.nii") == "nifti"
    image = bioshare.write_image(bioshare.open_image(tmp_path / "v.nii"), tmp_path / "v.ome.zarr")
    assert detect_format(image) == "ome-zarr"
    assert detect_format(tmp_path / "missing") == "ome-zarr"  # its reader says what is missing
