"""SSBD (Systems Science of Biological Dynamics database, RIKEN) as a bioshare repository.

SSBD serves its datasets through a django-tastypie REST API, version 3, under
``<base>/api/v3/`` (base ``service_url("ssbd")``, ``https://ssbd.qbic.riken.jp/SSBD``;
``BIOSHARE_SSBD_URL``). This adapter reads the ``data`` resource:

- ``GET <base>/api/v3/data/?format=json&limit=<n>&offset=<k>`` lists datasets as
  ``{"meta": {"limit", "next", "offset", "previous", "total_count"}, "objects": [...]}``;
  the server caps ``limit`` (tastypie's ``max_limit``, 1000 by default) and ``next`` is
  null on the last page;
- ``GET <base>/api/v3/data/<id>/?format=json`` answers one object, 404 for unknown ids.

Tastypie filters (``description__icontains=``) are AND-ed and only some fields allow them,
so `SSBD.search` reads every page of the listing (one request for SSBD's ~700 objects)
and ranks locally with `bioshare.repositories.omero.score_text`: the title weighs most,
then organism, strain, gene, imaging method and data type, then description and method
summary. Filters (``organism``, ``imaging_method``, ``license``, ``has_ome_zarr``) match
the records' NCBITaxon/FBbi terms, so ``organism="nematode"`` finds ``"C. elegans"``.

Field names (all in `Fields`): those SSBD's own examples show (openssbd Py_SSBDapi
notebooks, OpenSSBD ``api.py`` and its REST documentation) are ``resource_uri`` (its
last number is the id when there is no ``id``), ``description``, ``organism``, ``gene``,
``orf``, ``datatype``, ``basedon``, ``method_summary``, ``license``, ``release``,
``localID``, ``bdmlID`` and, in the older nested ``meta_data`` object (also read),
``title``, ``contributors`` and ``name``. The others are assumptions, after the SSBD
ontology's dataset properties: ``id``, ``title`` at the top level, ``strain``,
``imaging_method``, ``doi``, ``contact`` (an embedded object or list with ``name``),
``ome_zarr`` (an OME-Zarr URL or a list of them: the ontology's
``has_s3_endpoint``), ``files`` (file names, or objects with ``name`` and ``url``),
``image_count`` and ``size`` (bytes).

Images: `SSBD.images` gives one `ImageRef` per OME-Zarr URL (streamable with
``ImageRef.open()``); a dataset without OME-Zarr gives one per listed file, with
``zarr_url`` None.

Example::

    ssbd = SSBD()
    hits = ssbd.search("nuclear division", organism="C. elegans")
    image = ssbd.images(hits[0].id)[0].open()   # lazy xarray.DataArray
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from bioshare import config
from bioshare._http import ApiClient, ApiError
from bioshare.repositories._common import check_filters
from bioshare.repositories.base import (
    DatasetRecord,
    ImageRef,
    RecordNotFoundError,
    Repository,
    RepositoryError,
    Term,
)
from bioshare.repositories.omero import score_text
from bioshare.repositories.terms import imaging_method_term, organism_term

__all__ = ["LANDING_URL", "SSBD", "Fields"]

DATA = "/api/v3/data/"
LANDING_URL = "https://ssbd.riken.jp/database/dataset/{id}/"
"""The public landing page of a dataset (the record's ``url``)."""

PAGE_SIZE = 1000  # tastypie's default max_limit: SSBD answers at most this many per page
_MAX_PAGES = 1000
_SEARCH_FILTERS = ("organism", "imaging_method", "license", "has_ome_zarr")
_ID_IN_URI = re.compile(r"/(\d+)/?$")
_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:)", re.I)
_CC = re.compile(r"^CC[\s_-]*(BY(?:[\s_-]*(?:NC|SA|ND))*)[\s_-]*v?(\d\.\d)$", re.I)
_AUTHOR_START = re.compile(r",\s*(?=[A-Z][\w'\u2019-]+,)")


