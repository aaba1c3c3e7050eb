"""Intake 2 data types and readers for OME-Zarr and for repository searches.

- `OMEZarr`: an OME-Zarr image, plate or labels group at a URL (a `Zarr` subclass).
- `OMEZarrReader`: one pyramid level as a lazy `xarray.DataArray` (`bioshare.open_image`).
- `OMEZarrTreeReader`: the whole node as an `xarray.DataTree` (pyramid, plate or labels).
- `RepositoryQuery`: a search across bioshare's repositories (`bioshare.search`).
- `RepositoryCatalogReader`: runs the query and returns an Intake `Catalog` with one
  `OMEZarrReader` entry per OME-Zarr image found (the pattern of Intake's
  ``TiledCatalogReader``).

Intake imports this module through the ``intake.imports`` entry point, which is how
``OMEZarr(url).to_reader("xarray:DataArray")`` finds these readers.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import asdict
from typing import Any

from intake.readers import datatypes
from intake.readers.entry import Catalog
from intake.readers.readers import BaseReader

from bioshare.repositories.base import (
    DatasetRecord,
    ImageRef,
    Repository,
    RepositoryError,
    run_sync,
)

__all__ = [
    "OMEZarr",
    "OMEZarrReader",
    "OMEZarrTreeReader",
    "RepositoryCatalogReader",
    "RepositoryQuery",
    "image_reader",
]

DEFAULT_TIMEOUT = 10.0
_TREE_KINDS = ("auto", "image", "plate", "labels")


# -- data types ---------------------------------------------------------------------------------


class OMEZarr(datatypes.Zarr):
    """An OME-Zarr (OME-NGFF) node at a URL: an image, an HCS plate or a labels group.

    Parameters
    ----------
    url
        ``http(s)://``, ``s3://``, ``gs://`` URL, local path or ``.zip`` of the OME-Zarr.
    storage_options
        Passed unchanged to fsspec (``anon``, ``endpoint_url``, headers...).
    root
        A path inside the OME-Zarr to open instead of its root, e.g. ``"labels/nuclei"``
        or ``"A/1/0"`` (one field of a plate).
    metadata
        Free-form description (title, license, shape...).
    """

    filepattern = r"\.ome\.zarr/?$"
    structure = {"array", "hierarchy", "image"}

    def __init__(
        self,
        url: str,
        storage_options: dict[str, Any] | None = None,
        root: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(url, storage_options=storage_options, root=root, metadata=metadata)

    @property
    def source(self) -> str:
        """The URL of the node to open: ``url`` joined with ``root``."""
        return _join(str(self.url), self.root)


class RepositoryQuery(datatypes.BaseData):
    """A search across bioshare's repositories, as `bioshare.search` runs it.

    Parameters
    ----------
    query
        Free text; every word should match.
    repositories
        Repository names (``"idr"``, ``"bia"``, ``"local"``, ``"omero:<url>"``...) or
        adapters; the public repositories by default. Only names survive saving to YAML.
    limit
        How many datasets to keep, best first.
    filters
        ``organism``, ``imaging_method``, ``license``, ``has_ome_zarr``.
    """

    structure = {"catalog"}

    def __init__(
        self,
        query: str = "",
        repositories: list[str | Repository] | None = None,
        limit: int = 20,
        filters: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.query = query
        self.repositories = list(repositories) if repositories is not None else None
        self.limit = limit
        self.filters = dict(filters or {})
        super().__init__(metadata=metadata)


# -- OME-Zarr readers ---------------------------------------------------------------------------


class OMEZarrReader(BaseReader):
    """One pyramid level of an OME-Zarr image as a lazy `xarray.DataArray`.

    Reading fetches metadata only; pixels are read when values are used.
    """

    implements = {OMEZarr}
    imports = {"xarray", "zarr"}
    output_instance = "xarray:DataArray"
    func = "bioshare.ngff.read:open_image"

    def _read(
        self,
        data: OMEZarr,
        level: int | str = 0,
        chunks: Any = None,
        version: str | None = None,
        series: int | str = 0,
        label: str | None = None,
    ) -> Any:
        """Open the image.

        Parameters
        ----------
        level
            Pyramid level, by index (0 is full resolution) or by dataset path.
        chunks
            None for a lazily indexed array; ``"auto"``, a tuple or a dict for dask.
        version
            The NGFF version when known ("0.4", "0.5"), which saves one request.
        series
            For a bioformats2raw layout, which series to open.
        label
            Open the label image of that name (``labels/<label>``) instead.
        """
        from bioshare.ngff.read import open_image

        source = _join(data.source, f"labels/{label}") if label else data.source
        return open_image(
            source,
            level=level,
            chunks=chunks,
            storage_options=data.storage_options,
            version=version,
            series=series,
        )


class OMEZarrTreeReader(BaseReader):
    """A whole OME-Zarr node as a lazy `xarray.DataTree`: every pyramid level, a plate, labels.

    ``kind`` chooses the opener: ``"auto"`` (`bioshare.open_ome_zarr`, whatever the node
    is), ``"image"`` (`bioshare.open_multiscales`: ``labels``, ``series``), ``"plate"``
    (`bioshare.open_plate`: ``level``, ``wells``) or ``"labels"`` (`bioshare.open_labels`:
    ``names``); further keyword arguments go to that opener.
    """

    implements = {OMEZarr}
    imports = {"xarray", "zarr"}
    output_instance = "xarray:DataTree"
    func = "bioshare.ngff.read:open_ome_zarr"

    def _read(
        self,
        data: OMEZarr,
        kind: str = "auto",
        chunks: Any = None,
        version: str | None = None,
        **options: Any,
    ) -> Any:
        from bioshare.ngff import read

        openers = {
            "auto": read.open_ome_zarr,
            "image": read.open_multiscales,
            "plate": read.open_plate,
            "labels": read.open_labels,
        }
        if kind not in openers:
            raise ValueError(
                f"{data.source}: kind={kind!r} is not a kind of OME-Zarr node; "
                f"expected one of {_TREE_KINDS}"
            )
        return openers[kind](
            data.source,
            chunks=chunks,
            storage_options=data.storage_options,
            version=version,
            **options,
        )


def image_reader(image: ImageRef, record: DatasetRecord | None = None) -> OMEZarrReader:
    """An `OMEZarrReader` for a repository image, described by its dataset's record.

    Parameters
    ----------
    image
        The image; it must have an OME-Zarr URL.
    record
        The dataset it belongs to, whose title, license and DOI go into the metadata.
    """
    if not image.zarr_url:
        raise RepositoryError(
            f"{image.repository} image {image.id} ({image.name}) has no OME-Zarr URL; "
            "only images published as OME-Zarr can be read through Intake"
        )
    if _has_braces(image.zarr_url) or _has_braces(image.storage_options):
        # Intake expands "{...}" in data arguments as templates ({env(VAR)} and others).
        raise RepositoryError(
            f"{image.repository} image {image.id} ({image.name}): its URL or storage options "
            "contain '{' or '}', which Intake would expand as a template; a URL must "
            "percent-encode them"
        )
    data = OMEZarr(image.zarr_url, storage_options=image.storage_options)
    return OMEZarrReader(data, metadata=_image_metadata(image, record))


def _image_metadata(image: ImageRef, record: DatasetRecord | None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "repository": image.repository,
        "image_id": image.id,
        "image_name": image.name,
        "dataset_id": image.dataset_id,
        "shape": list(image.shape) if image.shape else None,
        "dims": list(image.dims) if image.dims else None,
        "dtype": image.dtype,
        "thumbnail_url": image.thumbnail_url,
    }
    if record is not None:
        meta.update(
            title=record.title,
            description=record.description,
            dataset_id=record.id,
            url=record.url,
            doi=record.doi,
            license=record.license,
        )
    return {k: v for k, v in meta.items() if v not in (None, "", [])}


# -- repository catalogs ------------------------------------------------------------------------


class RepositoryCatalogReader(BaseReader):
    """Run a `RepositoryQuery` and return a `Catalog` of the OME-Zarr images found.

    Each dataset's images are listed concurrently; every image with an OME-Zarr URL becomes
    an `OMEZarrReader` entry whose metadata holds the dataset's title, description,
    license and DOI. Datasets without OME-Zarr, and repositories that failed, are listed
    in the catalog's ``metadata["skipped"]`` and ``metadata["searched"]``.
    """

    implements = {RepositoryQuery}
    output_instance = "intake.readers.entry:Catalog"

    def _read(
        self, data: RepositoryQuery, max_images: int = 20, timeout: float = DEFAULT_TIMEOUT
    ) -> Catalog:
        """Search and build the catalog.

        Parameters
        ----------
        max_images
            At most this many images per dataset.
        timeout
            Seconds each repository may take to search, and to list a dataset's images.
        """
        if max_images < 1:
            raise ValueError(f"max_images={max_images} must be at least 1")
        catalog: Catalog = run_sync(_build_catalog(data, max_images, timeout))
        return catalog


async def _build_catalog(data: RepositoryQuery, max_images: int, timeout: float) -> Catalog:
    from bioshare.catalog.search import asearch
    from bioshare.repositories.registry import default_repositories, get_repository

    adapters = [get_repository(spec) for spec in (data.repositories or default_repositories())]
    results = await asearch(
        data.query, repositories=adapters, limit=data.limit, timeout=timeout, **data.filters
    )
    by_name = {adapter.name: adapter for adapter in adapters}
    skipped = [
        {"dataset": f"{r.repository}:{r.id}", "reason": "no OME-Zarr images"}
        for r in results
        if not r.has_ome_zarr
    ]
    records = [r for r in results if r.has_ome_zarr]
    listings = await asyncio.gather(
        *(_list_images(by_name.get(r.repository), r, timeout) for r in records)
    )
    catalog = Catalog(metadata=_catalog_metadata(data, adapters, results))
    for record, found in zip(records, listings, strict=True):
        if isinstance(found, str):
            skipped.append({"dataset": f"{record.repository}:{record.id}", "reason": found})
            continue
        images = [image for image in found if image.zarr_url][:max_images]
        if not images:
            skipped.append(
                {"dataset": f"{record.repository}:{record.id}", "reason": "no OME-Zarr images"}
            )
        for image in images:
            try:
                reader = image_reader(image, record)
            except RepositoryError as exc:
                skipped.append({"dataset": f"{record.repository}:{record.id}", "reason": str(exc)})
                continue
            name = _entry_name(catalog, record, image, several=len(images) > 1)
            catalog[name] = reader
            catalog.aliases[name] = name  # list(catalog) iterates the aliases
    catalog.metadata["skipped"] = skipped
    return catalog


async def _list_images(
    adapter: Repository | None, record: DatasetRecord, timeout: float
) -> list[ImageRef] | str:
    """The record's images, or why they could not be listed."""
    if adapter is None:
        from bioshare.repositories.registry import get_repository

        try:
            adapter = get_repository(record.repository)
        except KeyError as exc:
            return str(exc.args[0])
    try:
        return list(await asyncio.wait_for(adapter.aimages(record.id), timeout))
    except TimeoutError:
        return f"listing images took more than {timeout:g} s"
    except Exception as exc:  # one dataset's failure never breaks the catalog
        return f"{type(exc).__name__}: {exc}"


