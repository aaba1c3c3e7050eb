"""Repository adapters: one protocol for IDR, BIA, Zenodo, SSBD, EMPIAR, OMERO, local."""

from bioshare.repositories.base import (
    DatasetRecord,
    ImageRef,
    RecordNotFoundError,
    Repository,
    RepositoryError,
    Term,
)

__all__ = [
    "DatasetRecord",
    "ImageRef",
    "RecordNotFoundError",
    "Repository",
    "RepositoryError",
    "Term",
]
