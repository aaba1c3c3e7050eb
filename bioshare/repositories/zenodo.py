"""Zenodo as a bioshare repository: datasets whose files include OME-Zarr archives.

Zenodo runs InvenioRDM; its records search answers plain ``application/json`` requests in
the legacy Zenodo format (reference section 4c)::

    GET /api/records?q=<query string>&type=dataset&sort=bestmatch&page=&size=
    -> {"hits": {"hits": [record, ...], "total": N}, "aggregations": {...}, "links": {...}}

and ``GET /api/records/{id}`` gives one record. A record's ``files`` carry ``key``,
``size``, ``checksum`` and ``links.self`` (``.../files/<key>/content``), from which
`bioshare.open_image` streams a zipped OME-Zarr with HTTP range requests. OME-Zarr files
are recognised by name: ``*.ome.zarr.zip``, ``*.ozx`` (the zipped OME-Zarr extension) and
``*.zarr.zip``.

Zenodo has no organism or imaging-method fields; keywords and subjects that name a known
NCBITaxon or FBbi term become the record's terms, so `bioshare.search` filters apply.

Example::

    zenodo = Zenodo()
    hits = zenodo.search("OME-Zarr nuclei")
    image = zenodo.images(hits[0].id)[0].open()
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

from bioshare import config
from bioshare._http import ApiClient, ApiError
from bioshare.repositories.base import (
    DatasetRecord,
    ImageRef,
    RecordNotFoundError,
    Repository,
    RepositoryError,
    Term,
)
from bioshare.repositories.terms import imaging_method_term, organism_term

__all__ = ["OME_ZARR_SUFFIXES", "Zenodo", "escape_query", "is_ome_zarr_file"]

OME_ZARR_SUFFIXES = (".ome.zarr.zip", ".ozx", ".zarr.zip")
ANONYMOUS_PAGE_SIZE = 25  # Zenodo's largest page for anonymous searches
AUTHENTICATED_PAGE_SIZE = 100
_RESERVED = re.compile(r'([+\-=&|><!(){}\[\]^"~*?:\\/])')
_TAG = re.compile(r"<[^>]+>")
_RECORD_ID = re.compile(r"^(?:https?://(?:doi\.org/)?)?(?:10\.5281/zenodo\.)?(\d+)$", re.I)


def escape_query(text: str) -> str:
    """Escape Elasticsearch query-string operators so that free text is searched as words."""
    return _RESERVED.sub(r"\\\1", text)


class Zenodo(Repository):
    """Zenodo's records API, datasets only.

    Parameters
    ----------
    base_url
        Zenodo's address (default ``service_url("zenodo")``, ``BIOSHARE_ZENODO_URL``; with
        ``sandbox=True``, ``service_url("zenodo_sandbox")``).
    sandbox
        Search sandbox.zenodo.org instead.
    token
        A personal access token: larger pages (100 records instead of 25). Sent only as
        an ``Authorization`` header, never shown.
    timeout, retries, backoff
        Network settings of the underlying `bioshare._http.ApiClient`.

    Records are Zenodo record ids (``"7654321"``); `get` also takes a Zenodo DOI.
    """

    name = "zenodo"

    def __init__(
        self,
        base_url: str | None = None,
        *,
        sandbox: bool = False,
        token: str | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        backoff: float = 0.25,
    ) -> None:
        default = config.service_url("zenodo_sandbox" if sandbox else "zenodo")
        self.base_url = (base_url or default).rstrip("/")
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.page_size = AUTHENTICATED_PAGE_SIZE if token else ANONYMOUS_PAGE_SIZE
        self.client = ApiClient(
            self.base_url,
            name="Zenodo",
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            headers=headers,
        )

    def __repr__(self) -> str:  # never shows the token
        return f"Zenodo({self.base_url!r})"

    # -- the protocol ---------------------------------------------------------------------------

    async def asearch(self, query: str, *, limit: int = 20, **filters: Any) -> list[DatasetRecord]:
        """Datasets matching ``query``, best match first (newest first for no query)."""
        text = query.strip()
        params: dict[str, Any] = {
            "q": escape_query(text),
            "type": "dataset",
            "sort": "bestmatch" if text else "mostrecent",
            "size": min(self.page_size, max(limit, 1)),
        }
        records: list[DatasetRecord] = []
        page = 1
        while len(records) < limit:
            body = await self.client.aget_json("/api/records", params=params | {"page": page})
            hits, total = _hits(body, self.client.url("/api/records"))
            records += [self._record(hit) for hit in hits]
            if len(hits) < params["size"] or page * params["size"] >= total:
                break
            page += 1
        return records[:limit]

    async def aget(self, record_id: str) -> DatasetRecord:
        """One record by id or Zenodo DOI (``10.5281/zenodo.7654321``)."""
        return self._record(await self._fetch(record_id))

    async def aimages(self, record_id: str) -> list[ImageRef]:
        """The record's OME-Zarr files, each streamable with `bioshare.open_image`."""
        record = await self._fetch(record_id)
        rid = str(record["id"])
        return [
            ImageRef(
                repository=self.name,
                id=f"{rid}/{f['key']}",
                name=str(f["key"]),
                zarr_url=_content_url(f, self.base_url, rid),
                dataset_id=rid,
            )
            for f in _files(record)
            if is_ome_zarr_file(str(f["key"]))
        ]

    # -- helpers --------------------------------------------------------------------------------

    async def _fetch(self, record_id: str) -> dict[str, Any]:
        match = _RECORD_ID.match(str(record_id).strip())
        if not match:
            raise RecordNotFoundError(
                f"{record_id!r} is not a Zenodo record; expected a record id such as "
                "'7654321' or a DOI such as '10.5281/zenodo.7654321'"
            )
        path = f"/api/records/{match.group(1)}"
        try:
            record = await self.client.aget_json(path)
        except ApiError as exc:
            if exc.status in (404, 410):
                gone = "was deleted" if exc.status == 410 else "does not exist"
                raise RecordNotFoundError(f"Zenodo record {match.group(1)} {gone}") from exc
            raise
        if not isinstance(record, dict) or "id" not in record:
            raise RepositoryError(f"{self.client.url(path)} answered without a record 'id'")
        return record

    def _record(self, hit: Mapping[str, Any]) -> DatasetRecord:
        metadata = hit.get("metadata")
        if not isinstance(metadata, dict) or "id" not in hit:
            raise RepositoryError(
                f"{self.base_url}: a Zenodo record without 'id' or 'metadata': {str(hit)[:200]}"
            )
        rid = str(hit["id"])
        files = _files(hit)
        zarr_files = [f for f in files if is_ome_zarr_file(str(f["key"]))]
        words = [str(k) for k in metadata.get("keywords") or []]
        words += [str(s.get("term")) for s in metadata.get("subjects") or [] if s.get("term")]
        license_ = metadata.get("license")
        related = [
            str(r["identifier"])
            for r in metadata.get("related_identifiers") or []
            if isinstance(r, dict) and r.get("identifier") and _is_accession(str(r["identifier"]))
        ]
        links = _mapping(hit.get("links"))
        return DatasetRecord(
            repository=self.name,
            id=rid,
            title=str(metadata.get("title") or hit.get("title") or rid),
            description=_plain_text(str(metadata.get("description") or "")),
            url=str(links.get("html") or f"{self.base_url}/records/{rid}"),
            doi=hit.get("doi") or metadata.get("doi"),
            license=license_.get("id") if isinstance(license_, dict) else license_,
            authors=tuple(str(c["name"]) for c in metadata.get("creators") or [] if c.get("name")),
            release_date=metadata.get("publication_date"),
            organisms=_terms(words, organism_term),
            imaging_methods=_terms(words, imaging_method_term),
            keywords=tuple(str(k) for k in metadata.get("keywords") or []),
            image_count=len(zarr_files) or None,
            size_bytes=sum(int(f.get("size") or 0) for f in files) or None,
            has_ome_zarr=bool(zarr_files),
            accessions=tuple(dict.fromkeys([*related, *_concept(hit)])),
        )