class Fields:
    """The field names of an SSBD v3 ``data`` object that this adapter reads (see module)."""

    ID = "id"
    RESOURCE_URI = "resource_uri"
    TITLE = "title"
    DESCRIPTION = "description"
    METHOD_SUMMARY = "method_summary"
    ORGANISM = "organism"
    STRAIN = "strain"
    GENE = "gene"
    ORF = "orf"
    DATATYPE = "datatype"
    BASED_ON = "basedon"
    IMAGING_METHOD = "imaging_method"
    LICENSE = "license"
    RELEASE = "release"
    DOI = "doi"
    LOCAL_ID = "localID"
    BDML_ID = "bdmlID"
    CONTRIBUTORS = "contributors"
    CONTACT = "contact"
    CONTACT_NAME = "name"  # the corresponding author, in the older ``meta_data`` object
    OME_ZARR = "ome_zarr"
    FILES = "files"
    IMAGE_COUNT = "image_count"
    SIZE = "size"
    NESTED = "meta_data"  # older layout: most fields inside this object


class SSBD(Repository):
    """The SSBD database through its REST API v3 (``data`` resource).

    Parameters
    ----------
    base_url
        SSBD's API base, ending in ``/SSBD`` (default ``service_url("ssbd")``,
        ``BIOSHARE_SSBD_URL``).
    timeout, retries, backoff
        Network settings of the underlying `bioshare._http.ApiClient`.

    Record ids are SSBD's numeric dataset ids (``"12"``).
    """

    name = "ssbd"

    def __init__(
        self,
        base_url: str | None = None,
        *,
        timeout: float | None = None,
        retries: int | None = None,
        backoff: float = 0.25,
    ) -> None:
        self.base_url = (base_url or config.service_url("ssbd")).rstrip("/")
        self.client = ApiClient(
            self.base_url, name="SSBD", timeout=timeout, retries=retries, backoff=backoff
        )

    def __repr__(self) -> str:
        return f"SSBD({self.base_url!r})"

    # -- the protocol ---------------------------------------------------------------------------

    async def asearch(self, query: str, *, limit: int = 20, **filters: Any) -> list[DatasetRecord]:
        """Datasets matching ``query``, best first.

        Parameters
        ----------
        query
            Words looked for in the title, terms, keywords and description; ``""`` lists all.
        limit
            At most this many records, applied after ranking.
        **filters
            ``organism`` and ``imaging_method`` (a name, common name or CURIE),
            ``license``, ``has_ome_zarr``.

        Returns
        -------
        list of DatasetRecord
            With ``score`` between 0 and 1; datasets that match no query word are left out.
        """
        from bioshare.catalog.matching import matches_filters

        wanted = check_filters(filters, _SEARCH_FILTERS)
        if limit <= 0:
            return []
        url = self.client.url(DATA)
        records = []
        for obj in await self._listing():
            record = _record(obj, url)
            if not matches_filters(record, **wanted):
                continue
            score = score_text(query, record.title, _annotation_text(record), _text_of(obj))
            if query.strip() and score == 0:
                continue
            records.append(replace(record, score=round(score, 4)))
        records.sort(key=lambda r: (-r.score, r.title.casefold(), int(r.id)))
        return records[:limit]

    async def aget(self, record_id: str) -> DatasetRecord:
        """One dataset by its SSBD id.

        Parameters
        ----------
        record_id
            The numeric dataset id (``"12"``).

        Raises
        ------
        RecordNotFoundError
            SSBD has no such dataset.
        """
        path, obj = await self._object(record_id)
        return _record(obj, self.client.url(path))

    async def aimages(self, record_id: str) -> list[ImageRef]:
        """The images of a dataset: its OME-Zarr images, else its listed files.

        Parameters
        ----------
        record_id
            The numeric dataset id (``"12"``).

        Returns
        -------
        list of ImageRef
            One per OME-Zarr URL (``zarr_url`` set), or one per listed file (``zarr_url``
            None) when the dataset publishes no OME-Zarr.
        """
        path, obj = await self._object(record_id)
        url = self.client.url(path)
        dataset = _dataset_id(obj, url)
        zarrs = _zarr_urls(obj, url)
        if zarrs:
            return [self._image(dataset, _basename(z), z) for z in zarrs]
        return [self._image(dataset, name, None) for name in _file_names(obj, url)]

    # -- requests -------------------------------------------------------------------------------

    async def _listing(self) -> list[dict[str, Any]]:
        """Every object of the ``data`` listing, page after page."""
        url = self.client.url(DATA)
        objects: list[dict[str, Any]] = []
        for _ in range(_MAX_PAGES):
            params = {"format": "json", "limit": PAGE_SIZE, "offset": len(objects)}
            page, meta = _page(await self.client.aget_json(DATA, params=params), url)
            objects += page
            if not page or not _more(meta, len(objects)):
                break
        return objects

    async def _object(self, record_id: str) -> tuple[str, dict[str, Any]]:
        """(path, object) of one dataset; `RecordNotFoundError` for unknown ids."""
        text = str(record_id).strip()
        if not text.isdecimal():
            raise RecordNotFoundError(
                f"SSBD has no dataset {record_id!r}: SSBD dataset ids are numbers"
            )
        path = f"{DATA}{int(text)}/"
        try:
            obj = await self.client.aget_json(path, params={"format": "json"})
        except ApiError as exc:
            if exc.status == 404:
                raise RecordNotFoundError(f"SSBD has no dataset {int(text)}") from exc
            raise
        if not isinstance(obj, dict):
            raise RepositoryError(
                f"{self.client.url(path)} answered {type(obj).__name__}; "
                "expected a JSON object (one SSBD data object)"
            )
        return path, obj

    def _image(self, dataset: str, name: str, zarr_url: str | None) -> ImageRef:
        return ImageRef(
            repository=self.name, id=name, name=name, zarr_url=zarr_url, dataset_id=dataset
        )


