"""The BioImage Archive (BIA, EMBL-EBI) as a bioshare repository.

Three services answer for the archive:

- full-text search, ``GET {bia}/v1/search/fts?query=&pagination.page=&pagination.page_size=``
  (Elasticsearch hits whose ``_source`` is a study with its datasets, organisms and
  imaging methods nested in; ``organism`` and ``imaging_method`` narrow it server-side);
- the bia-integrator API v2: ``/v2/search/study/accession?accession_id=`` finds a study,
  and the reverse links ``/v2/study/{uuid}/dataset``, ``/v2/dataset/{uuid}/image`` and
  ``/v2/image/{uuid}/image_representation`` (``page_size`` required, paged with
  ``start_from_uuid``) lead to the image representations whose ``image_format`` is
  ``.ome.zarr``;
- BioStudies (``{biostudies}/studies/{accession}``) for studies the integrator has not
  converted yet: their metadata, without streamable images.

OME-Zarr representations live at
``<host>/bioimaging-integrator-data/<acc>/<image>/<rep>.ome.zarr/0``; the former host
(``uk1s3.embassy.ebi.ac.uk/bia-integrator-data``) is rewritten to the configured one
(``BIOSHARE_BIA_ZARR_URL``), as for IDR.

Example::

    bia = BIA()
    hits = bia.search("nuclei segmentation", organism="Homo sapiens")
    image = bia.images(hits[0].id)[0].open()
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
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

__all__ = ["BIA", "normalize_bia_zarr_url"]

SEARCH_PAGE_SIZE = 100  # the search service's largest page
LINK_PAGE_SIZE = 500  # reverse links: any positive size is accepted
MAX_CONCURRENT = 16  # integrator requests in flight while listing a study's images
LANDING_PAGE = "https://www.ebi.ac.uk/biostudies/BioImages/studies/{accession}"
_ZARR_HOSTS = re.compile(
    r"^https?://(?:livingobjects\.ebi\.ac\.uk/bioimaging-integrator-data"
    r"|uk1s3\.embassy\.ebi\.ac\.uk/bia-integrator-data)/(.*)$",
    re.I,
)
_ACCESSION = re.compile(r"^S-[A-Z]+\d+$", re.I)


def normalize_bia_zarr_url(url: str, zarr_url: str | None = None) -> str:
    """Point a BIA OME-Zarr URL at the configured storage base.

    URLs under the current (``livingobjects.ebi.ac.uk/bioimaging-integrator-data``) or the
    former (``uk1s3.embassy.ebi.ac.uk/bia-integrator-data``) public bucket are rewritten to
    ``zarr_url`` (default ``service_url("bia_zarr")``); other URLs are returned unchanged.
    """
    match = _ZARR_HOSTS.match(url.strip())
    if not match:
        return url
    base = (zarr_url or config.service_url("bia_zarr")).rstrip("/")
    return f"{base}/{match.group(1)}"


class BIA(Repository):
    """The BioImage Archive: full-text search, integrator API v2 and BioStudies.

    Parameters
    ----------
    base_url
        The archive's API (default ``service_url("bia")``, ``BIOSHARE_BIA_URL``), which
        serves both ``/v1/search`` and ``/v2``.
    biostudies_url
        The BioStudies API (default ``service_url("biostudies")``).
    zarr_url
        The OME-Zarr storage base (default ``service_url("bia_zarr")``).
    timeout, retries, backoff
        Network settings of the underlying `bioshare._http.ApiClient`.

    Records are study accessions (``"S-BIAD634"``).
    """

    name = "bia"

    def __init__(
        self,
        base_url: str | None = None,
        *,
        biostudies_url: str | None = None,
        zarr_url: str | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        backoff: float = 0.25,
    ) -> None:
        self.base_url = (base_url or config.service_url("bia")).rstrip("/")
        self.zarr_url = (zarr_url or config.service_url("bia_zarr")).rstrip("/")
        self.client = ApiClient(
            self.base_url,
            name="BioImage Archive",
            timeout=timeout,
            retries=retries,
            backoff=backoff,
        )
        self.biostudies = ApiClient(
            biostudies_url or config.service_url("biostudies"),
            name="BioStudies",
            timeout=timeout,
            retries=retries,
            backoff=backoff,
        )

    def __repr__(self) -> str:
        return f"BIA({self.base_url!r}, zarr_url={self.zarr_url!r})"

    # -- the protocol ---------------------------------------------------------------------------

    async def asearch(self, query: str, *, limit: int = 20, **filters: Any) -> list[DatasetRecord]:
        """Studies matching ``query``, in the search service's order.

        ``organism`` and ``imaging_method`` filters that name a known term (common names
        included) go to the service as the scientific name or FBbi label; other wordings
        are left to `bioshare.search`, which matches parts of labels.
        """
        params: dict[str, Any] = {"query": query.strip()[:100] or "*"}
        for key, resolve in (("organism", organism_term), ("imaging_method", imaging_method_term)):
            term = resolve(str(filters[key])) if filters.get(key) else None
            if term is not None and term.curie:  # the service matches exact names only
                params[key] = term.label
        records: list[DatasetRecord] = []
        size = min(SEARCH_PAGE_SIZE, limit)
        page = 1
        while len(records) < limit:
            body = await self.client.aget_json(
                "/v1/search/fts",
                params=params | {"pagination.page": page, "pagination.page_size": size},
            )
            hits, total_pages = _search_page(body, self.client.url("/v1/search/fts"))
            records += [self._record(hit) for hit in hits]
            if len(hits) < size or page >= total_pages:
                break
            page += 1
        return records[:limit]

    async def aget(self, record_id: str) -> DatasetRecord:
        """One study by accession; from BioStudies when the integrator does not know it."""
        accession = _accession(record_id)
        lookup = asyncio.ensure_future(self._study(accession))
        try:
            hit = await self._search_hit(accession)
        except (ApiError, RepositoryError):
            hit = None  # the integrator's study, without organisms and methods, will do
        if hit is not None:
            lookup.cancel()  # the search document has organisms and methods too
            return self._record(hit)
        study = await lookup
        if study is not None:
            return self._record(study)
        return await self._from_biostudies(accession)

    async def aimages(self, record_id: str) -> list[ImageRef]:
        """Every image of a study, with the OME-Zarr URL of its converted representation."""
        accession = _accession(record_id)
        study = await self._study(accession)
        if study is None:
            await self._from_biostudies(accession)  # raises when BioStudies has none either
            return []
        limiter = asyncio.Semaphore(MAX_CONCURRENT)
        datasets = await self._links(f"/v2/study/{_uuid(study)}/dataset", limiter)
        per_dataset = await asyncio.gather(
            *(self._links(f"/v2/dataset/{_uuid(d)}/image", limiter) for d in datasets)
        )
        images = [image for found in per_dataset for image in found]
        representations = await asyncio.gather(
            *(self._links(f"/v2/image/{_uuid(i)}/image_representation", limiter) for i in images)
        )
        return [
            self._image_ref(accession, image, reps)
            for image, reps in zip(images, representations, strict=True)
        ]

    # -- requests -------------------------------------------------------------------------------

    async def _study(self, accession: str) -> dict[str, Any] | None:
        path = "/v2/search/study/accession"
        study = await self.client.aget_json(path, params={"accession_id": accession})
        if study is not None and not isinstance(study, dict):
            raise RepositoryError(
                f"{self.client.url(path)} answered {type(study).__name__}; expected a Study "
                "object or null"
            )
        return study

    async def _search_hit(self, accession: str) -> dict[str, Any] | None:
        body = await self.client.aget_json(
            "/v1/search/fts",
            params={"query": accession, "pagination.page": 1, "pagination.page_size": 10},
        )
        hits, _ = _search_page(body, self.client.url("/v1/search/fts"))
        return next((h for h in hits if h.get("accession_id") == accession), None)

    async def _links(self, path: str, limiter: asyncio.Semaphore) -> list[dict[str, Any]]:
        """Every document of a reverse link, page by page (``start_from_uuid``)."""
        documents: list[dict[str, Any]] = []
        params: dict[str, Any] = {"page_size": LINK_PAGE_SIZE}
        while True:
            async with limiter:
                page = await self.client.aget_json(path, params=params)
            if not isinstance(page, list):
                raise RepositoryError(
                    f"{self.client.url(path)} answered {type(page).__name__}; expected a list"
                )
            documents += page
            if len(page) < LINK_PAGE_SIZE:
                return documents
            params["start_from_uuid"] = _uuid(page[-1])

    async def _from_biostudies(self, accession: str) -> DatasetRecord:
        try:
            study = await self.biostudies.aget_json(f"/studies/{accession}")
        except ApiError as exc:
            if exc.status == 404:
                raise RecordNotFoundError(f"the BioImage Archive has no study {accession}") from exc
            raise
        return _biostudies_record(self.name, accession, study, self.biostudies.url("/studies"))

    # -- mapping --------------------------------------------------------------------------------

    def _record(self, study: Mapping[str, Any]) -> DatasetRecord:
        accession = study.get("accession_id")
        if not isinstance(accession, str) or not isinstance(study.get("title"), str):
            raise RepositoryError(
                f"{self.base_url}: a study without 'accession_id' or 'title': "
                f"{str(dict(study))[:200]}"
            )
        datasets = [d for d in study.get("dataset") or [] if isinstance(d, dict)]
        organisms = _unique(
            organism_term(o["scientific_name"])
            for d in datasets
            for entity in d.get("biological_entity") or []
            for o in entity.get("organism_classification") or []
            if o.get("scientific_name")
        )
        methods = _unique(
            imaging_method_term(name)
            for d in datasets
            for process in d.get("acquisition_process") or []
            for name in process.get("imaging_method_name") or []
        )
        images = [i for d in datasets for i in d.get("image") or []]
        counts = [d["image_count"] for d in datasets if isinstance(d.get("image_count"), int)]
        sizes = [
            d["file_reference_size_bytes"]
            for d in datasets
            if isinstance(d.get("file_reference_size_bytes"), int)
        ]
        return DatasetRecord(
            repository=self.name,
            id=accession,
            title=study["title"],
            description=str(study.get("description") or ""),
            url=LANDING_PAGE.format(accession=accession),
            doi=study.get("doi") or None,
            license=study.get("licence"),
            authors=tuple(
                str(a["display_name"]) for a in study.get("author") or [] if a.get("display_name")
            ),
            release_date=study.get("release_date"),
            organisms=organisms,
            imaging_methods=methods,
            keywords=tuple(str(k) for k in study.get("keyword") or []),
            image_count=sum(counts) if counts else None,
            size_bytes=sum(sizes) if sizes else None,
            thumbnail_url=_thumbnail(images, datasets),
            has_ome_zarr=any(_metadata(i, "recommended_vizarr_representation") for i in images),
            accessions=(accession,),
        )

    def _image_ref(
        self, accession: str, image: Mapping[str, Any], representations: list[dict[str, Any]]
    ) -> ImageRef:
        zarr = next(
            (
                r
                for r in representations
                if r.get("image_format") == ".ome.zarr" and r.get("file_uri")
            ),
            None,
        )
        name = image.get("label") or _metadata(image, "file_pattern") or _uuid(image)
        ref = ImageRef(
            repository=self.name,
            id=_uuid(image),
            name=str(name),
            dataset_id=accession,
            thumbnail_url=_first(_metadata(image, "thumbnail_uri")),
        )
        if zarr is None:
            return ref
        sizes = [zarr.get(f"size_{axis}") for axis in "tczyx"]
        shape = tuple(s for s in sizes if isinstance(s, int))
        return ImageRef(
            repository=ref.repository,
            id=ref.id,
            name=ref.name,
            zarr_url=normalize_bia_zarr_url(str(zarr["file_uri"][0]), self.zarr_url),
            shape=shape if len(shape) == 5 else None,
            dims=("t", "c", "z", "y", "x") if len(shape) == 5 else None,
            dataset_id=accession,
            thumbnail_url=ref.thumbnail_url,
        )


# -- helpers --------------------------------------------------------------------------------------


def _accession(record_id: str) -> str:
    text = str(record_id).strip().upper()
    if not _ACCESSION.match(text):
        raise RecordNotFoundError(
            f"{record_id!r} is not a BioImage Archive accession; expected e.g. 'S-BIAD634'"
        )
    return text


def _uuid(document: Mapping[str, Any]) -> str:
    value = document.get("uuid") if isinstance(document, Mapping) else None
    if not isinstance(value, str):
        raise RepositoryError(f"a BioImage Archive document without 'uuid': {document!r:.200}")
    return value


def _search_page(body: Any, url: str) -> tuple[list[dict[str, Any]], int]:
    """(study documents, total pages) of a full-text search answer."""
    hits = body.get("hits") if isinstance(body, dict) else None
    if not isinstance(hits, dict) or not isinstance(hits.get("hits"), list):
        raise RepositoryError(f"{url} answered without 'hits.hits'; expected Elasticsearch hits")
    documents = []
    for index, hit in enumerate(hits["hits"]):
        source = hit.get("_source") if isinstance(hit, dict) else None
        if not isinstance(source, dict):
            raise RepositoryError(f"{url} hits.hits[{index}] has no '_source' object")
        documents.append(source)
    pagination = body.get("pagination") or {}
    total_pages = pagination.get("total_pages") if isinstance(pagination, dict) else None
    return documents, total_pages if isinstance(total_pages, int) else 1


def _metadata(document: Mapping[str, Any], name: str) -> Any:
    """A value from a document's ``additional_metadata`` list (``{name, value: {name: x}}``)."""
    for item in document.get("additional_metadata") or []:
        if isinstance(item, dict) and item.get("name") == name:
            value = item.get("value")
            return value.get(name) if isinstance(value, dict) else value
    return None