def is_ome_zarr_file(key: str) -> bool:
    """True for a file name that says it is a zipped OME-Zarr."""
    return key.lower().endswith(OME_ZARR_SUFFIXES)


def _hits(body: Any, url: str) -> tuple[list[dict[str, Any]], int]:
    hits = body.get("hits") if isinstance(body, dict) else None
    if isinstance(body, list):  # what the old documentation shows
        return [h for h in body if isinstance(h, dict)], len(body)
    if not isinstance(hits, dict) or not isinstance(hits.get("hits"), list):
        raise RepositoryError(f"{url} answered without 'hits.hits'; expected a list of records")
    total = hits.get("total")
    if isinstance(total, dict):  # InvenioRDM writes {"value": N}
        total = total.get("value")
    return hits["hits"], total if isinstance(total, int) else len(hits["hits"])


def _files(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    files = record.get("files") or []
    if isinstance(files, dict):  # InvenioRDM: {"entries": {key: file}} or a list
        entries = files.get("entries") or {}
        files = list(entries.values()) if isinstance(entries, dict) else entries
    return [f for f in files if isinstance(f, dict) and f.get("key")]


def _content_url(file: Mapping[str, Any], base_url: str, rid: str) -> str:
    links = _mapping(file.get("links"))
    url = str(links.get("self") or links.get("content") or "")
    if url.endswith("/content"):
        return url
    return f"{base_url}/api/records/{rid}/files/{file['key']}/content"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _terms(words: list[str], resolve: Any) -> tuple[Term, ...]:
    terms = (resolve(word) for word in words)
    return tuple(dict.fromkeys(t for t in terms if t.curie))


def _plain_text(description: str) -> str:
    """Zenodo descriptions are limited HTML; keep the words."""
    return re.sub(r"\s+", " ", html.unescape(_TAG.sub(" ", description))).strip()


def _is_accession(identifier: str) -> bool:
    """IDR, BioImage Archive, EMPIAR and EMDB accessions, which identify the same study."""
    return bool(re.match(r"^(idr\d{4}|S-[A-Z]+\d+|EMPIAR-\d+|EMD-\d+)$", identifier, re.I))


def _concept(hit: Mapping[str, Any]) -> list[str]:
    """Every version of a record shares its concept DOI: the same dataset."""
    concept = hit.get("conceptdoi")
    return [str(concept)] if concept else []
