"""OME-Zarr: open, write and validate, lazily and with few round trips."""

from bioshare.ngff.read import (
    ArrayInfo,
    NodeMetadata,
    fetch_metadata,
    open_image,
    open_labels,
    open_multiscales,
    open_ome_zarr,
    open_plate,
)
from bioshare.ngff.write import write_group_metadata, write_image

__all__ = [
    "ArrayInfo",
    "NodeMetadata",
    "fetch_metadata",
    "open_image",
    "open_labels",
    "open_multiscales",
    "open_ome_zarr",
    "open_plate",
    "write_group_metadata",
    "write_image",
]
