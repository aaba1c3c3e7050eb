"""Any XNAT server as a bioshare repository, through the XNAT REST API.

XNAT (xnat.org) serves its archive under ``<base-url>/data/``; listings asked with
``format=json`` answer ``{"ResultSet": {"Result": [...], "totalRecords": "N"}}`` with
every value a string. The endpoints used:

- ``GET /data/projects`` -> rows ``ID``, ``secondary_ID``, ``name``, ``description``,
  ``pi_firstname``, ``pi_lastname``, ``URI`` (the projects the user may see);
- ``GET /data/projects/{p}`` -> ``{"items": [{"data_fields": {"ID", "name",
  "description", "keywords", ...}, "children": [{"field": "PI", "items": [{"data_fields":
  {"firstname", "lastname"}}]}]}]}``;
- ``GET /data/projects/{p}/subjects`` -> rows ``ID``, ``label``, ``project``...;
- ``GET /data/projects/{p}/experiments`` -> rows ``ID``, ``label``, ``xsiType``
  (``xnat:mrSessionData``, ``xnat:ctSessionData``...), ``date``...;
- ``GET /data/experiments/{e}/scans`` -> rows ``ID``, ``type``, ``series_description``,
  ``xsiType``, ``quality``...;
- ``GET /data/experiments/{e}/scans/{s}/resources`` -> rows ``label`` (``DICOM``,
  ``NIFTI``...), ``format``, ``file_count``, ``file_size``...;
- ``GET .../resources/{label}/files`` -> rows ``Name``, ``Size``, ``URI``; with
  ``format=zip`` a zip of the resource (a DICOM image's ``download_url``);
- ``POST /data/JSESSION`` with HTTP basic auth -> the session id, sent afterwards as the
  cookie ``JSESSIONID`` (to the server's host only, also after a redirect there, e.g. from
  http to https).

Authentication: anonymous by default (public projects only). With a user name and
password, or an alias token's alias and secret (``/data/services/tokens/issue``), from
the arguments, ``XNAT_USER``/``XNAT_PASSWORD`` or the keyring (service ``bioshare``, names
``xnat-user`` and ``xnat``), the adapter logs in once (``POST /data/JSESSION``) and sends
the session cookie; ``XNAT_JSESSIONID`` reuses a session. Secrets travel only in headers
and cookies and never appear in a repr or a message.

XNAT has no full-text search: `XNAT.search` lists the projects the user may see, ranks
them by the query words (`bioshare.repositories.omero.score_text`: name, then keywords and
session types, then description) and applies the filters; the session types of the best
candidates (``xsiType``) become imaging methods (``xnat:ctSessionData`` -> X-ray computed
tomography). Records are projects; their images are the DICOM and NIfTI resources of the
scans of every session (`ImageRef` with ``format`` ``"dicom"`` or ``"nifti"``).

Example::

    xnat = XNAT("https://xnat.example.org")
    projects = xnat.search("brain MRI")
    scans = xnat.images(projects[0].id)
    volume = scans[0].open()
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import httpx

from bioshare._http import ApiClient
from bioshare.errors import AccessDeniedError
from bioshare.repositories._common import aget_json, check_filters, passes_filters, stripped
from bioshare.repositories.base import (
    DatasetRecord,
    ImageRef,
    RecordNotFoundError,
    Repository,
    RepositoryError,
    Term,
)
from bioshare.repositories.omero import score_text
from bioshare.repositories.tcia import modality_term

__all__ = ["IMAGE_RESOURCES", "XNAT", "session_modality"]

log = logging.getLogger(__name__)

IMAGE_RESOURCES = {"DICOM": "dicom", "NIFTI": "nifti", "NII": "nifti"}
"""Scan resource labels (upper-case) that hold images, and the `ImageRef.format` of each."""

_FILTERS = ("organism", "imaging_method", "license", "has_ome_zarr", "modality")
_KEYWORD_FILTERS = ("modality",)  # matched against the keywords: the sessions' modalities
_CONCURRENCY = 8
_XSI = re.compile(r"^xnat:([a-z]+?)(?:session|scan)data$", re.IGNORECASE)
_XSI_MODALITY = {"mr": "MR", "ct": "CT", "pet": "PT", "petmr": "PT", "us": "US", "cr": "CR"}
_XSI_MODALITY |= {"dx": "DX", "mg": "MG", "xa": "XA", "rf": "RF", "nm": "NM", "sm": "SM"}
_SESSION = re.compile(r"^[A-Za-z0-9._-]+$")
_NIFTI = re.compile(r"\.nii(\.gz)?$", re.IGNORECASE)


def session_modality(xsi_type: str) -> str | None:
    """The DICOM modality code of an XNAT session or scan type.

    ``"xnat:mrSessionData"`` -> ``"MR"``, ``"xnat:ctScanData"`` -> ``"CT"``,
    ``"xnat:petSessionData"`` -> ``"PT"``; None for other types.
    """
    match = _XSI.match(xsi_type.strip())
    return _XSI_MODALITY.get(match.group(1).lower()) if match else None


class _Secret(str):
    """A string that never shows itself in a repr."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"


