"""What every repository adapter speaks: records, images, terms and the protocol."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from bioshare.errors import BioshareError

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "DatasetRecord",
    "ImageRef",
    "RecordNotFoundError",
    "Repository",
    "RepositoryError",
    "Term",
]


class RepositoryError(BioshareError):
    """A repository answered in a way bioshare cannot use (bad JSON shape, missing field)."""


class RecordNotFoundError(RepositoryError, KeyError):
    """No record with that identifier in that repository."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Term:
    """An ontology term: CURIE (``NCBITaxon:9606``), IRI and label."""

    curie: str
    label: str
    iri: str = ""

    @property
    def ontology(self) -> str:
        return self.curie.split(":", 1)[0].lower() if ":" in self.curie else ""


@dataclass(frozen=True)
class ImageRef:
    """One image of a dataset: its OME-Zarr URL, or a file to download (DICOM, NIfTI).

    ``format`` is None for OME-Zarr, else ``"dicom"`` (a zip of a DICOM series, or one
    file) or ``"nifti"``; ``download_url`` is where that file is. ``storage_options``
    (fsspec options, e.g. the headers that authenticate) never show in a repr.
    """

    repository: str
    id: str
    name: str
    zarr_url: str | None = None
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    dims: tuple[str, ...] | None = None
    dataset_id: str | None = None
    thumbnail_url: str | None = None
    storage_options: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    format: str | None = None
    download_url: str | None = None

    def open(self, **kwargs: Any) -> xr.DataArray:
        """Open the image lazily with `bioshare.open_image` (OME-Zarr, DICOM or NIfTI)."""
        from bioshare.ngff.read import open_image

        if self.storage_options is not None:
            kwargs.setdefault("storage_options", self.storage_options)
        if self.zarr_url:
            return open_image(self.zarr_url, **kwargs)
        if self.download_url:
            if self.format is not None:
                kwargs.setdefault("format", self.format)
            return open_image(self.download_url, **kwargs)
        raise RepositoryError(
            f"{self.repository} image {self.id} ({self.name}) has no OME-Zarr URL nor a "
            "DICOM/NIfTI download_url: only images published in one of those can be opened"
        )


@dataclass(frozen=True)
class DatasetRecord:
    """A dataset (study, entry, record) in one repository, in one shape for all of them.

    The fields map to the GIDE search RO-Crate profile: ``url`` is the root ``@id``,
    ``organisms`` the ``about`` taxa, ``imaging_methods`` the ``measurementMethod`` terms.
    """

    repository: str
    id: str
    title: str
    description: str = ""
    url: str = ""
    doi: str | None = None
    license: str | None = None
    authors: tuple[str, ...] = ()
    release_date: str | None = None
    organisms: tuple[Term, ...] = ()
    imaging_methods: tuple[Term, ...] = ()
    keywords: tuple[str, ...] = ()
    image_count: int | None = None
    size_bytes: int | None = None
    thumbnail_url: str | None = None
    has_ome_zarr: bool = False
    accessions: tuple[str, ...] = ()  # other identifiers of the same study (IDR, BIA, EMPIAR...)
    also_in: tuple[str, ...] = ()  # "repository:id" of the same study found elsewhere
    score: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (terms as dicts)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetRecord:
        """Inverse of `to_dict`."""
        values = dict(data)
        for key in ("organisms", "imaging_methods"):
            values[key] = tuple(Term(**t) for t in values.get(key, ()))
        for key in ("authors", "keywords", "accessions", "also_in"):
            values[key] = tuple(values.get(key, ()))
        return cls(**values)


class Repository:
    """Base class of the adapters: ``search``, ``get``, ``images`` and their async twins.

    Subclasses implement the async methods; the sync ones run them on a private loop so
    that they also work inside Jupyter, whose own loop is already running.
    """

    name: str = ""  # the class default; an instance may refine it ("omero:<url>")

    async def asearch(self, query: str, *, limit: int = 20, **filters: Any) -> list[DatasetRecord]:
        raise NotImplementedError

    async def aget(self, record_id: str) -> DatasetRecord:
        raise NotImplementedError

    async def aimages(self, record_id: str) -> list[ImageRef]:
        raise NotImplementedError

    def search(self, query: str, *, limit: int = 20, **filters: Any) -> list[DatasetRecord]:
        """Datasets matching ``query``, best first."""
        return run_sync(self.asearch(query, limit=limit, **filters))

    def get(self, record_id: str) -> DatasetRecord:
        """One dataset by its identifier in this repository."""
        return run_sync(self.aget(record_id))

    def images(self, record_id: str) -> list[ImageRef]:
        """The images of a dataset."""
        return run_sync(self.aimages(record_id))


def run_sync(coro: Any) -> Any:
    """Run a coroutine to completion from sync code, even under a running loop (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
