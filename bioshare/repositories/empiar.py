"""EMPIAR (the Electron Microscopy Public Image Archive, www.ebi.ac.uk/empiar) as a repository.

Two EMBL-EBI services are used:

- the EMPIAR REST API, ``GET <base>/entry/<number>/`` (base ``service_url("empiar")``,
  ``https://www.ebi.ac.uk/empiar/api``), which answers ``{"EMPIAR-<number>": {...}}`` with
  ``title``, ``release_date``, ``entry_doi``, ``dataset_size``, ``experiment_type``,
  ``authors[{author: {name, order_id}}]``, ``citation[]``, ``imagesets[{name, directory,
  data_format, voxel_type, image_width, image_height, num_images_or_tilt_series,
  category, details}]`` and the references ``cross_references`` (EMDB),
  ``biostudies_references`` and ``idr_references`` (``[{"name": ...}]``); 404 for an
  unknown entry;
- EBI Search, which indexes EMPIAR: ``GET <search>/empiar?query=&format=json&size=&start=``
  (``size`` at most 100) -> ``{"hitCount": N, "entries": [{"id": "EMPIAR-<n>", "source":
  "empiar"}]}``. A search takes the accessions from it, in its order, and fetches each
  entry (concurrently) for the full record.

Record ids are ``EMPIAR-<number>``; ``"10028"`` and ``10028`` are accepted too. Each image
set of an entry is one `ImageRef`; only sets published as OME-Zarr have a ``zarr_url``
(``<files>/<number>/<directory>``, files at ``https://ftp.ebi.ac.uk/empiar/world_availability``)
and can be streamed. EMPIAR releases its data under CC0.

Example::

    empiar = EMPIAR()
    hits = empiar.search("FIB-SEM mitochondria", has_ome_zarr=True)
    volume = empiar.images(hits[0].id)[0].open()   # lazy xarray.DataArray
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from bioshare import config
from bioshare._http import ApiClient, ApiError
from bioshare.repositories._common import check_filters, passes_filters
from bioshare.repositories.base import (
    DatasetRecord,
    ImageRef,
    RecordNotFoundError,
    Repository,
    RepositoryError,
)
from bioshare.repositories.terms import imaging_method_term

__all__ = ["EMPIAR", "empiar_accession"]

log = logging.getLogger(__name__)

LANDING_URL = "https://www.ebi.ac.uk/empiar/EMPIAR-{number}/"
LICENSE = "CC0-1.0"

_PAGE = 100  # EBI Search's largest page
_MAX_HITS = 1000  # search hits examined at most when filters reject most of them
_CONCURRENCY = 16  # entries fetched at once
_ALL = "domain_source:empiar"  # EBI Search's query for every entry of the domain
_FILTERS = ("organism", "imaging_method", "license", "has_ome_zarr")
_ID = re.compile(r"^\s*(?:EMPIAR[-_ ]?)?(\d+)\s*$", re.IGNORECASE)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([KMGTP])(I)?)?B?\s*$", re.IGNORECASE)

_DTYPES = {
    "UNSIGNED BYTE": "uint8",
    "SIGNED BYTE": "int8",
    "UNSIGNED 16 BIT INTEGER": "uint16",
    "SIGNED 16 BIT INTEGER": "int16",
    "UNSIGNED 32 BIT INTEGER": "uint32",
    "SIGNED 32 BIT INTEGER": "int32",
    "32 BIT FLOAT": "float32",
    "SIGNED 32 BIT FLOAT": "float32",
    "64 BIT FLOAT": "float64",
    "SIGNED 64 BIT FLOAT": "float64",
}
# experiment_type -> imaging methods (FBbi names); anything else is electron microscopy
_METHODS: dict[str, tuple[str, ...]] = {
    "FIB-SEM": ("electron microscopy", "fib-sem"),
    "SBF-SEM": ("electron microscopy", "serial block face scanning electron microscopy"),
    "ATUM-SEM": ("electron microscopy", "scanning electron microscopy"),
    "CLEM": ("electron microscopy", "light microscopy"),
    "SXT": ("X-ray microscopy",),
    "CLXM": ("X-ray microscopy", "light microscopy"),
    "HARD X-RAY/X-RAY MICROCT": ("X-ray microscopy",),
}
_EM = ("electron microscopy",)


def empiar_accession(record_id: str | int) -> str:
    """The canonical accession of an EMPIAR entry: ``"10028"`` -> ``"EMPIAR-10028"``.

    Raises `RecordNotFoundError` for anything that is not an EMPIAR id.
    """
    return f"EMPIAR-{_number(record_id)}"


def _number(record_id: str | int) -> str:
    match = _ID.match(str(record_id))
    if not match:
        raise RecordNotFoundError(
            f"EMPIAR has no entry {record_id!r}: EMPIAR ids look like EMPIAR-<number> "
            "(EMPIAR-10028) or the bare number"
        )
    return match.group(1)


class EMPIAR(Repository):
    """EMPIAR entries through the EMPIAR REST API, found with EBI Search.

    Parameters
    ----------
    base_url
        The EMPIAR API (default ``service_url("empiar")``, ``BIOSHARE_EMPIAR_URL``).
    search_url
        EBI Search's REST API (default ``https://www.ebi.ac.uk/ebisearch/ws/rest``,
        ``BIOSHARE_EBISEARCH_URL``); the EMPIAR domain is ``<search_url>/empiar``.
    files_url
        Where entry files are served, one folder per entry number (default
        ``https://ftp.ebi.ac.uk/empiar/world_availability``, ``BIOSHARE_EMPIAR_FILES_URL``).
    timeout, retries, backoff
        Network settings of the underlying `bioshare._http.ApiClient`.
    """

    name = "empiar"

    def __init__(
        self,
        base_url: str | None = None,
        *,
        search_url: str | None = None,
        files_url: str | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        backoff: float = 0.25,
    ) -> None:
        self.base_url = (base_url or config.service_url("empiar")).rstrip("/")
        self.search_url = (search_url or config.service_url("ebisearch")).rstrip("/")
        self.files_url = (files_url or config.service_url("empiar_files")).rstrip("/")
        network: dict[str, Any] = {"timeout": timeout, "retries": retries, "backoff": backoff}
        self.client = ApiClient(self.base_url, name="EMPIAR", **network)
        self.search_client = ApiClient(
            self.search_url, name="EMPIAR search (EBI Search)", **network
        )

    def __repr__(self) -> str:
        return f"EMPIAR({self.base_url!r}, search_url={self.search_url!r})"

    # -- the protocol ---------------------------------------------------------------------------

    async def asearch(self, query: str, *, limit: int = 20, **filters: Any) -> list[DatasetRecord]:
        """Entries matching ``query`` in EBI Search's order (its relevance ranking).

        Parameters
        ----------
        query
            EBI Search query text (Lucene syntax); empty for every entry.
        limit
            Most records returned.
        **filters
            ``organism``, ``imaging_method``, ``license``, ``has_ome_zarr``: applied to the
            full records, paging on through at most 1000 hits until ``limit`` pass.

        Returns
        -------
        list of DatasetRecord
            With ``score`` 1, 1/2, 1/3... by rank.
        """
        filters = check_filters(filters, _FILTERS)
        records: list[DatasetRecord] = []
        start = 0
        while len(records) < limit and start < max(limit, _MAX_HITS):
            size = _PAGE if filters else min(_PAGE, limit - len(records))
            accessions, total = await self._search_page(query, start, size)
            found = await self._entries(accessions)
            records += [r for r in found if r is not None and passes_filters(r, filters)]
            start += len(accessions)
            if not accessions or start >= total:
                break
        return [replace(r, score=round(1.0 / (1 + i), 4)) for i, r in enumerate(records[:limit])]

    async def aget(self, record_id: str) -> DatasetRecord:
        """One entry by accession (``"EMPIAR-10028"``) or number (``"10028"``).

        Raises
        ------
        RecordNotFoundError
            EMPIAR has no such entry.
        RepositoryError
            The answer is not an EMPIAR entry.
        """
        number = _number(record_id)
        return self._record(number, await self._entry(number))

    async def aimages(self, record_id: str) -> list[ImageRef]:
        """The image sets of an entry, one `ImageRef` each.

        Only sets whose ``data_format`` is OME-Zarr get a ``zarr_url`` (and can be opened);
        ``shape`` is ``(images, height, width)`` (``(height, width)`` for one image) when the
        entry gives the sizes, ``dtype`` comes from ``voxel_type``.
        """
        number = _number(record_id)
        entry = await self._entry(number)
        where = self._where(number)
        return [
            self._image(number, imageset, where) for imageset in _objects(entry, "imagesets", where)
        ]

    # -- requests -------------------------------------------------------------------------------

    def _where(self, number: str) -> str:
        return self.client.url(f"/entry/{number}/")

    async def _entry(self, number: str) -> dict[str, Any]:
        """The entry object of ``GET /entry/<number>/`` (keyed by its accession)."""
        accession = f"EMPIAR-{number}"
        path = f"/entry/{number}/"
        try:
            body = await self.client.aget_json(path)
        except ApiError as exc:
            if exc.status == 404:
                raise RecordNotFoundError(f"EMPIAR has no entry {accession}") from exc
            if exc.status is not None and exc.status < 400:  # 2xx with a body that is not JSON
                raise RepositoryError(str(exc)) from exc
            raise
        entry = body.get(accession) if isinstance(body, dict) else None
        if not isinstance(entry, dict):
            found = (
                type(body).__name__ if not isinstance(body, dict) else f"keys {sorted(body)[:5]}"
            )
            raise RepositoryError(
                f"EMPIAR: {self.client.url(path)} answered {found}; expected a JSON object "
                f"with the field {accession!r} holding the entry"
            )
        if not isinstance(entry.get("title"), str):
            raise RepositoryError(
                f"EMPIAR: {self.client.url(path)}: field {accession}.title is "
                f"{type(entry.get('title')).__name__}; expected a string"
            )
        return entry

    async def _entries(self, accessions: list[str]) -> list[DatasetRecord | None]:
        """Records of search hits, concurrently, in order; None for entries gone since."""
        gate = asyncio.Semaphore(_CONCURRENCY)

        async def one(accession: str) -> DatasetRecord | None:
            async with gate:
                try:
                    return await self.aget(accession)
                except RecordNotFoundError:
                    log.warning("EBI Search lists %s, which EMPIAR no longer has", accession)
                    return None

        return list(await asyncio.gather(*(one(a) for a in accessions)))

    async def _search_page(self, query: str, start: int, size: int) -> tuple[list[str], int]:
        """(accessions, hitCount) of one EBI Search page."""
        path = "/empiar"
        params = {"query": query.strip() or _ALL, "format": "json", "size": size, "start": start}
        try:
            body = await self.search_client.aget_json(path, params)
        except ApiError as exc:
            if exc.status is not None and exc.status < 400:
                raise RepositoryError(str(exc)) from exc
            raise
        url = self.search_client.url(path)
        entries = body.get("entries") if isinstance(body, dict) else None
        total = body.get("hitCount") if isinstance(body, dict) else None
        if not isinstance(entries, list) or not isinstance(total, int):
            raise RepositoryError(
                f"EMPIAR search: {url} answered without the fields 'hitCount' (an integer) "
                f"and 'entries' (a list): {str(body)[:200]}"
            )
        return [_hit_accession(hit, i, url) for i, hit in enumerate(entries)], total

    # -- mapping --------------------------------------------------------------------------------

    def _record(self, number: str, entry: Mapping[str, Any]) -> DatasetRecord:
        where = self._where(number)
        imagesets = _objects(entry, "imagesets", where)
        experiment = _text(entry.get("experiment_type"))
        methods = _METHODS.get(experiment.upper(), _EM)
        keywords = [experiment, *(_text(s.get("category")) for s in imagesets)]
        return DatasetRecord(
            repository=self.name,
            id=f"EMPIAR-{number}",
            title=_text(entry["title"]),
            description=_description(entry, imagesets, where),
            url=LANDING_URL.format(number=number),
            doi=_doi(entry.get("entry_doi")),
            license=LICENSE,
            authors=_authors(entry, where),
            release_date=_date(entry.get("release_date")),
            imaging_methods=tuple(imaging_method_term(m) for m in methods),
            keywords=tuple(dict.fromkeys(k for k in keywords if k)),
            image_count=len(imagesets),
            size_bytes=_size(entry.get("dataset_size")),
            has_ome_zarr=any(_is_ome_zarr(s.get("data_format")) for s in imagesets),
            accessions=_accessions(number, entry, where),
        )

    def _image(self, number: str, imageset: Mapping[str, Any], where: str) -> ImageRef:
        name = _text(imageset.get("name")) or _text(imageset.get("directory"))
        directory = _text(imageset.get("directory")).strip("/")
        zarr = _is_ome_zarr(imageset.get("data_format")) and directory
        shape = _shape(imageset)
        return ImageRef(
            repository=self.name,
            id=f"EMPIAR-{number}/{name}",
            name=name,
            zarr_url=f"{self.files_url}/{number}/{directory}" if zarr else None,
            shape=shape,
            dtype=_DTYPES.get(" ".join(_text(imageset.get("voxel_type")).upper().split())),
            dims=("y", "x") if shape is not None and len(shape) == 2 else None,
            dataset_id=f"EMPIAR-{number}",
        )


# -- helpers -----------------------------------------------------------------------------------


def _hit_accession(hit: Any, index: int, url: str) -> str:
    accession = hit.get("id") if isinstance(hit, dict) else None
    if not isinstance(accession, str) or not _ID.match(accession):
        raise RepositoryError(
            f"EMPIAR search: {url} entries[{index}].id is {accession!r}; "
            "expected an accession like 'EMPIAR-10028'"
        )
    return empiar_accession(accession)


def _objects(entry: Mapping[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    """The list of objects at ``key`` ([] when absent)."""
    value = entry.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RepositoryError(
            f"EMPIAR: {where}: field {key!r} is {type(value).__name__}; expected a list"
        )
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise RepositoryError(
                f"EMPIAR: {where}: field {key}[{index}] is {type(item).__name__}; "
                "expected an object"
            )
    return value


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    """A count or size given as a number or a numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*\d+(\.0*)?\s*", value):
        return int(float(value))
    return None


def _authors(entry: Mapping[str, Any], where: str) -> tuple[str, ...]:
    """Entry author names in ``order_id`` order (items ``{"author": {...}}`` or bare)."""
    ranked = []
    for index, item in enumerate(_objects(entry, "authors", where)):
        author = item.get("author", item)
        name = _text(author.get("name")) if isinstance(author, dict) else ""
        order = author.get("order_id") if isinstance(author, dict) else None
        if name:
            ranked.append((order if isinstance(order, int) else index, index, name))
    return tuple(name for _, _, name in sorted(ranked))


def _accessions(number: str, entry: Mapping[str, Any], where: str) -> tuple[str, ...]:
    """The entry's own accession, then its EMDB, BioStudies and IDR references."""
    found = [f"EMPIAR-{number}"]
    for key in ("cross_references", "biostudies_references", "idr_references"):
        value = entry.get(key) or []
        if not isinstance(value, list):
            raise RepositoryError(
                f"EMPIAR: {where}: field {key!r} is {type(value).__name__}; expected a list"
            )
        for item in value:  # {"name": "EMD-2660"}, or the bare name
            found.append(_text(item.get("name") if isinstance(item, dict) else item))
    return tuple(dict.fromkeys(a for a in found if a))


def _description(entry: Mapping[str, Any], imagesets: list[dict[str, Any]], where: str) -> str:
    """The primary citation, then each image set's details: EMPIAR has no abstract."""
    lines = []
    citations = _objects(entry, "citation", where)
    if citations and _text(citations[0].get("title")):
        first = citations[0]
        source = " ".join(p for p in (_text(first.get("journal")), _year(first)) if p)
        lines.append(_text(first["title"]).rstrip(".") + (f". {source}." if source else "."))
    for imageset in imagesets:
        details = _text(imageset.get("details"))
        if details:
            lines.append(f"{_text(imageset.get('name')) or 'Image set'}: {details}")
    return "\n".join(lines)


def _year(citation: Mapping[str, Any]) -> str:
    year = citation.get("year")
    return f"({year})" if isinstance(year, int | str) and str(year).strip() else ""


def _doi(value: Any) -> str | None:
    text = re.sub(r"^(https?://(dx\.)?doi\.org/|doi:)", "", _text(value), flags=re.I)
    return text or None


def _date(value: Any) -> str | None:
    text = _text(value)
    match = _DATE.match(text)
    return match.group(0) if match else (text or None)


def _size(value: Any) -> int | None:
    """Bytes of ``dataset_size``: a number of bytes or text like ``"51.4 GB"``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    match = _SIZE.match(_text(value))
    if not match:
        return None
    number, prefix, binary = match.groups()
    if not prefix:
        return int(float(number))
    base = 1024 if binary else 1000  # "GiB" or "GB"
    return int(float(number) * base ** ("KMGTP".index(prefix.upper()) + 1))


def _is_ome_zarr(data_format: Any) -> bool:
    """``"OME-Zarr"``, ``"OME.ZARR"``, ``"ome zarr"``, ``"OME-NGFF"``..."""
    compact = re.sub(r"[^a-z0-9]", "", _text(data_format).lower())
    return "omezarr" in compact or "ngff" in compact


def _shape(imageset: Mapping[str, Any]) -> tuple[int, ...] | None:
    height, width = _int(imageset.get("image_height")), _int(imageset.get("image_width"))
    if not height or not width:
        return None
    count = _int(imageset.get("num_images_or_tilt_series"))
    return (count, height, width) if count and count > 1 else (height, width)