def _catalog_metadata(
    data: RepositoryQuery, adapters: list[Repository], results: Any
) -> dict[str, Any]:
    names = [adapter.name for adapter in adapters]
    return {
        "description": f"OME-Zarr images of the datasets matching {data.query!r} in "
        + ", ".join(names),
        "query": data.query,
        "repositories": names,
        "filters": dict(data.filters),
        "searched": [asdict(status) for status in results.statuses],
        "offline": bool(results.offline),
    }


def _entry_name(catalog: Catalog, record: DatasetRecord, image: ImageRef, several: bool) -> str:
    """A readable, unique, attribute-friendly entry name: ``<repository>_<dataset>[_<image>]``."""
    parts = [record.repository, record.id] + ([image.id] if several else [])
    base = re.sub(r"[^0-9A-Za-z]+", "_", "_".join(parts)).strip("_") or "image"
    if base[0].isdigit():
        base = f"_{base}"
    name, n = base, 2
    while name in catalog.entries or name in catalog.aliases:
        name, n = f"{base}_{n}", n + 1
    return name


def _has_braces(value: Any) -> bool:
    if isinstance(value, str):
        return "{" in value or "}" in value
    if isinstance(value, dict):
        return any(_has_braces(k) or _has_braces(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_braces(v) for v in value)
    return False


def _join(url: str, path: str) -> str:
    path = path.strip("/")
    return f"{url.rstrip('/')}/{path}" if path else url
