"""`bioshare convert`: DICOM, NIfTI (or OME-Zarr) to OME-Zarr, keeping the geometry.

Coordinates in mm become the NGFF scale and translation; orientation, modality and the
affine go under the ``bioshare`` key of the OME-Zarr's attributes. Identifying sources are
refused unless explicitly allowed, so a conversion never carries a patient's data into an
open format by accident.
"""

from __future__ import annotations

import os
from typing import Any

import xarray as xr

from bioshare.formats._members import is_url, safe_url
from bioshare.formats.detect import detect_format

__all__ = ["convert", "provenance"]


def provenance(image: xr.DataArray) -> dict[str, Any]:
    """The non-identifying spatial metadata of an opened DICOM/NIfTI image for OME-Zarr."""
    keys = ("format", "modality", "orientation", "affine", "patient_frame", "rescale")
    return {f"source_{k}" if k == "format" else k: image.attrs[k] for k in keys if k in image.attrs}


def convert(
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    format: str | None = None,
    series: int | str | None = None,
    ngff_version: str = "0.5",
    allow_identifiable: bool = False,
    overwrite: bool = False,
    chunks: Any = None,
    storage_options: dict[str, Any] | None = None,
) -> str:
    """Write a DICOM series or NIfTI volume (or any image `open_image` reads) as OME-Zarr.

    Parameters
    ----------
    source
        What `bioshare.open_image` accepts: a DICOM folder/file/zip, a NIfTI file, URLs.
    series
        The DICOM series (SeriesInstanceUID or index) when the source holds several.
    allow_identifiable
        Convert even though `bioshare.privacy.scan` finds identifying data in a local
        source (logged as a warning). Remote sources cannot be scanned first and need it.

    Returns
    -------
    str
        The path or URL written.

    Raises
    ------
    bioshare.privacy.IdentifiableDataError
        The source holds identifying data and ``allow_identifiable`` is False.
    """
    from bioshare.ngff.read import open_image
    from bioshare.ngff.write import write_image
    from bioshare.privacy.gate import IdentifiableDataError, check_publishable

    kind = detect_format(source, format)
    if kind in ("dicom", "nifti", "zip"):
        text = os.fspath(source)
        if is_url(text):
            if not allow_identifiable:
                raise IdentifiableDataError(
                    f"refusing to convert {safe_url(text)}: a remote DICOM/NIfTI source "
                    "cannot be checked for identifying data before it is read; download and "
                    "scan it (bioshare privacy scan) or pass allow_identifiable=True "
                    "(--allow-identifiable) if it is public, de-identified data",
                    [],
                )
        else:
            check_publishable([text], allow_identifiable=allow_identifiable, what="convert")
    image = open_image(
        source, format=format, series=series, chunks=chunks, storage_options=storage_options
    )
    metadata = provenance(image)
    return write_image(
        image,
        dest,
        ngff_version=ngff_version,
        metadata=metadata or None,
        overwrite=overwrite,
        name=None,
    )