def _keyring(name: str) -> str | None:
    try:
        import keyring
    except ImportError:
        return None
    try:
        return keyring.get_password("bioshare", name) or None
    except Exception:  # a locked or absent keyring backend means "not stored"
        return None


class XNAT(Repository):
    """An XNAT server's projects, sessions and scans.

    Parameters
    ----------
    base_url
        The server's address, e.g. ``"https://xnat.example.org"`` (the REST API is under
        ``/data``); default ``BIOSHARE_XNAT_URL``.
    name
        The repository name in records (default ``"xnat"``; the registry uses
        ``"xnat:<base-url>"``).
    user, password
        Login, or an alias token's alias and secret (default ``XNAT_USER`` and
        ``XNAT_PASSWORD``, else the keyring); anonymous when there is none.
    jsession
        An existing session id (default ``XNAT_JSESSIONID``), used instead of a login.
    timeout, retries, backoff
        Network settings of the underlying `bioshare._http.ApiClient`.
    enrich
        At most this many candidate projects of a filtered search get their sessions
        listed (one request each) to learn their imaging methods.
    """

    name = "xnat"

    def __init__(
        self,
        base_url: str | None = None,
        *,
        name: str | None = None,
        user: str | None = None,
        password: str | None = None,
        jsession: str | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        backoff: float = 0.25,
        enrich: int = 40,
    ) -> None:
        url = base_url or os.environ.get("BIOSHARE_XNAT_URL", "")
        if not url.startswith(("http://", "https://")):
            raise ValueError(
                "an XNAT server is named by its http(s) URL: 'xnat:https://xnat.example.org' "
                f"or BIOSHARE_XNAT_URL; got {url!r}"
            )
        if name:
            self.name = name
        self.base_url = url.rstrip("/")
        self.enrich = max(0, int(enrich))
        self._settings: dict[str, Any] = {"timeout": timeout, "retries": retries}
        self._settings["backoff"] = backoff
        self.user = user or os.environ.get("XNAT_USER") or _keyring("xnat-user")
        secret = password or os.environ.get("XNAT_PASSWORD") or _keyring("xnat")
        self._password = _Secret(secret) if secret else None
        session = jsession or os.environ.get("XNAT_JSESSIONID")
        self._session = _Secret(session) if session else None
        self._login_lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self._client = self._make_client()

    def __repr__(self) -> str:
        who = f", user={self.user!r}" if self.user else ""
        return f"XNAT({self.base_url!r}, name={self.name!r}{who})"

    @property
    def label(self) -> str:
        """The server's name in messages."""
        return f"XNAT server {self.base_url}"

    @property
    def authenticated(self) -> bool:
        """Whether requests carry a session (after a login, or a given session id)."""
        return self._session is not None

    @property
    def storage_options(self) -> dict[str, Any] | None:
        """Options that authenticate a download (`bioshare.formats`) like these requests.

        The session is a ``cookies`` entry, not a ``Cookie`` header: a header is dropped
        when the server redirects the download, a cookie is sent again (to this host only).
        """
        if self._session is None:
            return None
        return {"cookies": {"JSESSIONID": self._session}}

    # -- the protocol ---------------------------------------------------------------------------

    async def asearch(self, query: str, *, limit: int = 20, **filters: Any) -> list[DatasetRecord]:
        """Projects matching ``query`` and the filters, best first.

        Filters: ``imaging_method`` and ``modality`` (DICOM code, ``"MR"``) from the session
        types, ``organism``, ``license`` and ``has_ome_zarr`` (never true: XNAT serves
        DICOM and NIfTI).
        """
        filters = check_filters(filters, _FILTERS)
        if limit <= 0:
            return []
        rows = await self._results("/data/projects")
        candidates = []
        for row in rows:
            record = self._record(row)
            score = score_text(query, _names(row), "", record.description)
            if query.strip() and score == 0:
                continue
            candidates.append(replace(record, score=score))
        candidates.sort(key=lambda r: (-r.score, r.title.casefold(), r.id))
        budget = self.enrich if filters else min(self.enrich, limit)
        semaphore = asyncio.Semaphore(_CONCURRENCY)

        async def one(record: DatasetRecord) -> DatasetRecord:
            async with semaphore:
                try:
                    sessions = await self._experiments(record.id)
                except (AccessDeniedError, RecordNotFoundError) as exc:
                    # A "protected" project is listed to everyone, its sessions are not.
                    log.info("%s: sessions of %s not readable: %s", self.label, record.id, exc)
                    return record
            return _with_sessions(record, sessions)

        enriched = await asyncio.gather(*(one(r) for r in candidates[:budget]))
        kept = []
        for record in enriched:
            if not passes_filters(record, filters, _KEYWORD_FILTERS):
                continue
            notes = " ".join((*record.keywords, *(t.label for t in record.imaging_methods)))
            score = score_text(query, record.title + " " + record.id, notes, record.description)
            kept.append(replace(record, score=round(score, 4)))
        kept.sort(key=lambda r: (-r.score, r.title.casefold(), r.id))
        return kept[:limit]

    async def aget(self, record_id: str) -> DatasetRecord:
        """One project by its ID: description, keywords, PI, session types and counts."""
        pid = _project_id(record_id)
        path = f"/data/projects/{quote(pid)}"
        body, sessions, subjects = await asyncio.gather(
            self._get(path, missing=f"project {pid!r}"),
            self._experiments(pid),
            self._results(f"{path}/subjects", missing=f"project {pid!r}"),
        )
        fields = _project_fields(body, self._client.url(path))
        record = self._record({**_investigator(body), **fields})
        words = [w for w in re.split(r"[\s,;]+", stripped(fields.get("keywords"))) if w]
        record = replace(record, keywords=tuple(dict.fromkeys(words)))
        record = _with_sessions(record, sessions)
        summary = f"{len(subjects)} subjects, {len(sessions)} imaging sessions"
        return replace(record, description=record.description or f"XNAT project {pid}: {summary}.")

    async def aimages(self, record_id: str) -> list[ImageRef]:
        """The DICOM and NIfTI resources of every scan of every session of a project."""
        pid = _project_id(record_id)
        sessions = await self._experiments(pid, missing=f"project {pid!r}")
        semaphore = asyncio.Semaphore(_CONCURRENCY)

        async def one(session: Mapping[str, Any]) -> list[ImageRef]:
            async with semaphore:
                return await self.session_images(session, pid)

        batches = await asyncio.gather(*(one(s) for s in sessions))
        return [ref for batch in batches for ref in batch]

    # -- the hierarchy --------------------------------------------------------------------------

    async def subjects(self, project: str) -> list[dict[str, Any]]:
        """The subjects of a project (rows of ``/data/projects/{p}/subjects``)."""
        pid = _project_id(project)
        return await self._results(
            f"/data/projects/{quote(pid)}/subjects", missing=f"project {pid!r}"
        )

    async def _experiments(
        self, project: str, *, missing: str | None = None
    ) -> list[dict[str, Any]]:
        path = f"/data/projects/{quote(project)}/experiments"
        return await self._results(path, missing=missing or f"project {project!r}")

    async def experiments(self, project: str) -> list[dict[str, Any]]:
        """The imaging sessions of a project (``ID``, ``label``, ``xsiType``, ``date``...)."""
        return await self._experiments(_project_id(project))

    async def scans(self, experiment: str) -> list[dict[str, Any]]:
        """The scans of a session (``ID``, ``type``, ``series_description``, ``xsiType``...)."""
        path = f"/data/experiments/{quote(experiment)}/scans"
        return await self._results(path, missing=f"experiment {experiment!r}")

    async def resources(self, experiment: str, scan: str) -> list[dict[str, Any]]:
        """The resources of a scan (``label``, ``format``, ``file_count``, ``file_size``)."""
        path = f"/data/experiments/{quote(experiment)}/scans/{quote(scan)}/resources"
        return await self._results(path, missing=f"scan {scan!r} of experiment {experiment!r}")

    async def files(self, experiment: str, scan: str, resource: str) -> list[dict[str, Any]]:
        """The files of a scan resource (``Name``, ``Size``, ``URI``)."""
        path = f"{self._scan_path(experiment, scan)}/resources/{quote(resource)}/files"
        return await self._results(path, missing=f"resource {resource!r} of scan {scan!r}")

    async def session_images(self, session: Mapping[str, Any], project: str) -> list[ImageRef]:
        """The image resources of one session's scans, as `ImageRef`."""
        eid = stripped(session.get("ID"))
        if not eid:
            raise RepositoryError(f"{self.label}: a session of project {project!r} has no 'ID'")
        scans = await self.scans(eid)
        found = await asyncio.gather(*(self.resources(eid, stripped(s.get("ID"))) for s in scans))
        refs = []
        for scan, resources in zip(scans, found, strict=True):
            for resource in resources:
                label = stripped(resource.get("label"))
                kind = IMAGE_RESOURCES.get(label.upper()) or IMAGE_RESOURCES.get(
                    stripped(resource.get("format")).upper()
                )
                if kind is None:
                    continue
                url = await self._download_url(eid, stripped(scan.get("ID")), label, kind)
                if url is not None:
                    refs.append(self._image_ref(session, scan, label, kind, url, project))
        return refs

    def zip_url(self, experiment: str, scan: str, resource: str = "DICOM") -> str:
        """The URL of a scan resource as one zip (``.../files?format=zip``)."""
        path = f"{self._scan_path(experiment, scan)}/resources/{quote(resource)}/files"
        return f"{self.base_url}{path}?format=zip"

    # -- records --------------------------------------------------------------------------------

    def _record(self, row: Mapping[str, Any]) -> DatasetRecord:
        pid = stripped(row.get("ID"))
        if not pid:
            raise RepositoryError(f"{self.label}: a project has no 'ID': {str(row)[:200]}")
        pi = ", ".join(
            p for p in (stripped(row.get("pi_lastname")), stripped(row.get("pi_firstname"))) if p
        )
        return DatasetRecord(
            repository=self.name,
            id=pid,
            title=stripped(row.get("name")) or stripped(row.get("secondary_ID")) or pid,
            description=stripped(row.get("description")),
            url=f"{self.base_url}/data/projects/{quote(pid)}",
            authors=(pi,) if pi else (),
            accessions=tuple(a for a in (stripped(row.get("secondary_ID")),) if a and a != pid),
            has_ome_zarr=False,
        )

    def _image_ref(
        self,
        session: Mapping[str, Any],
        scan: Mapping[str, Any],
        resource: str,
        kind: str,
        url: str,
        project: str,
    ) -> ImageRef:
        eid, sid = stripped(session.get("ID")), stripped(scan.get("ID"))
        what = stripped(scan.get("series_description")) or stripped(scan.get("type"))
        name = f"{stripped(session.get('label')) or eid} scan {sid}"
        return ImageRef(
            repository=self.name,
            id=f"{eid}/{sid}/{resource}",
            name=f"{name} {what} ({resource})" if what else f"{name} ({resource})",
            dataset_id=project,
            format=kind,
            download_url=url,
            # The session goes to this server only (a file URI may name another host).
            storage_options=self.storage_options if _same_host(url, self.base_url) else None,
        )

    async def _download_url(self, eid: str, sid: str, label: str, kind: str) -> str | None:
        """A DICOM resource downloads as one zip; a NIfTI one as its (first) NIfTI file."""
        if kind == "dicom":
            return self.zip_url(eid, sid, label)
        for row in await self.files(eid, sid, label):
            uri = stripped(row.get("URI"))
            if _NIFTI.search(stripped(row.get("Name")) or uri):
                return uri if uri.startswith(("http://", "https://")) else f"{self.base_url}{uri}"
        return None

    def _scan_path(self, experiment: str, scan: str) -> str:
        return f"/data/experiments/{quote(experiment)}/scans/{quote(scan)}"

    # -- HTTP -----------------------------------------------------------------------------------

    def _make_client(self) -> ApiClient:
        # In the client's cookie jar, the session also follows redirects on this host.
        cookies = {"JSESSIONID": str(self._session)} if self._session else None
        return ApiClient(self.base_url, name=self.label, cookies=cookies, **self._settings)

    async def _login(self, *, stale: str | None = None) -> None:
        """Open a session with the credentials (``POST /data/JSESSION``), once.

        ``stale`` is a session the server no longer accepts: it is replaced, unless a
        concurrent request already did so.
        """
        if not self.user or not self._password:
            return
        loop = asyncio.get_running_loop()
        if self._login_lock is None or self._login_lock[0] is not loop:
            self._login_lock = (loop, asyncio.Lock())  # a lock serves one event loop only
        async with self._login_lock[1]:
            if self._session is not None and self._session != stale:
                return
            plain = ApiClient(self.base_url, name=self.label, **self._settings)
            try:
                response = await plain.arequest(
                    "POST", "/data/JSESSION", auth=httpx.BasicAuth(self.user, str(self._password))
                )
            except AccessDeniedError as exc:
                raise AccessDeniedError(
                    f"{self.label} refused the login of user {self.user!r} at "
                    f"{plain.url('/data/JSESSION')}: check XNAT_USER and XNAT_PASSWORD (an "
                    "alias token's alias and secret work as user and password)",
                    status=exc.status,
                    url=exc.url,
                ) from None
            session = response.text.strip()
            if not _SESSION.match(session):
                raise RepositoryError(
                    f"{self.label}: {plain.url('/data/JSESSION')} answered "
                    f"{response.headers.get('content-type', 'no content type')} that is not a "
                    "session id; expected the JSESSIONID as plain text"
                )
            self._session = _Secret(session)
            self._client = self._make_client()

    async def _get(self, path: str, *, missing: str | None = None) -> Any:
        """GET ``path?format=json``; log in first when there are credentials."""
        if self._session is None:
            await self._login()
        for attempt in range(2):
            client, session = self._client, self._session
            try:
                return await aget_json(
                    client, path, {"format": "json"}, label=self.label, missing=missing
                )
            except AccessDeniedError as exc:
                expired = exc.status == 401 and session is not None
                if attempt == 0 and expired and self.user and self._password:
                    await self._login(stale=session)
                    continue
                if self._session is None:
                    raise AccessDeniedError(
                        f"{exc}; this needs a login: set XNAT_USER and XNAT_PASSWORD (or an "
                        "alias token's alias and secret)",
                        status=exc.status,
                        url=exc.url,
                    ) from None
                raise
        raise AssertionError("unreachable")

    async def _results(self, path: str, *, missing: str | None = None) -> list[dict[str, Any]]:
        """The rows of a listing: ``ResultSet.Result``, checked to be objects."""
        body = await self._get(path, missing=missing)
        url = self._client.url(path)
        result_set = body.get("ResultSet") if isinstance(body, dict) else None
        rows = result_set.get("Result") if isinstance(result_set, dict) else None
        if not isinstance(rows, list):
            raise RepositoryError(
                f"{self.label}: {url} answered without 'ResultSet.Result'; expected "
                '{"ResultSet": {"Result": [...]}}'
            )
        for index, row in enumerate(rows):
            if not isinstance(row, dict):
                raise RepositoryError(
                    f"{self.label}: {url} ResultSet.Result[{index}] is {type(row).__name__}; "
                    "expected an object"
                )
        return rows


