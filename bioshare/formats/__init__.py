"""DICOM and NIfTI images as lazy xarray DataArrays, and their conversion to OME-Zarr.

`bioshare.open_image` dispatches here for DICOM and NIfTI sources; the functions below
are the direct entry points.
"""

from __future__ import annotations

import os
from typing import Any

import xarray as xr

from bioshare.formats.conversion import convert
from bioshare.formats.detect import FORMATS, detect_format
from bioshare.formats.dicom import SeriesInfo, list_series, open_dicom, open_dicom_series
from bioshare.formats.errors import (
    FormatError,
    MissingSlicesError,
    MixedOrientationError,
    MixedShapesError,
    MultipleSeriesError,
    NoDicomError,
    ShearedStackError,
)
from bioshare.formats.nifti import open_nifti

__all__ = [
    "FORMATS",
    "FormatError",
    "MissingSlicesError",
    "MixedOrientationError",
    "MixedShapesError",
    "MultipleSeriesError",
    "NoDicomError",
    "SeriesInfo",
    "ShearedStackError",
    "convert",
    "detect_format",
    "list_series",
    "open_dicom",
    "open_dicom_series",
    "open_medical",
    "open_nifti",
]


def open_medical(
    source: str | os.PathLike[str],
    *,
    format: str,
    series: int | str | None = None,
    chunks: Any = None,
    storage_options: dict[str, Any] | None = None,
) -> xr.DataArray:
    """Open a DICOM (``format="dicom"``) or NIfTI (``format="nifti"``) source."""
    if format == "nifti":
        return open_nifti(source, chunks=chunks, storage_options=storage_options)
    if format == "dicom":
        return open_dicom(source, series=series, chunks=chunks, storage_options=storage_options)
    raise ValueError(f"format={format!r} is not a medical format; expected 'dicom' or 'nifti'")
