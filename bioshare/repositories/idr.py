"""The Image Data Resource (IDR, idr.openmicroscopy.org) as a bioshare repository.

IDR is an OMERO server, so this adapter is `bioshare.repositories.omero.OMERO` plus what
IDR adds:

- its search engine (``/searchengine/api/v1/resources/{project|screen}/search/``) for
  keyed filters: ``organism`` (key ``Organism``) and ``imaging_method`` (key
  ``Imaging Method``); when the search engine fails, the same filters are applied to the
  map annotations instead;
- public OME-Zarr copies of its images at
  ``<idr_zarr>/idr/zarr/v0.4/<study><A|B>/<imageId>.zarr``, where the study id
  (``idr0062A``) comes from the project or screen name
  (``idr0062-blin-nuclearsegmentation/experimentA``; ``screenA`` likewise);
- study accessions (``idr0062``) and study-level annotations (``Study Title``,
  ``Publication DOI``, ``Data DOI``, ``License``...).

The storage host moved in April 2026 from ``uk1s3.embassy.ebi.ac.uk`` to
``livingobjects.ebi.ac.uk`` with the same paths; `normalize_idr_zarr_url` rewrites URLs on
either host to the configured one (``BIOSHARE_IDR_ZARR_URL``).

Example::

    idr = IDR()
    hits = idr.search("nuclear segmentation", organism="human")
    image = idr.images(hits[0].id)[0].open()   # lazy xarray.DataArray
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from bioshare import config
from bioshare._http import ApiError
from bioshare.repositories.base import DatasetRecord, RecordNotFoundError, RepositoryError
from bioshare.repositories.omero import (
    DEFAULT_PAGE_SIZE,
    KINDS,
    OMERO,
    Annotations,
    imaging_method_term,
    organism_term,
)

__all__ = ["IDR", "IDR_ZARR_HOSTS", "idr_study", "normalize_idr_zarr_url"]

log = logging.getLogger(__name__)

IDR_ZARR_HOSTS = ("livingobjects.ebi.ac.uk", "uk1s3.embassy.ebi.ac.uk")
"""IDR's OME-Zarr hosts: the current one (since April 2026) and the former one."""

ZARR_NGFF_VERSION = "0.4"  # the layout IDR publishes for every converted image
SEARCH_ENGINE = "/searchengine/api/v1/resources"
_SEARCH_KEYS = {"organism": "Organism", "imaging_method": "Imaging Method"}
_MAX_SEARCH_PAGES = 100  # 100 000 hits at the search engine's 1000 per page
_STUDY = re.compile(r"^\s*(idr\d{4})(?:-[^/]*)?(?:/(?:experiment|screen)([A-Za-z]))?", re.I)
_ACCESSION = re.compile(r"^idr\d{4}[A-Za-z]?$", re.I)
_OLD_URL = re.compile(
    r"^(?:https?://(?:" + "|".join(re.escape(h) for h in IDR_ZARR_HOSTS) + r")|s3://)(/?idr/.*)$",
    re.I,
)


def normalize_idr_zarr_url(url: str, zarr_url: str | None = None) -> str:
    """Point an IDR OME-Zarr URL at the configured storage host.

    URLs on the current or former public host (``https://livingobjects.ebi.ac.uk/idr/...``,
    ``https://uk1s3.embassy.ebi.ac.uk/idr/...``) and ``s3://idr/...`` keys are rewritten to
    ``zarr_url`` (default: ``service_url("idr_zarr")``) with the same path; other URLs are
    returned unchanged.

    Parameters
    ----------
    url
        An OME-Zarr URL, e.g. from a paper, a catalog or IDR's sample table.
    zarr_url
        The storage base to use instead of the configured one.
    """
    match = _OLD_URL.match(url.strip())
    if not match:
        return url
    base = (zarr_url or config.service_url("idr_zarr")).rstrip("/")
    return f"{base}/{match.group(1).lstrip('/')}"