# -- answers -----------------------------------------------------------------------------------


def _page(body: Any, url: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(objects, meta) of one tastypie listing page."""
    if not isinstance(body, dict):
        raise RepositoryError(
            f"{url} answered {type(body).__name__}; expected a JSON object with "
            "'meta' and 'objects'"
        )
    meta = body.get("meta")
    if not isinstance(meta, dict):
        raise RepositoryError(f"{url} answered without the field 'meta'; expected an object")
    objects = body.get("objects")
    if not isinstance(objects, list):
        raise RepositoryError(
            f"{url} answered without the field 'objects'; expected a list of data objects"
        )
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict):
            raise RepositoryError(
                f"{url} objects[{index}] is {type(obj).__name__}; expected a data object"
            )
    return objects, meta


def _more(meta: Mapping[str, Any], count: int) -> bool:
    """Whether the listing goes on after ``count`` objects (``next``, else ``total_count``)."""
    total = meta.get("total_count")
    if isinstance(total, int) and count >= total:
        return False
    if "next" in meta:
        return meta["next"] is not None
    return isinstance(total, int)


def _record(obj: Mapping[str, Any], url: str) -> DatasetRecord:
    """A `DatasetRecord` from one SSBD ``data`` object (``url`` is for messages)."""
    dataset = _dataset_id(obj, url)
    zarrs = _zarr_urls(obj, url)
    count = _int(_get(obj, Fields.IMAGE_COUNT)) or len(zarrs) or len(_file_names(obj, url))
    bdml = _text(_get(obj, Fields.BDML_ID))
    return DatasetRecord(
        repository=SSBD.name,
        id=dataset,
        title=_title(obj, dataset),
        description=_text(_get(obj, Fields.DESCRIPTION)),
        url=LANDING_URL.format(id=dataset),
        doi=_doi(_text(_get(obj, Fields.DOI))),
        license=_license(_text(_get(obj, Fields.LICENSE))),
        authors=tuple(_authors(obj)),
        release_date=_date(_text(_get(obj, Fields.RELEASE))),
        organisms=_terms(_texts(_get(obj, Fields.ORGANISM)), organism_term),
        imaging_methods=_terms(_texts(_get(obj, Fields.IMAGING_METHOD)), imaging_method_term),
        keywords=tuple(dict.fromkeys(_keywords(obj))),
        image_count=count or None,
        size_bytes=_int(_get(obj, Fields.SIZE)),
        has_ome_zarr=bool(zarrs),
        accessions=(bdml,) if bdml else (),
    )


def _get(obj: Mapping[str, Any], key: str) -> Any:
    """``obj[key]``, or the same field in the older nested ``meta_data`` object."""
    if obj.get(key) is not None:
        return obj[key]
    nested = obj.get(Fields.NESTED)
    return nested.get(key) if isinstance(nested, dict) else None


def _dataset_id(obj: Mapping[str, Any], url: str) -> str:
    """The numeric id, from ``id`` or the end of ``resource_uri``."""
    value = obj.get(Fields.ID)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip().isdecimal():
        return str(int(value))
    match = _ID_IN_URI.search(str(obj.get(Fields.RESOURCE_URI) or ""))
    if match:
        return match.group(1)
    raise RepositoryError(
        f"{url}: a data object has no field {Fields.ID!r} (nor a {Fields.RESOURCE_URI!r} "
        f"ending in one); expected an integer id, got {value!r}"
    )


def _title(obj: Mapping[str, Any], dataset: str) -> str:
    title = _text(_get(obj, Fields.TITLE))
    if title:
        return title
    datatype = _text(_get(obj, Fields.DATATYPE))
    local = _text(_get(obj, Fields.LOCAL_ID))
    if datatype:
        return f"{datatype} ({local})" if local else datatype
    return f"SSBD dataset {dataset}"


def _keywords(obj: Mapping[str, Any]) -> list[str]:
    fields = (Fields.DATATYPE, Fields.BASED_ON, Fields.STRAIN, Fields.GENE, Fields.ORF)
    return [word for key in fields for word in _texts(_get(obj, key))]


def _authors(obj: Mapping[str, Any]) -> list[str]:
    """Contributors (a list, or SSBD's ``"Keller, P.J., ... and Stelzer, E.H.K."``), else
    the contact's name."""
    contributors = _get(obj, Fields.CONTRIBUTORS)
    if isinstance(contributors, str):
        return _split_authors(contributors)
    names = _names(contributors) or _names(_get(obj, Fields.CONTACT))
    if not names:
        names = _texts(_get(obj, Fields.CONTACT_NAME))
    return list(dict.fromkeys(names))


def _split_authors(text: str) -> list[str]:
    if ";" in text:
        return [a.strip() for a in text.split(";") if a.strip()]
    joined = re.sub(r",?\s+and\s+", ", ", text.strip())
    return [a.strip() for a in _AUTHOR_START.split(joined) if a.strip()]


def _names(value: Any) -> list[str]:
    """Names of a person object, or of a list of names and person objects."""
    items = value if isinstance(value, list) else [value]
    names = []
    for item in items:
        name = item.get("name") if isinstance(item, dict) else item
        if _text(name):
            names.append(_text(name))
    return names


def _zarr_urls(obj: Mapping[str, Any], url: str) -> list[str]:
    value = _get(obj, Fields.OME_ZARR)
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str) and item.strip() for item in items):
        raise RepositoryError(
            f"{url}: field {Fields.OME_ZARR!r} is {value!r}; expected an OME-Zarr URL or a "
            "list of them"
        )
    return [item.strip() for item in items]


