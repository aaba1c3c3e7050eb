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

# Loaded on first use: they import pydantic, rocrate and friends, which `import bioshare`
# does not need.
_LAZY = {
    "publish": "bioshare.publishing.api",
    "metadata": "bioshare.metadata",
    "rerun": "bioshare.reproduce.rerunning",
    "reproduce": "bioshare.reproduce",
    "privacy": "bioshare.privacy",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name])
        return module if name in ("metadata", "reproduce", "privacy") else getattr(module, name)
    raise AttributeError(f"module 'bioshare' has no attribute {name!r}")


__all__ = [
    "ValidationReport",
    "__version__",
    "metadata",
    "open_catalog",
    "open_image",
    "open_labels",
    "open_multiscales",
    "open_ome_zarr",
    "open_plate",
    "privacy",
    "publish",
    "reproduce",
    "rerun",
    "search",
    "validate",
    "write_image",
]
