"""bioshare: find, stream, describe and share bioimage data from Jupyter."""

from bioshare._version import __version__
from bioshare.catalog.catalogs import open_catalog
from bioshare.catalog.search import search
from bioshare.ngff import (
    open_image,
    open_labels,
    open_multiscales,
    open_ome_zarr,
    open_plate,
    write_image,
)
from bioshare.ngff.validate import ValidationReport, validate

__all__ = [
    "ValidationReport",
    "__version__",
    "open_catalog",
    "open_image",
    "open_labels",
    "open_multiscales",
    "open_ome_zarr",
    "open_plate",
    "search",
    "validate",
    "write_image",
]
