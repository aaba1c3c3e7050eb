"""REMBI Image Data harvested from an OME-Zarr, so that nobody has to type it."""

from __future__ import annotations

import os
from typing import Any

from bioshare.metadata.models import ImageData

__all__ = ["describe_image"]


def describe_image(
    source: str | os.PathLike[str], *, storage_options: dict[str, Any] | None = None
) -> ImageData:
    """Fill REMBI Image Data from an OME-Zarr image or plate.

    Parameters
    ----------
    source
        URL or path of an OME-Zarr (as for `bioshare.open_image`).
    storage_options
        Passed to fsspec for remote sources.

    Returns
    -------
    ImageData
        Dimensions and their extents, data type, pixel/voxel sizes and their units,
        channel names, pyramid levels, size on disk and uncompressed, OME-NGFF version.
    """
    from bioshare.ngff.info import describe

    info = describe(source, storage_options=storage_options)
    pixel = info.get("pixel_size") or {}
    return ImageData(
        file_path=os.path.basename(str(source).rstrip("/")) or str(source),
        image_format="OME-Zarr",
        ngff_version=info.get("ngff_version"),
        kind=info.get("kind"),
        dims=list(info.get("dims") or []),
        shape=list(info.get("shape") or []),
        dtype=info.get("dtype"),
        physical_size={axis: float(p["value"]) for axis, p in pixel.items()},
        units={axis: str(p["unit"]) for axis, p in pixel.items() if p.get("unit")},
        channels=[str(c) for c in info.get("channels") or []],
        levels=len(info["levels"]) if info.get("levels") else None,
        total_size_in_bytes=info.get("bytes_on_disk"),
        uncompressed_size_in_bytes=info.get("uncompressed_bytes"),
        wells=info.get("wells"),
        fields=info.get("fields"),
    )
