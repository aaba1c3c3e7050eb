"""The Cancer Imaging Archive (TCIA) as a bioshare repository, through its public REST API.

TCIA's NBIA search API (``BIOSHARE_TCIA_URL``, default
``https://services.cancerimagingarchive.net/nbia-api/services/v1``) needs no account for
public collections. Every answer is a JSON list of objects (an empty body, often with HTTP
204, means no match). The endpoints used:

- ``getCollectionValues`` -> ``[{"Collection"}]``: every collection;
- ``getModalityValues?Collection=`` -> ``[{"Modality"}]`` and
  ``getBodyPartValues?Collection=`` -> ``[{"BodyPartExamined"}]``: a collection's
  modalities and body parts;
- ``getPatient?Collection=`` -> ``[{"PatientID"|"PatientId", "PatientName", "PatientSex",
  "Collection"}]``;
- ``getPatientStudy?Collection=&PatientID=&StudyInstanceUID=`` -> ``[{"StudyInstanceUID",
  "StudyDate", "StudyDescription", "PatientID", "SeriesCount", ...}]``;
- ``getSeries?Collection=&PatientID=&StudyInstanceUID=&Modality=`` -> ``[{"SeriesInstanceUID",
  "StudyInstanceUID", "Modality", "BodyPartExamined", "SeriesDescription", "ProtocolName",
  "PatientID", "Manufacturer", "ImageCount", "FileSize", "LicenseName", "LicenseURI",
  "CollectionURI", ...}]``;
- ``getSeriesSize?SeriesInstanceUID=`` -> ``[{"TotalSizeInBytes", "ObjectCount"}]``;
- ``getImage?SeriesInstanceUID=``: a zip of the series' DICOM files (the images'
  ``download_url``);
- ``getCollectionDescriptions`` -> ``[{"collectionName", "description" (HTML),
  "descriptionURI" (the DOI), ...}]``: an "advanced" endpoint that the public server may
  refuse; asked once per adapter, without retries, alongside the collection list (so a
  refusal costs no time), and left alone after a failure.

TCIA has no full-text search. `TCIA.search` lists the collections, keeps those whose name
(or description, when known) has a query word, asks the modalities and body parts of the
best ``limit`` of them (of at most ``enrich`` when filters must be applied), ranks them
with `bioshare.repositories.omero.score_text` (name, then modalities and body parts, then
description) and applies the filters ``modality`` (DICOM code, ``"CT"``), ``body_part``
(``"CHEST"``) and the common ones. Records are collections; their images are series
(`ImageRef` with ``format="dicom"``).

Example::

    tcia = TCIA()
    lung = tcia.search("lung", modality="CT", limit=5)
    series = tcia.images(lung[0].id)
    volume = series[0].open()      # the DICOM series as xarray (needs the DICOM reader)
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from bioshare import config
from bioshare._http import ApiClient, ApiError
from bioshare.repositories._common import aget_json, check_filters, passes_filters, stripped
from bioshare.repositories.base import (
    DatasetRecord,
    ImageRef,
    RecordNotFoundError,
    Repository,
    RepositoryError,
    Term,
)
from bioshare.repositories.omero import _license, score_text
from bioshare.repositories.terms import imaging_method_term

__all__ = ["MODALITY_NAMES", "TCIA", "modality_term"]

log = logging.getLogger(__name__)

MODALITY_NAMES: dict[str, str] = {
    "CT": "X-ray computed tomography",
    "MR": "magnetic resonance imaging",
    "PT": "positron emission tomography",
    "NM": "nuclear medicine imaging",
    "ST": "single-photon emission computed tomography",
    "US": "ultrasound imaging",
    "CR": "X-ray radiography",
    "DX": "X-ray radiography",
    "RG": "X-ray radiography",
    "MG": "mammography",
    "XA": "X-ray angiography",
    "RF": "fluoroscopy",
    "SM": "slide microscopy",
}
"""DICOM modality codes of images (PS3.3 C.7.3.1.1.1) and the imaging methods they name."""

_FILTERS = ("organism", "imaging_method", "license", "has_ome_zarr", "modality", "body_part")
_KEYWORD_FILTERS = ("modality", "body_part")  # matched against the keywords: codes and parts
_CONCURRENCY = 8
_TAGS = re.compile(r"<[^>]+>")


def modality_term(code: str) -> Term | None:
    """The imaging-method term of a DICOM modality code; None for non-image objects.

    ``"CT"`` -> X-ray computed tomography (``FBbi:00001002``, from the bundled FBbi terms),
    ``"MR"`` -> magnetic resonance imaging (no bundled CURIE, so none), ``"SEG"`` -> None.
    """
    name = MODALITY_NAMES.get(code.strip().upper())
    return imaging_method_term(name) if name else None


class TCIA(Repository):
    """The Cancer Imaging Archive's public collections, through the NBIA REST API.

    Parameters
    ----------
    base_url
        The API base (default ``service_url("tcia")``, ``BIOSHARE_TCIA_URL``).
    timeout, retries, backoff
        Network settings of the underlying `bioshare._http.ApiClient`.
    enrich
        At most this many candidate collections of a search get their modalities and body
        parts asked (two requests each).
    """

    name = "tcia"

    def __init__(
        self,
        base_url: str | None = None,
        *,
        timeout: float | None = None,
        retries: int | None = None,
        backoff: float = 0.25,
        enrich: int = 40,
    ) -> None:
        self.base_url = (base_url or config.service_url("tcia")).rstrip("/")
        self.enrich = max(0, int(enrich))
        self._client = ApiClient(
            self.base_url, name="TCIA", timeout=timeout, retries=retries, backoff=backoff
        )
        # The optional descriptions are asked once, never retried: a refusal costs one trip.
        self._once = ApiClient(
            self.base_url, name="TCIA", timeout=self._client.timeout, retries=0, backoff=backoff
        )
        self._descriptions: dict[str, dict[str, Any]] | None = None

    def __repr__(self) -> str:
        return f"TCIA({self.base_url!r})"

    # -- the protocol ---------------------------------------------------------------------------

    async def asearch(self, query: str, *, limit: int = 20, **filters: Any) -> list[DatasetRecord]:
        """Collections matching ``query`` and the filters, best first.

        Filters: ``modality`` (DICOM code such as ``"CT"``, ``"MR"``), ``body_part``
        (``"CHEST"``, any case), ``imaging_method`` (``"computed tomography"``),
        ``organism``, ``license`` and ``has_ome_zarr`` (TCIA serves DICOM: never true).
        """
        filters = check_filters(filters, _FILTERS)
        if limit <= 0:
            return []
        names, descriptions = await asyncio.gather(self.collections(), self._describe_all())
        candidates = []
        for name in names:
            text = _description_text(descriptions.get(name.casefold()))
            score = score_text(query, name, "", text)
            if query.strip() and score == 0:
                continue
            candidates.append((score, name))
        candidates.sort(key=lambda c: (-c[0], c[1].casefold()))
        # Without filters the first ``limit`` candidates are the answer; with them, more
        # may be needed to find ``limit`` that pass.
        budget = self.enrich if filters else min(self.enrich, limit)
        chosen = [name for _, name in candidates[:budget]]
        semaphore = asyncio.Semaphore(_CONCURRENCY)

        async def one(name: str) -> DatasetRecord:
            async with semaphore:
                modalities, parts = await asyncio.gather(
                    self.modalities(name), self.body_parts(name)
                )
            return self._record(name, descriptions.get(name.casefold()), modalities, parts)

        records = await asyncio.gather(*(one(name) for name in chosen))
        kept = []
        for record in records:
            if not passes_filters(record, filters, _KEYWORD_FILTERS):
                continue
            notes = " ".join((*record.keywords, *(t.label for t in record.imaging_methods)))
            score = score_text(query, record.title, notes, record.description)
            kept.append(replace(record, score=round(score, 4)))
        kept.sort(key=lambda r: (-r.score, r.title.casefold()))
        return kept[:limit]

    async def aget(self, record_id: str) -> DatasetRecord:
        """One collection by name (any case): modalities, body parts, licence, DOI, size."""
        name = await self._collection(record_id)
        modalities, parts, series, patients, descriptions = await asyncio.gather(
            self.modalities(name),
            self.body_parts(name),
            self.series_info(name),
            self.patients(name),
            self._describe_all(),
        )
        record = self._record(name, descriptions.get(name.casefold()), modalities, parts)
        licences = _first(series, "LicenseURI") or _first(series, "LicenseName")
        doi = record.doi or _doi(_first(series, "CollectionURI"))
        sizes = [_number(s.get("FileSize")) for s in series]
        summary = f"{len(patients)} patients, {len(series)} series"
        description = record.description or f"TCIA collection {name}: {summary}."
        return replace(
            record,
            description=description,
            doi=doi,
            url=f"https://doi.org/{doi}" if doi else record.url,
            license=_license(licences),
            image_count=len(series),
            size_bytes=int(sum(s for s in sizes if s is not None)) if series else None,
        )

    async def aimages(self, record_id: str) -> list[ImageRef]:
        """The series of a collection, as DICOM images (``download_url`` = ``getImage``)."""
        name = await self._collection(record_id)
        return [self.series_ref(s, name) for s in await self.series_info(name)]

    # -- the API, level by level ----------------------------------------------------------------

    async def collections(self) -> list[str]:
        """Every collection name (``getCollectionValues``)."""
        rows = await self._rows("getCollectionValues")
        return _values(rows, "Collection", self._client.url("getCollectionValues"))

    async def modalities(self, collection: str) -> list[str]:
        """The modality codes of a collection (``getModalityValues``)."""
        rows = await self._rows("getModalityValues", {"Collection": collection})
        return _values(rows, "Modality", self._client.url("getModalityValues"))

    async def body_parts(self, collection: str) -> list[str]:
        """The body parts examined in a collection (``getBodyPartValues``)."""
        rows = await self._rows("getBodyPartValues", {"Collection": collection})
        return _values(rows, "BodyPartExamined", self._client.url("getBodyPartValues"))

    async def patients(self, collection: str) -> list[dict[str, Any]]:
        """The patients of a collection (``getPatient``), with ``PatientID`` set."""
        rows = await self._rows("getPatient", {"Collection": collection})
        for row in rows:
            row.setdefault("PatientID", row.get("PatientId"))
        return rows

    async def studies(self, collection: str, patient_id: str | None = None) -> list[dict[str, Any]]:
        """The studies of a collection, or of one patient (``getPatientStudy``)."""
        params = {"Collection": collection, "PatientID": patient_id}
        return await self._rows("getPatientStudy", params)

    async def series_info(
        self,
        collection: str | None = None,
        *,
        patient_id: str | None = None,
        study_uid: str | None = None,
        modality: str | None = None,
    ) -> list[dict[str, Any]]:
        """Series objects (``getSeries``), filtered by any of the query keys."""
        params = {
            "Collection": collection,
            "PatientID": patient_id,
            "StudyInstanceUID": study_uid,
            "Modality": modality,
        }
        rows = await self._rows("getSeries", params)
        url = self._client.url("getSeries")
        for index, row in enumerate(rows):
            if not isinstance(row.get("SeriesInstanceUID"), str):
                raise RepositoryError(f"TCIA: {url} [{index}] has no 'SeriesInstanceUID'")
        return rows

    async def series_size(self, series_uid: str) -> tuple[int, int]:
        """``(bytes, DICOM objects)`` of a series (``getSeriesSize``)."""
        rows = await self._rows("getSeriesSize", {"SeriesInstanceUID": series_uid})
        url = self._client.url("getSeriesSize")
        size = _number(rows[0].get("TotalSizeInBytes")) if rows else None
        count = _number(rows[0].get("ObjectCount")) if rows else None
        if size is None or count is None:
            raise RecordNotFoundError(f"TCIA: {url} knows no series {series_uid!r}")
        return int(size), int(count)

    def series(
        self,
        collection: str | None = None,
        *,
        patient_id: str | None = None,
        study_uid: str | None = None,
        modality: str | None = None,
    ) -> list[ImageRef]:
        """Series as images, filtered like `series_info` (sync)."""
        from bioshare.repositories.base import run_sync

        rows = run_sync(
            self.series_info(
                collection, patient_id=patient_id, study_uid=study_uid, modality=modality
            )
        )
        return [self.series_ref(row, collection or str(row.get("Collection", ""))) for row in rows]

    def image_url(self, series_uid: str) -> str:
        """The ``getImage`` URL of a series: a zip of its DICOM files."""
        return f"{self.base_url}/getImage?SeriesInstanceUID={quote(series_uid, safe='')}"

    def series_ref(self, row: Mapping[str, Any], collection: str) -> ImageRef:
        """An `ImageRef` for a ``getSeries`` object."""
        uid = str(row["SeriesInstanceUID"])
        label = stripped(row.get("SeriesDescription")) or stripped(row.get("ProtocolName"))
        parts = [stripped(row.get("PatientID")), stripped(row.get("Modality")), label]
        return ImageRef(
            repository=self.name,
            id=uid,
            name=" / ".join(p for p in parts if p) or uid,
            dataset_id=collection,
            format="dicom",
            download_url=self.image_url(uid),
        )

    # -- records --------------------------------------------------------------------------------

    def _record(
        self,
        name: str,
        description: Mapping[str, Any] | None,
        modalities: Iterable[str],
        parts: Iterable[str],
    ) -> DatasetRecord:
        modalities, parts = list(modalities), list(parts)
        methods = [modality_term(m) for m in modalities]
        doi = _doi(stripped((description or {}).get("descriptionURI")))
        listing = f"{self.base_url}/getSeries?Collection={quote(name)}"
        url = f"https://doi.org/{doi}" if doi else listing
        return DatasetRecord(
            repository=self.name,
            id=name,
            title=name,
            description=_description_text(description),
            url=url,
            doi=doi,
            imaging_methods=tuple(dict.fromkeys(m for m in methods if m is not None)),
            keywords=tuple(dict.fromkeys((*modalities, *parts))),
            has_ome_zarr=False,
        )

    async def _collection(self, record_id: str) -> str:
        """The collection's canonical name (the API's names are case-sensitive)."""
        wanted = str(record_id).strip()
        names = await self.collections()
        for name in names:
            if name.casefold() == wanted.casefold():
                return name
        raise RecordNotFoundError(f"TCIA has no collection {record_id!r}")

    async def _describe_all(self) -> dict[str, dict[str, Any]]:
        """Descriptions by lower-case collection name; empty when the server refuses them."""
        if self._descriptions is not None:
            return self._descriptions
        try:
            rows = await self._rows("getCollectionDescriptions", client=self._once)
        except (ApiError, RepositoryError) as exc:
            log.info("TCIA collection descriptions unavailable: %s", exc)
            self._descriptions = {}  # not asked again by this adapter
            return {}
        self._descriptions = {
            str(row["collectionName"]).casefold(): row
            for row in rows
            if isinstance(row.get("collectionName"), str)
        }
        return self._descriptions

    async def _rows(
        self,
        endpoint: str,
        params: Mapping[str, Any] | None = None,
        *,
        client: ApiClient | None = None,
    ) -> list[dict[str, Any]]:
        """GET an endpoint: a list of objects (empty for HTTP 204 or an empty body)."""
        client = client or self._client
        query = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        url = client.url(endpoint)
        body = await aget_json(client, endpoint, query or None, label="TCIA", empty=[])
        if not isinstance(body, list):
            raise RepositoryError(
                f"TCIA: {url} answered {type(body).__name__}; expected a JSON list of objects"
            )
        for index, row in enumerate(body):
            if not isinstance(row, dict):
                raise RepositoryError(
                    f"TCIA: {url} [{index}] is {type(row).__name__}; expected an object"
                )
        return body


# -- helpers -----------------------------------------------------------------------------------


def _values(rows: list[dict[str, Any]], key: str, url: str) -> list[str]:
    values = []
    for index, row in enumerate(rows):
        value = row.get(key)
        if not isinstance(value, str):
            raise RepositoryError(f"TCIA: {url} [{index}] has no string {key!r}: {str(row)[:200]}")
        if value.strip():
            values.append(value.strip())
    return list(dict.fromkeys(values))


def _description_text(row: Mapping[str, Any] | None) -> str:
    text = stripped((row or {}).get("description"))
    return " ".join(html.unescape(_TAGS.sub(" ", text)).split())


def _first(rows: Iterable[Mapping[str, Any]], key: str) -> str | None:
    return next((str(r[key]).strip() for r in rows if stripped(r.get(key))), None)


_DOI = re.compile(r"10\.\d{4,9}/\S+")


def _doi(value: str | None) -> str | None:
    match = _DOI.search(value or "")
    return match.group(0).rstrip(".,;)") if match else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None
