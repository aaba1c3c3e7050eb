"""Finding data: federated search across repositories, the offline index, Intake catalogs."""

from bioshare.catalog.index import RecordIndex
from bioshare.catalog.search import RepositoryStatus, SearchResults, search

__all__ = ["RecordIndex", "RepositoryStatus", "SearchResults", "search"]
