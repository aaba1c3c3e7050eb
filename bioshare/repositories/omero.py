"""Any OMERO server as a bioshare repository, through its JSON API and webclient.

OMERO (openmicroscopy.org) serves its data model over a JSON API under ``/api/v0/m/``
(projects, datasets, images, screens, plates, wells), paged with ``offset``/``limit`` and
answered as ``{"data": [...], "meta": {"totalCount", "maxLimit", "limit", "offset"}}``.
Key-value ("map") annotations and thumbnails come from the webclient:
``/webclient/api/annotations/?type=map&project=<id>`` and
``/webclient/render_thumbnail/<imageId>/``.

Records are projects (``project:<id>``) and screens (``screen:<id>``). The JSON API has
no full-text search, so `OMERO.search` lists every project and screen and ranks them by
the query words (see `score_text`). The IDR adapter (`bioshare.repositories.idr`) builds
on this one.

Example::

    lab = OMERO("https://omero.lab.org", name="omero:lab")
    for record in lab.search("mitosis HeLa", limit=5):
        print(record.id, record.title)
    images = lab.images("project:51")
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bioshare._http import ApiClient
from bioshare.repositories._common import aget_json, check_filters, passes_filters, stripped
from bioshare.repositories.base import (
    DatasetRecord,
    ImageRef,
    RecordNotFoundError,
    Repository,
    RepositoryError,
    Term,
)
from bioshare.repositories.terms import imaging_method_term, organism_term

__all__ = [
    "KINDS",
    "OMERO",
    "Annotations",
    "imaging_method_term",
    "organism_term",
    "score_text",
]

log = logging.getLogger(__name__)

KINDS = ("project", "screen")
"""The OMERO containers that are records: ``project:<id>`` and ``screen:<id>``."""

API = "/api/v0/m"
DEFAULT_PAGE_SIZE = 200  # OMERO's own default ``limit``; its documented maxLimit is 500
_ANNOTATION_BATCH = 50  # object ids per webclient annotations request
_CONCURRENCY = 8  # concurrent requests when walking datasets or plates
_SEARCH_FILTERS = ("organism", "imaging_method", "license", "has_ome_zarr")
_DOI = re.compile(r"10\.\d{4,9}/[^\s\"'<>]+")
_WORD = re.compile(r"\w+", re.UNICODE)

# map-annotation keys (compared case-insensitively) that fill record fields
ORGANISM_KEYS = ("Organism",)
IMAGING_METHOD_KEYS = ("Imaging Method",)
LICENSE_KEYS = ("License", "Licence")
DATA_DOI_KEYS = ("Data DOI", "DOI")
PUBLICATION_DOI_KEYS = ("Publication DOI",)
AUTHOR_KEYS = ("Publication Authors", "Authors")
RELEASE_KEYS = ("Release Date",)
KEYWORD_KEYS = ("Study Type", "Screen Type", "Keywords")
TITLE_KEYS = ("Study Title",)


# -- annotations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Annotations:
    """The key-value pairs of one OMERO object, in server order (keys may repeat)."""

    pairs: tuple[tuple[str, str], ...] = ()

    def values(self, *keys: str) -> list[str]:
        """Non-empty values of any of ``keys`` (case-insensitive), without duplicates."""
        wanted = {k.casefold() for k in keys}
        found = [v.strip() for k, v in self.pairs if k.strip().casefold() in wanted]
        return list(dict.fromkeys(v for v in found if v))

    def first(self, *keys: str) -> str | None:
        """The first value of the first of ``keys`` that has one."""
        for key in keys:
            values = self.values(key)
            if values:
                return values[0]
        return None

    def text(self) -> str:
        """All values, for text search."""
        return " ".join(v for _, v in self.pairs)


# -- scoring -----------------------------------------------------------------------------------


def score_text(query: str, name: str, annotations: str = "", description: str = "") -> float:
    """Relevance of a container to ``query``, between 0 and 1.

    Each query word (lower-cased run of letters and digits) scores the weight of the best
    field where some word starts with it: 3 in the name, 2 in an annotation value, 1 in
    the description; the sum is divided by 3 x the number of query words. So a container
    whose name holds every query word scores 1, one that matches nothing scores 0.
    """
    words = _words(query)
    if not words:
        return 0.0
    fields = ((3.0, _words(name)), (2.0, _words(annotations)), (1.0, _words(description)))
    total = 0.0
    for word in dict.fromkeys(words):
        total += max(
            (weight for weight, field in fields if any(w.startswith(word) for w in field)),
            default=0.0,
        )
    return total / (3.0 * len(dict.fromkeys(words)))


def _words(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(text or "")]


# -- the adapter -------------------------------------------------------------------------------


class OMERO(Repository):
    """An OMERO server's public data, through its JSON API.

    Parameters
    ----------
    base_url
        The server's web address, e.g. ``"https://omero.lab.org"`` (the JSON API is at
        ``<base_url>/api/v0/``).
    name
        The repository name used in records (default ``"omero"``), e.g. ``"omero:lab"``.
    zarr_url_template
        Where the server's images are published as OME-Zarr, if anywhere: a `str.format`
        template with fields ``id`` (image or plate id), ``kind`` (``"image"``,
        ``"plate"``) and ``base_url``, e.g. ``"https://s3.lab.org/zarr/{id}.zarr"``.
        Without it images have no ``zarr_url`` and cannot be streamed.
    timeout, retries, backoff
        Network settings of the underlying `bioshare._http.ApiClient`.
    page_size
        ``limit`` of the first request of a listing; later pages never ask for more than
        the server's ``meta.maxLimit``.
    """

    name = "omero"

    def __init__(
        self,
        base_url: str,
        *,
        name: str | None = None,
        zarr_url_template: str | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        backoff: float = 0.25,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"an OMERO server is named by its http(s) URL, got {base_url!r}")
        if name:
            self.name = name  # per instance ("omero:lab")
        self.base_url = base_url.rstrip("/")
        self.zarr_url_template = zarr_url_template
        self.page_size = max(1, int(page_size))
        self._max_limit: int | None = None  # learnt from the server's meta.maxLimit
        self._client = ApiClient(
            self.base_url, name=self.label, timeout=timeout, retries=retries, backoff=backoff
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r}, name={self.name!r})"

    @property
    def label(self) -> str:
        """The server's name in messages."""
        return f"OMERO server {self.base_url}"

    # -- the protocol ---------------------------------------------------------------------------

    async def asearch(self, query: str, *, limit: int = 20, **filters: Any) -> list[DatasetRecord]:
        """Projects and screens matching ``query``, best first (see `score_text`).

        Filters: ``organism``, ``imaging_method`` (matched against the annotation terms,
        by CURIE, name or common name), ``license`` and ``has_ome_zarr``.
        """
        filters = check_filters(filters, _SEARCH_FILTERS)
        if limit <= 0:
            return []
        containers, applied = await self._candidates(filters)
        local = {k: v for k, v in filters.items() if k not in applied}
        annotations = await self._annotations_of(containers)
        records = []
        for kind, obj in containers:
            notes = annotations.get((kind, _id(obj, self._where(kind))), Annotations())
            record = self._record(kind, obj, notes)
            if not passes_filters(record, local):
                continue
            score = score_text(query, stripped(obj.get("Name")), notes.text(), record.description)
            if query.strip() and score == 0:
                continue
            records.append(replace(record, score=round(score, 4)))
        records.sort(key=lambda r: (-r.score, r.title.casefold(), r.id))
        return records[:limit]

    async def aget(self, record_id: str) -> DatasetRecord:
        """One project or screen by its id (``"project:101"``, ``"screen:3"``)."""
        kind, oid = await self._resolve(record_id)
        obj = await self._object(kind, oid)
        notes, (thumbnail, count) = await asyncio.gather(
            self._annotations(kind, [oid]), self._preview(kind, oid)
        )
        record = self._record(kind, obj, notes.get(oid, Annotations()))
        return replace(record, thumbnail_url=thumbnail, image_count=count)

    async def aimages(self, record_id: str) -> list[ImageRef]:
        """The images of a project (or ``dataset:<id>``), or the plates of a screen."""
        kind, oid = await self._resolve(record_id, kinds=(*KINDS, "dataset"))
        if kind == "screen":
            screen = await self._object("screen", oid)
            plates = await self._list(f"{API}/screens/{oid}/plates/", missing=f"screen {oid}")
            return [self._plate_ref(p, screen, f"screen:{oid}") for p in plates]
        if kind == "dataset":
            dataset = await self._object("dataset", oid)
            return await self._dataset_images(oid, dataset, f"dataset:{oid}")
        project = await self._object("project", oid)
        datasets = await self._list(f"{API}/projects/{oid}/datasets/", missing=f"project {oid}")
        semaphore = asyncio.Semaphore(_CONCURRENCY)

        async def one(dataset: dict[str, Any]) -> list[ImageRef]:
            async with semaphore:
                did = _id(dataset, self._where("dataset"))
                return await self._dataset_images(did, project, f"project:{oid}")

        batches = await asyncio.gather(*(one(d) for d in datasets))
        return [ref for batch in batches for ref in batch]

    # -- records --------------------------------------------------------------------------------

    def _record(self, kind: str, obj: Mapping[str, Any], notes: Annotations) -> DatasetRecord:
        """A `DatasetRecord` from a project/screen object and its annotations."""
        oid = _id(obj, self._where(kind))
        name = stripped(obj.get("Name")) or f"{kind} {oid}"
        return DatasetRecord(
            repository=self.name,
            id=f"{kind}:{oid}",
            title=notes.first(*TITLE_KEYS) or name,
            description=stripped(obj.get("Description")),
            url=f"{self.base_url}/webclient/?show={kind}-{oid}",
            doi=_doi(notes),
            license=_license(notes.first(*LICENSE_KEYS)),
            authors=tuple(_authors(notes.first(*AUTHOR_KEYS))),
            release_date=_date(notes.first(*RELEASE_KEYS)),
            organisms=_terms(notes.values(*ORGANISM_KEYS), organism_term),
            imaging_methods=_terms(notes.values(*IMAGING_METHOD_KEYS), imaging_method_term),
            keywords=tuple(notes.values(*KEYWORD_KEYS)),
            has_ome_zarr=self.zarr_url_template is not None,
        )

    def _zarr_url(self, kind: str, oid: int, container: Mapping[str, Any]) -> str | None:
        """The OME-Zarr URL of an image or plate (``kind``) of ``container``, if published."""
        if not self.zarr_url_template:
            return None
        try:
            return self.zarr_url_template.format(id=oid, kind=kind, base_url=self.base_url)
        except (KeyError, IndexError, ValueError) as exc:
            raise RepositoryError(
                f"zarr_url_template {self.zarr_url_template!r} of {self.label} is not a valid "
                f"template: {exc!r}; expected fields among {{id}}, {{kind}}, {{base_url}}"
            ) from None

    def _thumbnail(self, image_id: int) -> str:
        return f"{self.base_url}/webclient/render_thumbnail/{image_id}/"

    def _image_ref(
        self, image: Mapping[str, Any], container: Mapping[str, Any], record_id: str
    ) -> ImageRef:
        where = self._where("image")
        iid = _id(image, where)
        shape, dtype = _pixels(image.get("Pixels"), f"{where} {iid}")
        return ImageRef(
            repository=self.name,
            id=str(iid),
            name=stripped(image.get("Name")) or f"image {iid}",
            zarr_url=self._zarr_url("image", iid, container),
            shape=shape,
            dtype=dtype,
            dims=tuple("tczyx") if shape else None,
            dataset_id=record_id,
            thumbnail_url=self._thumbnail(iid),
        )

    def _plate_ref(
        self, plate: Mapping[str, Any], screen: Mapping[str, Any], record_id: str
    ) -> ImageRef:
        pid = _id(plate, self._where("plate"))
        return ImageRef(
            repository=self.name,
            id=f"plate:{pid}",
            name=stripped(plate.get("Name")) or f"plate {pid}",
            zarr_url=self._zarr_url("plate", pid, screen),
            dataset_id=record_id,
        )

    # -- candidates for search (IDR narrows them with its search engine) -------------------------

    async def _candidates(
        self, filters: Mapping[str, Any]
    ) -> tuple[list[tuple[str, dict[str, Any]]], set[str]]:
        """The ``(kind, object)`` that may match, and the names of the filters already applied.

        Here: every project and screen, no filter applied (they are applied to the records).
        """
        return await self._containers(), set()

    async def _containers(self) -> list[tuple[str, dict[str, Any]]]:
        """Every project and screen, as ``(kind, object)``."""
        projects, screens = await asyncio.gather(
            self._list(f"{API}/projects/"), self._list(f"{API}/screens/")
        )
        return [("project", p) for p in projects] + [("screen", s) for s in screens]

    # -- JSON API -------------------------------------------------------------------------------

    async def _resolve(self, record_id: str, kinds: Sequence[str] = KINDS) -> tuple[str, int]:
        """``"project:101"`` -> ``("project", 101)``."""
        kind, _, number = str(record_id).strip().partition(":")
        if kind in kinds and number.isdigit():
            return kind, int(number)
        expected = " or ".join(f"'{k}:<id>'" for k in kinds)
        raise RecordNotFoundError(
            f"{self.label} has no record {record_id!r}; record ids look like {expected}"
        )

    async def _object(self, kind: str, oid: int) -> dict[str, Any]:
        """``GET /api/v0/m/<kind>s/<id>/`` -> the object under ``data``."""
        path = f"{API}/{kind}s/{oid}/"
        body = await self._get(path, missing=f"{kind} {oid}")
        data = _require(body, "data", dict, self._client.url(path))
        _id(data, f"{self._client.url(path)} data")
        return data

    async def _list(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        limit: int | None = None,
        missing: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every object of a paged listing (or the first ``limit``), following ``offset``."""
        items: list[dict[str, Any]] = []
        url = self._client.url(path)
        while limit is None or len(items) < limit:
            want = self.page_size if limit is None else min(self.page_size, limit - len(items))
            if self._max_limit:
                want = min(want, self._max_limit)
            query = {**(params or {}), "offset": len(items), "limit": want}
            body = await self._get(path, query, missing=missing)
            data = _require(body, "data", list, url)
            meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
            max_limit = meta.get("maxLimit")
            if isinstance(max_limit, int) and max_limit > 0:
                self._max_limit = max_limit
            for index, item in enumerate(data):
                if not isinstance(item, dict):
                    raise RepositoryError(
                        f"{self.label}: {url} data[{index}] is {type(item).__name__}; "
                        "expected an object"
                    )
            items.extend(data)
            total = meta.get("totalCount")
            if not data or (isinstance(total, int) and len(items) >= total):
                break
            if not isinstance(total, int) and len(data) < want:
                break
        return items if limit is None else items[:limit]

    async def _get(
        self, path: str, params: Mapping[str, Any] | None = None, *, missing: str | None = None
    ) -> Any:
        """GET JSON; a 404 means ``missing`` does not exist, a broken body a `RepositoryError`."""
        return await aget_json(self._client, path, params, label=self.label, missing=missing)

    async def _dataset_images(
        self, did: int, container: Mapping[str, Any], record_id: str
    ) -> list[ImageRef]:
        images = await self._list(f"{API}/datasets/{did}/images/", missing=f"dataset {did}")
        return [self._image_ref(image, container, record_id) for image in images]

    async def _preview(self, kind: str, oid: int) -> tuple[str | None, int | None]:
        """(thumbnail URL of the first image, image count) of a project or screen."""
        if kind == "project":
            datasets = await self._list(
                f"{API}/projects/{oid}/datasets/", {"childCount": "true"}, missing=f"{kind} {oid}"
            )
            counts = [d.get("omero:childCount") for d in datasets]
            count = sum(c for c in counts if isinstance(c, int)) if datasets else 0
            for dataset in datasets:
                if dataset.get("omero:childCount") == 0:
                    continue
                did = _id(dataset, self._where("dataset"))
                images = await self._list(f"{API}/datasets/{did}/images/", limit=1)
                if images:
                    return self._thumbnail(_id(images[0], self._where("image"))), count
            return None, count
        plates = await self._list(f"{API}/screens/{oid}/plates/", limit=1, missing=f"{kind} {oid}")
        if not plates:
            return None, None
        pid = _id(plates[0], self._where("plate"))
        wells = await self._list(f"{API}/plates/{pid}/wells/", limit=1)
        for well in wells:
            for sample in well.get("WellSamples") or []:
                image = sample.get("Image") if isinstance(sample, dict) else None
                if isinstance(image, dict) and "@id" in image:
                    return self._thumbnail(_id(image, self._where("image"))), None
        return None, None

    # -- webclient annotations -----------------------------------------------------------------

    async def _annotations_of(
        self, containers: Iterable[tuple[str, Mapping[str, Any]]]
    ) -> dict[tuple[str, int], Annotations]:
        """Map annotations of many projects and screens, by ``(kind, id)``."""
        ids: dict[str, list[int]] = {kind: [] for kind in KINDS}
        for kind, obj in containers:
            ids.setdefault(kind, []).append(_id(obj, self._where(kind)))
        found = await asyncio.gather(*(self._annotations(k, v) for k, v in ids.items() if v))
        kinds = [k for k, v in ids.items() if v]
        return {
            (kind, oid): notes
            for kind, by_id in zip(kinds, found, strict=True)
            for oid, notes in by_id.items()
        }

    async def _annotations(self, kind: str, ids: Sequence[int]) -> dict[int, Annotations]:
        """Map annotations of objects of one kind, by id (batched requests)."""
        batches = [ids[i : i + _ANNOTATION_BATCH] for i in range(0, len(ids), _ANNOTATION_BATCH)]
        semaphore = asyncio.Semaphore(_CONCURRENCY)

        async def one(batch: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
            params = {"type": "map", kind: [str(i) for i in batch]}
            async with semaphore:
                body = await self._get("/webclient/api/annotations/", params)
            return _parse_annotations(body, self._client.url("/webclient/api/annotations/"), batch)

        pairs: dict[int, list[tuple[str, str]]] = {}
        results = await asyncio.gather(*(one(b) for b in batches))
        for result in results:
            for oid, values in result.items():
                pairs.setdefault(oid, []).extend(values)
        return {oid: Annotations(tuple(values)) for oid, values in pairs.items()}

    def _where(self, kind: str) -> str:
        return f"{self.label} {kind}"


# -- parsing helpers ---------------------------------------------------------------------------


def _parse_annotations(body: Any, url: str, ids: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
    annotations = _require(body, "annotations", list, url)
    single = ids[0] if len(ids) == 1 else None
    result: dict[int, list[tuple[str, str]]] = {}
    for index, annotation in enumerate(annotations):
        where = f"{url} annotations[{index}]"
        if not isinstance(annotation, dict):
            raise RepositoryError(f"{where} is {type(annotation).__name__}; expected an object")
        values = annotation.get("values")
        if not isinstance(values, list):
            raise RepositoryError(f"{where}.values is missing or not a list of [key, value]")
        parent = (annotation.get("link") or {}).get("parent") or {}
        oid = parent.get("id", single)
        if not isinstance(oid, int):
            raise RepositoryError(f"{where}.link.parent.id is missing; expected the object id")
        pairs = result.setdefault(oid, [])
        for pair in values:
            if not (isinstance(pair, list | tuple) and len(pair) == 2):
                raise RepositoryError(f"{where}.values holds {pair!r}; expected [key, value]")
            pairs.append((str(pair[0]), "" if pair[1] is None else str(pair[1])))
    return result


def _require(body: Any, key: str, kind: type, url: str) -> Any:
    """``body[key]``, checked to be a ``kind``; else a `RepositoryError` naming URL and field."""
    if not isinstance(body, dict):
        raise RepositoryError(f"{url} answered {type(body).__name__}; expected a JSON object")
    if key not in body:
        raise RepositoryError(f"{url} answered without the field {key!r}")
    value = body[key]
    if not isinstance(value, kind):
        raise RepositoryError(
            f"{url} field {key!r} is {type(value).__name__}; expected {kind.__name__}"
        )
    return value


def _id(obj: Mapping[str, Any], where: str) -> int:
    value = obj.get("@id")
    if isinstance(value, bool) or not isinstance(value, int):
        raise RepositoryError(f"{where} object without an integer '@id': {str(obj)[:200]}")
    return value


def _pixels(pixels: Any, where: str) -> tuple[tuple[int, ...] | None, str | None]:
    """(shape in t, c, z, y, x order, dtype) from an image's ``Pixels``."""
    if not isinstance(pixels, dict):
        return None, None
    shape = []
    for axis in "TCZYX":
        size = pixels.get(f"Size{axis}")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise RepositoryError(f"{where}: Pixels.Size{axis} is {size!r}; expected an integer")
        shape.append(size)
    kind = pixels.get("Type")
    dtype = kind.get("value") if isinstance(kind, dict) else None
    return tuple(shape), dtype if isinstance(dtype, str) else None


def _terms(values: Iterable[str], make: Any) -> tuple[Term, ...]:
    return tuple(dict.fromkeys(make(v) for v in values))


def _doi(notes: Annotations) -> str | None:
    """The dataset DOI (``Data DOI``), else the publication's, as a bare ``10.x/y``."""
    for value in (*notes.values(*DATA_DOI_KEYS), *notes.values(*PUBLICATION_DOI_KEYS)):
        match = _DOI.search(value)
        if match:
            return match.group(0).rstrip(".,;)]")
    return None


_CC = re.compile(r"^cc[\s_-]*(0|by(?:[\s_-]*(?:nc|nd|sa))*)[\s_-]*(\d\.\d)?$", re.IGNORECASE)
_CC_URL = re.compile(
    r"creativecommons\.org/(?:licenses/([a-z-]+)/(\d\.\d)|publicdomain/zero/(1\.0))", re.I
)


def _license(value: str | None) -> str | None:
    """An SPDX id for Creative Commons licences (``"CC BY 4.0"`` -> ``"CC-BY-4.0"``)."""
    if not value:
        return None
    text = value.strip()
    url = _CC_URL.search(text)
    if url:
        if url.group(3):
            return "CC0-1.0"
        return f"CC-{url.group(1).upper()}-{url.group(2)}"
    match = _CC.match(text)
    if match:
        kind = re.sub(r"[\s_-]+", "-", match.group(1)).upper()
        version = match.group(2) or ("1.0" if kind == "0" else "4.0")
        return f"CC0-{version}" if kind == "0" else f"CC-{kind}-{version}"
    return text


def _authors(value: str | None) -> list[str]:
    if not value:
        return []
    return [a.strip() for a in re.split(r"[;,]", value) if a.strip()]


def _date(value: str | None) -> str | None:
    if not value:
        return None
    match = re.match(r"\d{4}-\d{2}-\d{2}", value.strip())
    return match.group(0) if match else value.strip()
