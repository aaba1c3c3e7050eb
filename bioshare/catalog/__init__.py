"""Finding data: federated search across repositories, the offline index, Intake catalogs."""

from bioshare.catalog.catalogs import CatalogError, catalog_path, open_catalog, search_catalog
from bioshare.catalog.index import RecordIndex
from bioshare.catalog.readers import (
    OMEZarr,
    OMEZarrReader,
    OMEZarrTreeReader,
    RepositoryCatalogReader,
)
from bioshare.catalog.search import RepositoryStatus, SearchResults, search
from bioshare.catalog.trust import UntrustedCatalogError

__all__ = [
    "CatalogError",
    "OMEZarr",
    "OMEZarrReader",
    "OMEZarrTreeReader",
    "RecordIndex",
    "RepositoryCatalogReader",
    "RepositoryStatus",
    "SearchResults",
    "UntrustedCatalogError",
    "catalog_path",
    "open_catalog",
    "search",
    "search_catalog",
]