# -- helpers -----------------------------------------------------------------------------------


def _project_id(record_id: str) -> str:
    pid = str(record_id).strip()
    if not pid or "/" in pid:
        raise RecordNotFoundError(f"XNAT project ids are single path segments, got {record_id!r}")
    return pid


def _project_fields(body: Any, url: str) -> dict[str, Any]:
    items = body.get("items") if isinstance(body, dict) else None
    first = items[0] if isinstance(items, list) and items else None
    fields = first.get("data_fields") if isinstance(first, dict) else None
    if not isinstance(fields, dict):
        raise RepositoryError(
            f"{url} answered without 'items[0].data_fields'; expected the project"
        )
    return fields


def _investigator(body: Any) -> dict[str, str]:
    """``pi_firstname``/``pi_lastname`` from the project's ``PI`` child item, if any."""
    for child in body["items"][0].get("children") or []:
        if isinstance(child, dict) and str(child.get("field", "")).upper() == "PI":
            for item in child.get("items") or []:
                fields = item.get("data_fields") if isinstance(item, dict) else None
                if isinstance(fields, dict):
                    return {
                        "pi_firstname": stripped(fields.get("firstname")),
                        "pi_lastname": stripped(fields.get("lastname")),
                    }
    return {}


def _with_sessions(record: DatasetRecord, sessions: Iterable[Mapping[str, Any]]) -> DatasetRecord:
    """The record with the imaging methods and modality codes of its sessions."""
    codes = [session_modality(stripped(s.get("xsiType"))) for s in sessions]
    known = list(dict.fromkeys(c for c in codes if c))
    methods: list[Term] = [t for t in (modality_term(c) for c in known) if t is not None]
    return replace(
        record,
        imaging_methods=tuple(dict.fromkeys((*record.imaging_methods, *methods))),
        keywords=tuple(dict.fromkeys((*record.keywords, *known))),
    )


def _names(row: Mapping[str, Any]) -> str:
    return " ".join(stripped(row.get(k)) for k in ("name", "secondary_ID", "ID"))


def _same_host(url: str, base_url: str) -> bool:
    return httpx.URL(url).host == httpx.URL(base_url).host
