"""The part of `bioshare.open_image` that routes DICOM and NIfTI sources to their readers."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import xarray as xr

from bioshare.errors import MetadataError, NotOMEZarrError
from bioshare.formats.detect import detect_format
from bioshare.formats.errors import NoDicomError

__all__ = ["open_any"]


def open_any(
    source: str | os.PathLike[str],
    open_ome_zarr: Callable[[], xr.DataArray],
    *,
    format: str | None,
    series: int | str | None,
    chunks: Any,
    storage_options: dict[str, Any] | None,
) -> xr.DataArray:
    """Open ``source`` with the reader its format needs; ``open_ome_zarr`` is the NGFF path.

    Detection never contacts a server: a remote ``.zip`` is first opened as an OME-Zarr
    (what that costs anyway) and only read as DICOM files when it holds no NGFF metadata.
    """
    kind = detect_format(source, format)
    if kind == "ome-zarr":
        return open_ome_zarr()
    from bioshare.formats import open_medical

    if kind == "zip":
        try:
            return open_ome_zarr()
        except (NotOMEZarrError, MetadataError, ValueError) as exc:
            # ValueError: fsspec's zip reader needs range requests, which servers of
            # generated archives (TCIA, XNAT) often lack; the DICOM reader downloads whole.
            first: Exception = exc
        try:
            return open_medical(
                source,
                format="dicom",
                series=series,
                chunks=chunks,
                storage_options=storage_options,
            )
        except NoDicomError as exc:
            raise NoDicomError(
                f"{exc}; nor could it be read as an OME-Zarr zip: {first}"
            ) from first
    return open_medical(
        source, format=kind, series=series, chunks=chunks, storage_options=storage_options
    )