def _file_names(obj: Mapping[str, Any], url: str) -> list[str]:
    value = _get(obj, Fields.FILES)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RepositoryError(
            f"{url}: field {Fields.FILES!r} is {type(value).__name__}; expected a list of "
            "file names or of objects with 'name'"
        )
    names = []
    for item in value:
        name = (item.get("name") or item.get("url")) if isinstance(item, dict) else item
        if not isinstance(name, str) or not name.strip():
            raise RepositoryError(
                f"{url}: an entry of field {Fields.FILES!r} is {item!r}; expected a file "
                "name or an object with 'name'"
            )
        names.append(_basename(name))
    return names


def _terms(values: list[str], resolve: Callable[[str], Term]) -> tuple[Term, ...]:
    return tuple(dict.fromkeys(resolve(v) for v in values))


def _annotation_text(record: DatasetRecord) -> str:
    terms = (*record.organisms, *record.imaging_methods)
    return " ".join([*(t.label for t in terms), *record.keywords])


def _text_of(obj: Mapping[str, Any]) -> str:
    """Description and method summary, for search."""
    parts = (_get(obj, Fields.DESCRIPTION), _get(obj, Fields.METHOD_SUMMARY))
    return " ".join(_text(p) for p in parts)


# -- values ------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """A stripped string; empty for None and for non-text values."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _texts(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [t for t in (_text(i) for i in items) if t]


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value)
    return None


def _basename(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _doi(value: str) -> str | None:
    return _DOI_PREFIX.sub("", value) or None


def _license(value: str) -> str | None:
    """SPDX ids for versioned Creative Commons licences (``"CC BY 4.0"`` -> ``"CC-BY-4.0"``);
    anything else as SSBD writes it (``"CC BY-SA"``)."""
    if not value:
        return None
    if value.replace(" ", "").upper() in ("CC0", "CC0-1.0", "CC01.0"):
        return "CC0-1.0"
    match = _CC.match(value)
    if match:
        kind = re.sub(r"[\s_-]+", "-", match.group(1)).upper()
        return f"CC-{kind}-{match.group(2)}"
    return value


def _date(value: str) -> str | None:
    match = re.match(r"\d{4}-\d{2}-\d{2}", value)
    return match.group(0) if match else value or None