def _first(value: Any) -> str | None:
    if isinstance(value, list):
        return str(value[0]) if value else None
    return str(value) if value else None


def _thumbnail(images: list[Any], datasets: list[dict[str, Any]]) -> str | None:
    for image in images:
        if isinstance(image, dict) and (url := _first(_metadata(image, "thumbnail_uri"))):
            return url
    return next(
        (_first(d.get("example_image_uri")) for d in datasets if d.get("example_image_uri")), None
    )


def _unique(terms: Iterable[Term]) -> tuple[Term, ...]:
    return tuple(dict.fromkeys(terms))


def _biostudies_record(name: str, accession: str, study: Any, url: str) -> DatasetRecord:
    """A record from a BioStudies submission: attributes of the study and its sections."""
    section = study.get("section") if isinstance(study, dict) else None
    if not isinstance(section, dict):
        raise RepositoryError(f"{url}/{accession} answered without a 'section' object")
    top = _attributes(study.get("attributes"))
    own = _attributes(section.get("attributes"))
    subsections = [s for s in _flatten(section.get("subsections")) if isinstance(s, dict)]

    def values(kind: str, key: str) -> list[str]:
        return [
            value
            for s in subsections
            if str(s.get("type", "")).casefold() == kind
            for k, value in _attribute_pairs(s.get("attributes"))
            if k.casefold() == key
        ]

    title = own.get("title") or top.get("title")
    if not title:
        raise RepositoryError(f"{url}/{accession} has no 'Title' attribute")
    return DatasetRecord(
        repository=name,
        id=accession,
        title=title,
        description=own.get("description", ""),
        url=LANDING_PAGE.format(accession=accession),
        doi=own.get("doi") or top.get("doi"),
        license=own.get("license") or top.get("license"),
        authors=tuple(values("author", "name")),
        release_date=top.get("releasedate"),
        organisms=_unique(organism_term(v) for v in values("biosample", "organism")),
        imaging_methods=_unique(
            imaging_method_term(v) for v in values("image acquisition", "imaging method")
        ),
        keywords=tuple(
            v for k, v in _attribute_pairs(section.get("attributes")) if k.casefold() == "keyword"
        ),
        accessions=(accession,),
    )


def _attribute_pairs(attributes: Any) -> list[tuple[str, str]]:
    return [
        (str(a["name"]), str(a.get("value", "")))
        for a in attributes or []
        if isinstance(a, dict) and a.get("name")
    ]


def _attributes(attributes: Any) -> dict[str, str]:
    """First value of each attribute, keyed by lower-case name without spaces."""
    found: dict[str, str] = {}
    for key, value in _attribute_pairs(attributes):
        found.setdefault(key.casefold().replace(" ", ""), value)
    return found


def _flatten(subsections: Any) -> Iterable[Any]:
    """BioStudies nests sections, and lists of sections in tables (lists of lists)."""
    for item in subsections or []:
        if isinstance(item, list):
            yield from _flatten(item)
        else:
            yield item
            if isinstance(item, dict):
                yield from _flatten(item.get("subsections"))