def idr_study(name: str | None) -> str | None:
    """The study id of an IDR project or screen name.

    ``"idr0062-blin-nuclearsegmentation/experimentA"`` -> ``"idr0062A"``,
    ``"idr0001-graml-sysgro/screenA"`` -> ``"idr0001A"``, ``"idr0090-x"`` -> ``"idr0090"``;
    None for a name that is not an IDR study.
    """
    match = _STUDY.match(name or "")
    if not match:
        return None
    return match.group(1).lower() + (match.group(2) or "").upper()


class IDR(OMERO):
    """The Image Data Resource: IDR's OMERO JSON API, search engine and OME-Zarr store.

    Parameters
    ----------
    base_url
        IDR's web address (default ``service_url("idr")``, ``BIOSHARE_IDR_URL``).
    zarr_url
        The OME-Zarr storage base (default ``service_url("idr_zarr")``,
        ``BIOSHARE_IDR_ZARR_URL``).
    timeout, retries, backoff
        Network settings of the underlying `bioshare._http.ApiClient`.
    page_size
        ``limit`` of the first request of a JSON API listing.

    Records are ``project:<id>`` and ``screen:<id>``; `get` also takes a study accession
    (``"idr0062"``, ``"idr0062A"``).
    """

    name = "idr"

    def __init__(
        self,
        base_url: str | None = None,
        *,
        zarr_url: str | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        backoff: float = 0.25,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        super().__init__(
            base_url or config.service_url("idr"),
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            page_size=page_size,
        )
        self.zarr_url = (zarr_url or config.service_url("idr_zarr")).rstrip("/")

    def __repr__(self) -> str:
        return f"IDR({self.base_url!r}, zarr_url={self.zarr_url!r})"

    @property
    def label(self) -> str:
        return "IDR"

    def zarr_url_for(self, study: str, image_id: int | str) -> str:
        """``<zarr_url>/idr/zarr/v0.4/<study>/<image_id>.zarr``."""
        return f"{self.zarr_url}/idr/zarr/v{ZARR_NGFF_VERSION}/{study}/{image_id}.zarr"

    # -- the protocol ---------------------------------------------------------------------------

    async def aget(self, record_id: str) -> DatasetRecord:
        """One study by record id (``"project:101"``) or accession (``"idr0062A"``)."""
        text = str(record_id).strip()
        if _ACCESSION.match(text):
            record_id = await self._by_accession(text)
        return await super().aget(record_id)

    # -- OMERO hooks ----------------------------------------------------------------------------

    def _record(self, kind: str, obj: Mapping[str, Any], notes: Annotations) -> DatasetRecord:
        record = super()._record(kind, obj, notes)
        study = idr_study(_name(obj))
        accessions = [study[:7], study] if study else []
        accessions += notes.values("BioStudies Accession", "BioImage Archive Accession")
        title = record.title
        if not notes.first("Study Title"):
            title = notes.first("Publication Title") or title
        return replace(
            record,
            title=title,
            accessions=tuple(dict.fromkeys(accessions)),
            has_ome_zarr=study is not None,
        )

    def _zarr_url(self, kind: str, oid: int, container: Mapping[str, Any]) -> str | None:
        study = idr_study(_name(container))
        return self.zarr_url_for(study, oid) if study else None

    async def _candidates(
        self, filters: Mapping[str, Any]
    ) -> tuple[list[tuple[str, dict[str, Any]]], set[str]]:
        """Every project and screen, narrowed by the search engine for keyed filters."""
        keyed = {k: v for k, v in filters.items() if k in _SEARCH_KEYS}
        if not keyed:
            return await self._containers(), set()
        listing = asyncio.ensure_future(self._containers())
        try:
            allowed = await self._search_engine_ids(keyed)
        except (ApiError, RepositoryError) as exc:
            # The same filters then apply to the map annotations of the records.
            log.warning("IDR search engine failed, filtering annotations instead: %s", exc)
            return await listing, set()
        except BaseException:
            listing.cancel()
            raise
        containers = await listing
        kept = [(kind, obj) for kind, obj in containers if (kind, obj.get("@id")) in allowed]
        return kept, set(keyed)

    # -- search engine --------------------------------------------------------------------------

    async def _search_engine_ids(self, filters: Mapping[str, Any]) -> set[tuple[str, int]]:
        """``(kind, id)`` of the projects and screens matching every keyed filter."""
        allowed: set[tuple[str, int]] | None = None
        for name, value in filters.items():
            key = _SEARCH_KEYS[name]
            found = await asyncio.gather(
                *(self.search_engine(kind, key, _search_value(key, str(value))) for kind in KINDS)
            )
            ids = {
                (kind, hit["id"]) for kind, hits in zip(KINDS, found, strict=True) for hit in hits
            }
            allowed = ids if allowed is None else allowed & ids
        return allowed or set()

    async def search_engine(
        self, resource: str, key: str, value: str, *, operator: str = "contains"
    ) -> list[dict[str, Any]]:
        """Every hit of IDR's search engine for ``key`` ``operator`` ``value``.

        Parameters
        ----------
        resource
            ``"project"``, ``"screen"``, ``"image"``, ``"plate"`` or ``"well"``.
        key, value, operator
            The key-value condition (operators ``equals``, ``contains``, ``not_equals``...).

        Returns
        -------
        list of dict
            The hits (``id``, ``name``, ``key_values``...), all pages, following ``bookmark``.
        """
        path = f"{SEARCH_ENGINE}/{resource}/search/"
        url = self._client.url(path)
        params: dict[str, Any] = {"key": key, "value": value, "operator": operator}
        hits: list[dict[str, Any]] = []
        for _ in range(_MAX_SEARCH_PAGES):
            body = await self._get(path, params)
            page, size, bookmark = _search_page(body, url)
            hits.extend(page)
            if not page or bookmark is None or (size is not None and len(hits) >= size):
                break
            params["bookmark"] = bookmark
        return hits

    async def _by_accession(self, accession: str) -> str:
        """The record id of the first project or screen of a study (``idr0062`` or ``A``)."""
        wanted = accession.lower()
        containers = await self._containers()
        matches = []
        for kind, obj in containers:
            study = idr_study(_name(obj))
            if study and wanted in (study.lower(), study[:7]):
                matches.append((study, kind, obj.get("@id")))
        if not matches:
            raise RecordNotFoundError(f"IDR has no study {accession}")
        _, kind, oid = min(matches, key=lambda m: (m[0], m[1]))
        return f"{kind}:{oid}"


def _name(obj: Mapping[str, Any]) -> str:
    name = obj.get("Name")
    return name if isinstance(name, str) else ""


def _search_value(key: str, value: str) -> str:
    """Search-engine value for a filter: common organism and method names made canonical."""
    term = organism_term(value) if key == "Organism" else imaging_method_term(value)
    return term.label if term.curie else value


def _search_page(body: Any, url: str) -> tuple[list[dict[str, Any]], int | None, Any]:
    """(hits, total size, bookmark for the next page) of a search-engine answer."""
    if not isinstance(body, dict):
        raise RepositoryError(f"{url} answered {type(body).__name__}; expected a JSON object")
    error = body.get("Error")
    if error and str(error).lower() != "none":
        raise RepositoryError(f"IDR search engine: {url} answered an error: {error}")
    results = body.get("results")
    if not isinstance(results, dict) or not isinstance(results.get("results"), list):
        raise RepositoryError(f"{url} answered without 'results.results'; expected a list of hits")
    hits = results["results"]
    for index, hit in enumerate(hits):
        if not isinstance(hit, dict) or not isinstance(hit.get("id"), int):
            raise RepositoryError(f"{url} results.results[{index}] has no integer 'id'")
    size = results.get("size")
    bookmark = results.get("bookmark")
    if isinstance(bookmark, list):
        bookmark = bookmark[0] if bookmark else None
    return hits, size if isinstance(size, int) else None, bookmark
