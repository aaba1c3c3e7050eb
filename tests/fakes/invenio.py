"""A fake InvenioRDM server that also speaks Zenodo's legacy deposition API.

One store of drafts and published records, two views of it (reference sections 4a, 4b, 4c
and 9). Everything below answers JSON; ids are numeric strings on ``flavour="zenodo"``
("1000001", integers in the legacy API) and ``abcde-12345`` style on ``flavour="invenio"``.

InvenioRDM REST API (both flavours; drafts and deposits need ``Authorization: Bearer``):

- ``POST /api/records`` create a draft (201; saved even when invalid, with ``errors``);
- ``GET|PUT|DELETE /api/records/{id}/draft``; ``POST /api/records/{id}/draft`` edits a
  published record (201);
- ``POST /api/records/{id}/draft/actions/publish`` (202; 400 with field errors);
- ``POST /api/records/{id}/draft/actions/files-import`` (201; 400 "Please remove all files
  first." when the draft already has files);
- ``POST|DELETE /api/records/{id}/draft/pids/doi`` reserve (201) or drop (204) a DOI;
- ``GET|POST /api/records/{id}/draft/files``, ``GET|DELETE .../draft/files/{key}``,
  ``PUT|GET .../draft/files/{key}/content`` (octet-stream and Content-Length required),
  ``POST .../draft/files/{key}/commit`` (``checksum: "md5:..."``);
- ``GET /api/records/{id}``, ``GET /api/records/{id}/files[/{key}[/content]]`` (ranges);
- ``POST|GET /api/records/{id}/versions``, ``GET /api/records/{id}/versions/latest`` (302);
- ``GET /api/records?q=&sort=&page=&size=&allversions=`` and ``GET /api/user/records``.

On ``flavour="zenodo"`` published records answer legacy Zenodo JSON unless the client sends
``Accept: application/vnd.inveniordm.v1+json``, and the legacy deposition API is served:

- ``GET|POST /api/deposit/depositions``, ``GET|PUT|DELETE /api/deposit/depositions/{id}``;
- ``GET|POST .../{id}/files`` (multipart, bare hex checksums, 413 above
  ``multipart_limit``), ``GET|DELETE .../{id}/files/{file_id}``;
- ``POST .../{id}/actions/{publish,edit,discard,newversion}`` (202, 201, 204, 201);
- ``PUT|GET|DELETE /api/files/{bucket}/{key}`` (octet-stream and Content-Length, else 415).

Live quirks reproduced: publishing twice is 404; a deleted deposition is 404; ``newversion``
returns the new draft (files imported) and, while a draft of a new version with files is
open, answers 400 ``files.enabled: Please remove all files first.``; a legacy
``metadata.doi`` outside 10.5281 becomes an external DOI; ``links.latest_draft`` points at
the deposition itself; anonymous calls are 403; errors carry ``messages`` lists.
``X-RateLimit-Limit/-Remaining/-Reset`` come with every answer (100/min with a token, 60
without; enforced with 429 only when ``enforce_rate_limit`` is set). Tokens in query strings
are refused with 400 so that clients doing it are caught.

Test helpers: ``records``, ``drafts``, ``drafts_created``, ``stored_path``, ``seed_record``,
``corrupt_checksum``, ``drop_mid_upload``, ``throttle``, ``redirect_to``, plus the faults
of `FakeService.inject`; switches ``enforce_rate_limit``, ``rate_limits``,
``multipart_limit`` and ``omit_bucket_link`` (as for drafts made in Zenodo's web UI).
Files of a published record are locked: uploads to its edit draft or bucket answer 403.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import mimetypes
import random
import re
import shutil
import tempfile
import threading
import time
import unicodedata
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from aiohttp import web
from fakes.service import FakeService

__all__ = ["ApiError", "Draft", "FakeInvenio", "FileEntry", "Parent", "Record"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

INVENIO_JSON = "application/vnd.inveniordm.v1+json"
GiB = 1024**3
CHUNK = 64 * 1024
MISSING = "Missing data for required field."
NOT_FOUND = "The persistent identifier does not exist."
NOT_REGISTERED = "The persistent identifier is not registered."
DRAFT_NOT_FOUND = "Not found."
FORBIDDEN = "Permission denied."
VALIDATION = "A validation error occurred."
UPLOAD_FAILED = "The file upload transfer failed, please try again."
TOO_MANY_FILES = "Uploading selected files will result in exceeding the max amount per record."
REMOVE_FILES_FIRST = "Please remove all files first."
NO_FILES = (
    "Missing uploaded files. To disable files for this record please mark it as metadata-only."
)
LOCKED = "Bucket is locked for modifications."
ROUTING_ERRORS = {
    404: "The requested URL was not found on the server. If you entered the URL manually "
    "please check your spelling and try again.",
    405: "The method is not allowed for the requested URL.",
}
ZENODO_DOI_PREFIX = "10.5281"  # legacy metadata.doi outside it is taken as an external DOI
RATE_LIMITS = {"token": 100, "guest": 60}  # requests per minute (reference 4a)
ANONYMOUS_MAX_SIZE, AUTHENTICATED_MAX_SIZE = 25, 100
UPLOAD_TYPES = {
    "publication", "poster", "presentation", "dataset", "image", "video", "software",
    "lesson", "physicalobject", "other",
}  # fmt: skip
RELATIONS = [
    "IsCitedBy", "Cites", "IsSupplementTo", "IsSupplementedBy", "IsContinuedBy", "Continues",
    "IsDescribedBy", "Describes", "HasMetadata", "IsMetadataFor", "HasVersion", "IsVersionOf",
    "IsNewVersionOf", "IsPreviousVersionOf", "IsPartOf", "HasPart", "IsPublishedIn",
    "IsReferencedBy", "References", "IsDocumentedBy", "Documents", "IsCompiledBy", "Compiles",
    "IsVariantFormOf", "IsOriginalFormOf", "IsIdenticalTo", "IsReviewedBy", "Reviews",
    "IsDerivedFrom", "IsSourceOf", "IsRequiredBy", "Requires", "IsObsoletedBy", "Obsoletes",
    "IsAlternateIdentifier",
]  # fmt: skip
LEGACY_RELATION = {name.lower(): name[0].lower() + name[1:] for name in RELATIONS}
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?(/\d{4}(-\d{2}(-\d{2})?)?)?$")
_TERM = re.compile(r'([\w.]+):("[^"]*"|\S+)|"([^"]*)"|(\S+)')
_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


class ApiError(Exception):
    """An error answered as ``{"status", "message", "errors": [{"field", "messages"}]}``."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.errors, self.headers = errors, headers or {}

    def response(self) -> web.Response:
        body: dict[str, Any] = {"status": self.status, "message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return web.json_response(body, status=self.status, headers=self.headers)


def _invalid(field_name: str, *messages: str) -> ApiError:
    return ApiError(400, VALIDATION, [{"field": field_name, "messages": list(messages)}])


def _now() -> str:
    return datetime.now(UTC).isoformat()


# -- data --------------------------------------------------------------------------------------


@dataclass
class FileEntry:
    """One file of a draft or record; ``path`` is None until its content arrived."""

    key: str
    bucket_id: str
    created: str = field(default_factory=_now)
    updated: str = field(default_factory=_now)
    status: str = "pending"
    path: Path | None = None
    size: int | None = None
    checksum: str | None = None  # "md5:<hex>", set on commit
    md5: str | None = None  # of the content received, before commit
    file_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    version_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def mimetype(self) -> str:
        return mimetypes.guess_type(self.key)[0] or "application/octet-stream"

    @property
    def completed(self) -> bool:
        return self.status == "completed"

    def linked(self, bucket_id: str) -> FileEntry:
        """The same stored object seen from another bucket (a new version, an edit)."""
        return replace(self, bucket_id=bucket_id, version_id=str(uuid.uuid4()))


@dataclass
class Parent:
    """The concept that ties versions together (``parent.id``, ``conceptrecid``)."""

    id: str
    doi: str | None = None
    published: list[str] = field(default_factory=list)  # record ids, oldest first


@dataclass
class _Document:
    id: str
    parent_id: str
    bucket_id: str
    metadata: dict[str, Any] = field(default_factory=dict)
    access: dict[str, Any] = field(default_factory=lambda: {"record": "public", "files": "public"})
    custom_fields: dict[str, Any] = field(default_factory=dict)
    pids: dict[str, Any] = field(default_factory=dict)
    files_enabled: bool = True
    files: dict[str, FileEntry] = field(default_factory=dict)
    version_index: int = 1
    legacy_extra: dict[str, Any] = field(default_factory=dict)  # legacy fields kept as sent
    created: str = field(default_factory=_now)
    updated: str = field(default_factory=_now)
    revision_id: int = 1

    is_draft: ClassVar[bool] = False

    def touch(self) -> None:
        self.updated = _now()
        self.revision_id += 1

    def snapshot(self) -> dict[str, Any]:
        """Field values deep-copied, files re-linked to the same stored objects."""
        values = {name: copy.deepcopy(getattr(self, name)) for name in _SHARED}
        values["files"] = {key: replace(entry) for key, entry in self.files.items()}
        return values


@dataclass
class Draft(_Document):
    """A draft: new, a new version (``version_index`` > 1) or an edit of a published record."""

    files_locked: bool = False  # an edit of a published record cannot change its files
    expires_at: str = field(default_factory=lambda: (datetime.now(UTC) + timedelta(30)).isoformat())

    is_draft: ClassVar[bool] = True


@dataclass
class Record(_Document):
    """A published record."""


_SHARED = [
    "id", "parent_id", "bucket_id", "metadata", "access", "custom_fields", "pids",
    "files_enabled", "version_index", "legacy_extra", "created",
]  # fmt: skip


# -- the fake ----------------------------------------------------------------------------------


class FakeInvenio(FakeService):
    """InvenioRDM (and Zenodo's legacy deposition API) on 127.0.0.1; see the module docstring."""

    name = "fake InvenioRDM"

    def __init__(
        self,
        *,
        flavour: str = "zenodo",
        token: str = "secret-token",
        doi_prefix: str | None = None,
        max_files: int = 100,
        max_file_size: int = 50 * GiB,
        store_root: str | Path | None = None,
        port: int = 0,
    ) -> None:
        if flavour not in ("zenodo", "invenio"):
            raise ValueError(f"flavour must be 'zenodo' or 'invenio', not {flavour!r}")
        super().__init__(port=port)
        self.flavour = flavour
        self.token = token
        self.doi_prefix = doi_prefix or ("10.5072" if flavour == "zenodo" else "10.1234")
        self.max_files = max_files
        self.max_file_size = max_file_size
        self.multipart_limit = 100 * 1000**2  # legacy POST .../files: 413 above it
        self.enforce_rate_limit = False
        self.rate_limits = dict(RATE_LIMITS)  # per minute, "token" and "guest" callers
        self.omit_bucket_link = False  # as for drafts made in Zenodo's web UI
        self._owned_root = store_root is None
        self.store_root = Path(store_root or tempfile.mkdtemp(prefix="fake-invenio-"))
        self.records: dict[str, Record] = {}
        self.drafts: dict[str, Draft] = {}
        self.parents: dict[str, Parent] = {}
        self.drafts_created = 0
        self._buckets: dict[str, str] = {}  # bucket id -> record id
        self._numbers = itertools.count(1_000_000)
        self._random = random.Random(1234)
        self._state_lock = threading.Lock()
        self._corrupt_commits = 0
        self._dropped_uploads = 0
        self._redirect: tuple[str, int] | None = None
        self._windows: dict[str, tuple[int, int]] = {}  # caller -> (minute, count)

    # -- test helpers ---------------------------------------------------------------------------

    def corrupt_checksum(self, times: int = 1) -> None:
        """The next ``times`` commits store a damaged copy and answer its (wrong) md5."""
        with self._state_lock:
            self._corrupt_commits += times

    def drop_mid_upload(self, times: int = 1) -> None:
        """Close the connection after about half of the next ``times`` upload bodies."""
        with self._state_lock:
            self._dropped_uploads += times

    def throttle(self, *, times: int = 1, retry_after: int = 1, path: str = "*") -> None:
        """Answer the next ``times`` requests 429 with ``Retry-After`` and reset headers."""
        reset = str(int(time.time()) + retry_after)
        headers = {
            "Retry-After": str(retry_after),
            "X-RateLimit-Limit": str(self.rate_limits["token"]),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset,
        }
        body = {"status": 429, "message": "Too Many Requests"}
        self.inject("status", path=path, times=times, status=429, headers=headers, body=body)

    def redirect_to(self, base_url: str | None, *, status: int = 301) -> None:
        """Answer every ``/api/...`` request with a redirect to ``base_url`` + same path.

        As ``www.zenodo.org`` does; an HTTP client must not carry the token over. None stops.
        """
        self._redirect = (base_url.rstrip("/"), status) if base_url else None

    def stored_path(self, record_id: str | int, key: str) -> Path | None:
        """Where the bytes of ``key`` are stored (the draft's file first, else the record's)."""
        for documents in (self.drafts, self.records):
            document = documents.get(str(record_id))
            if document is not None and key in document.files:
                return document.files[key].path
        raise KeyError(f"no file {key!r} in {record_id!r}")

    def seed_record(
        self, metadata: dict[str, Any] | None = None, files: dict[str, bytes] | None = None
    ) -> Record:
        """A published record made without HTTP (for new-version and search tests)."""
        metadata = copy.deepcopy(metadata or _example_metadata())
        draft = self._new_draft(metadata=metadata, counted=False)
        for key, data in (files or {}).items():
            entry = FileEntry(key, draft.bucket_id)
            entry.path = self._object_path(entry)
            entry.path.write_bytes(data)
            entry.size, entry.status = len(data), "completed"
            entry.md5 = hashlib.md5(data).hexdigest()
            entry.checksum = f"md5:{entry.md5}"
            draft.files[key] = entry
        return self._publish(draft)

    def __enter__(self) -> FakeInvenio:
        self.start()
        return self

    def stop(self) -> None:
        super().stop()
        if self._owned_root:
            shutil.rmtree(self.store_root, ignore_errors=True)

    # -- routes ---------------------------------------------------------------------------------

    def setup(self, app: web.Application) -> None:
        app.middlewares.insert(0, self._rate_limit_headers)
        app.middlewares.append(self._edge)
        add = app.router.add_route
        r, d, f = "/api/records", "/api/records/{id}/draft", "/api/records/{id}/draft/files/{key}"
        routes: list[tuple[str, str, Handler, bool]] = [
            ("POST", r, self.create_draft, True),
            ("GET", r, self.search_records, False),
            ("GET", "/api/user/records", self.search_user_records, True),
            ("GET", r + "/{id}", self.get_record, False),
            ("GET", d, self.get_draft, True),
            ("PUT", d, self.update_draft, True),
            ("POST", d, self.edit_record, True),
            ("DELETE", d, self.delete_draft, True),
            ("POST", d + "/actions/publish", self.publish_draft, True),
            ("POST", d + "/actions/files-import", self.import_files, True),
            ("POST", d + "/pids/doi", self.reserve_doi, True),
            ("DELETE", d + "/pids/doi", self.discard_doi, True),
            ("GET", d + "/files", self.list_draft_files, True),
            ("POST", d + "/files", self.init_draft_files, True),
            ("GET", f, self.get_draft_file, True),
            ("DELETE", f, self.delete_draft_file, True),
            ("PUT", f + "/content", self.upload_content, True),
            ("GET", f + "/content", self.download_draft_content, True),
            ("POST", f + "/commit", self.commit_file, True),
            ("GET", r + "/{id}/files", self.list_record_files, False),
            ("GET", r + "/{id}/files/{key}", self.get_record_file, False),
            ("GET", r + "/{id}/files/{key}/content", self.download_record_content, False),
            ("POST", r + "/{id}/versions", self.new_version, True),
            ("GET", r + "/{id}/versions", self.list_versions, False),
            ("GET", r + "/{id}/versions/latest", self.latest_version, False),
        ]
        if self.flavour == "zenodo":
            p, b = "/api/deposit/depositions", "/api/files/{bucket}/{key}"
            routes += [
                ("GET", p, self.legacy_list, True),
                ("POST", p, self.legacy_create, True),
                ("GET", p + r"/{id:\d+}", self.legacy_get, True),
                ("PUT", p + r"/{id:\d+}", self.legacy_update, True),
                ("DELETE", p + r"/{id:\d+}", self.legacy_delete, True),
                ("GET", p + r"/{id:\d+}/files", self.legacy_list_files, True),
                ("POST", p + r"/{id:\d+}/files", self.legacy_upload_multipart, True),
                ("GET", p + r"/{id:\d+}/files/{file_id}", self.legacy_get_file, True),
                ("DELETE", p + r"/{id:\d+}/files/{file_id}", self.legacy_delete_file, True),
                ("POST", p + r"/{id:\d+}/actions/publish", self.legacy_publish, True),
                ("POST", p + r"/{id:\d+}/actions/edit", self.legacy_edit, True),
                ("POST", p + r"/{id:\d+}/actions/discard", self.legacy_discard, True),
                ("POST", p + r"/{id:\d+}/actions/newversion", self.legacy_newversion, True),
                ("PUT", b, self.bucket_put, True),
                ("GET", b, self.bucket_get, True),
                ("DELETE", b, self.bucket_delete, True),
            ]
        for method, path, handler, auth in routes:
            add(method, path, self._guard(handler, auth=auth))

    def _guard(self, handler: Handler, *, auth: bool) -> Handler:
        """Check the token, and turn `ApiError` into its JSON answer."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                if auth and not self._authorized(request):
                    raise ApiError(403, FORBIDDEN)
                return await handler(request)
            except ApiError as error:
                return error.response()

        return guarded

    @web.middleware
    async def _rate_limit_headers(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        """Outermost: ``X-RateLimit-*`` on every answer, injected faults included."""
        limit, remaining, reset = self._count(request)
        response = await handler(request)
        response.headers.setdefault("X-RateLimit-Limit", str(limit))
        response.headers.setdefault("X-RateLimit-Remaining", str(max(remaining, 0)))
        response.headers.setdefault("X-RateLimit-Reset", str(reset))
        return response

    @web.middleware
    async def _edge(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Inside the logging one: redirect mode, tokens in URLs, enforced limits, JSON 404s."""
        _, remaining, reset = self._count(request, consume=False)
        if self._redirect is not None and request.path.startswith("/api/"):
            base, status = self._redirect
            return web.Response(status=status, headers={"Location": base + request.path_qs})
        if "access_token" in request.query:
            message = "Send the token in an 'Authorization: Bearer' header, not in the URL."
            return ApiError(400, message).response()
        if self.enforce_rate_limit and remaining < 0:
            headers = {"Retry-After": str(max(reset - int(time.time()), 1))}
            return ApiError(429, "Too Many Requests", headers=headers).response()
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            message = ROUTING_ERRORS.get(exc.status, exc.reason)
            body = {"status": exc.status, "message": message}
            response = web.json_response(body, status=exc.status)
            if "Allow" in exc.headers:
                response.headers["Allow"] = exc.headers["Allow"]
            return response

    def _count(self, request: web.Request, *, consume: bool = True) -> tuple[int, int, int]:
        """(limit, remaining, reset epoch) of the caller's one-minute window."""
        caller = "token" if self._authorized(request) else "guest"
        minute = int(time.time() // 60)
        with self._state_lock:
            start, used = self._windows.get(caller, (minute, 0))
            if start != minute:
                start, used = minute, 0
            used += consume
            self._windows[caller] = (start, used)
        limit = self.rate_limits[caller]
        return limit, limit - used, (start + 1) * 60

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization", "") == f"Bearer {self.token}"

    # -- InvenioRDM: drafts ---------------------------------------------------------------------

    async def create_draft(self, request: web.Request) -> web.Response:
        body = await _json_object(request)
        draft = self._new_draft()
        self._apply_native(draft, body)
        return self._draft_response(draft, 201)

    async def get_draft(self, request: web.Request) -> web.Response:
        return self._draft_response(self._draft(request), 200)

    async def update_draft(self, request: web.Request) -> web.Response:
        draft = self._draft(request)
        self._apply_native(draft, await _json_object(request))
        draft.touch()
        return self._draft_response(draft, 200)

    async def edit_record(self, request: web.Request) -> web.Response:
        return self._draft_response(self._edit(request.match_info["id"]), 201)

    async def delete_draft(self, request: web.Request) -> web.Response:
        self._discard(self._draft(request))
        return web.Response(status=204)

    async def publish_draft(self, request: web.Request) -> web.Response:
        record = self._publish(self._draft(request))
        return web.json_response(self._native(record), status=202)

    async def import_files(self, request: web.Request) -> web.Response:
        draft = self._draft(request)
        self._import_files(draft)
        return web.json_response(self._files_listing(draft), status=201)

    async def reserve_doi(self, request: web.Request) -> web.Response:
        draft = self._draft(request)
        if "doi" in draft.pids:
            raise ApiError(400, "A PID already exists for type doi")
        draft.pids["doi"] = self._managed_doi(draft.id)
        draft.touch()
        return self._draft_response(draft, 201)

    async def discard_doi(self, request: web.Request) -> web.Response:
        draft = self._draft(request)
        if "doi" not in draft.pids:
            raise ApiError(404, "No registered PID found for type doi")
        if draft.id in self.records:
            raise ApiError(400, "Cannot discard the DOI of a published record.")
        del draft.pids["doi"]
        draft.touch()
        return web.Response(status=204)

    async def new_version(self, request: web.Request) -> web.Response:
        return self._draft_response(self._new_version(request.match_info["id"]), 201)

    # -- InvenioRDM: draft files ----------------------------------------------------------------

    async def list_draft_files(self, request: web.Request) -> web.Response:
        return web.json_response(self._files_listing(self._draft(request)))

    async def init_draft_files(self, request: web.Request) -> web.Response:
        draft = self._draft(request)
        body = await _json_body(request)
        if not isinstance(body, list) or not all(
            isinstance(item, dict) and isinstance(item.get("key"), str) and item["key"]
            for item in body
        ):
            raise _invalid("entries", 'Expected a list of {"key": "<file name>"} objects.')
        keys = [item["key"] for item in body]
        self._check_writable(draft)
        for key in keys:
            if key in draft.files:
                raise ApiError(400, f"File with key {key} already exists.")
        self._check_count(draft, keys)
        for key in keys:
            draft.files[key] = FileEntry(key, draft.bucket_id)
        draft.touch()
        listing = self._files_listing(draft)
        listing["entries"] = [e for e in listing["entries"] if e["key"] in keys]
        return web.json_response(listing, status=201)

    async def get_draft_file(self, request: web.Request) -> web.Response:
        draft, entry = self._draft_file(request)
        return web.json_response(self._file_json(draft, entry))

    async def delete_draft_file(self, request: web.Request) -> web.Response:
        draft, entry = self._draft_file(request)
        self._check_writable(draft)
        del draft.files[entry.key]
        draft.touch()
        return web.Response(status=204)

    async def upload_content(self, request: web.Request) -> web.Response:
        draft, entry = self._draft_file(request)
        self._check_writable(draft)
        if _media_type(request) != "application/octet-stream":
            raise _content_type_error("application/octet-stream")
        if request.content_length is None:
            raise ApiError(411, "A Content-Length header is required.")
        await self._receive(request, draft, entry, request.content_length)
        draft.touch()
        return web.json_response(self._file_json(draft, entry))

    async def commit_file(self, request: web.Request) -> web.Response:
        draft, entry = self._draft_file(request)
        if entry.path is None:
            raise ApiError(400, f"File '{entry.key}' has no content to commit.")
        self._commit(entry)
        draft.touch()
        return web.json_response(self._file_json(draft, entry))

    async def download_draft_content(self, request: web.Request) -> web.StreamResponse:
        return _send(self._draft_file(request)[1])

    # -- InvenioRDM: published records ----------------------------------------------------------

    async def get_record(self, request: web.Request) -> web.Response:
        record = self._record(request.match_info["id"])
        if self._wants_native(request):
            return web.json_response(self._native(record))
        return web.json_response(self._zenodo_json(record))

    async def list_record_files(self, request: web.Request) -> web.Response:
        return web.json_response(self._files_listing(self._record(request.match_info["id"])))

    async def get_record_file(self, request: web.Request) -> web.Response:
        record = self._record(request.match_info["id"])
        return web.json_response(self._file_json(record, self._file(record, request)))

    async def download_record_content(self, request: web.Request) -> web.StreamResponse:
        record = self._record(request.match_info["id"])
        return _send(self._file(record, request))

    async def list_versions(self, request: web.Request) -> web.Response:
        record = self._record(request.match_info["id"])
        ids = self.parents[record.parent_id].published[::-1]
        hits = [self._hit(self.records[i], request) for i in ids]
        return web.json_response(
            {
                "hits": {"hits": hits, "total": len(hits)},
                "sortBy": "version",
                "links": {"self": str(request.url)},
            }
        )

    async def latest_version(self, request: web.Request) -> web.Response:
        record = self._record(request.match_info["id"])
        latest = self.parents[record.parent_id].published[-1]
        return web.Response(status=302, headers={"Location": f"{self.url}/api/records/{latest}"})

    async def search_records(self, request: web.Request) -> web.Response:
        authenticated = self._authorized(request)
        documents = self._latest(list(self.records.values()), request)
        return self._search(request, documents, ANONYMOUS_MAX_SIZE, authenticated)

    async def search_user_records(self, request: web.Request) -> web.Response:
        documents = self._latest(self._own_documents(), request)
        return self._search(request, documents, AUTHENTICATED_MAX_SIZE, True, native=True)

    # -- legacy deposition API ------------------------------------------------------------------

    async def legacy_list(self, request: web.Request) -> web.Response:
        documents = self._own_documents()
        status = request.query.get("status")
        if status == "draft":
            documents = [d for d in documents if d.is_draft]
        elif status == "published":
            documents = [d for d in documents if not d.is_draft]
        terms = _parse_query(request.query.get("q", ""))
        documents = [d for d in documents if _matches(self._native(d), terms)]
        documents.sort(key=lambda d: d.updated, reverse=request.query.get("sort") != "-mostrecent")
        page, size = _page_and_size(request, default=10, biggest=1000)
        chosen = documents[(page - 1) * size : page * size]
        return web.json_response([self._deposition(d) for d in chosen])

    async def legacy_create(self, request: web.Request) -> web.Response:
        body = await _json_object(request)
        draft = self._new_draft()
        self._apply_legacy(draft, body.get("metadata") or {})
        return web.json_response(self._deposition(draft), status=201)

    async def legacy_get(self, request: web.Request) -> web.Response:
        return web.json_response(self._deposition(self._any(request.match_info["id"])))

    async def legacy_update(self, request: web.Request) -> web.Response:
        draft = self._draft(request)
        body = await _json_object(request)
        self._apply_legacy(draft, body.get("metadata") or {})
        draft.touch()
        return web.json_response(self._deposition(draft))

    async def legacy_delete(self, request: web.Request) -> web.Response:
        self._discard(self._draft(request))
        return web.Response(status=204)

    async def legacy_list_files(self, request: web.Request) -> web.Response:
        document = self._any(request.match_info["id"])
        return web.json_response(self._legacy_files(document))

    async def legacy_upload_multipart(self, request: web.Request) -> web.Response:
        draft = self._draft(request)
        self._check_writable(draft)
        if request.content_length is not None and request.content_length > self.multipart_limit:
            raise ApiError(413, "The data value transmitted exceeds the capacity limit.")
        if not (_media_type(request) or "").startswith("multipart/"):
            raise _content_type_error("multipart/form-data")
        entry = await self._receive_multipart(request, draft)
        return web.json_response(self._legacy_file(draft, entry), status=201)

    async def legacy_get_file(self, request: web.Request) -> web.Response:
        document = self._any(request.match_info["id"])
        entry = self._file_by_id(document, request.match_info["file_id"])
        return web.json_response(self._legacy_file(document, entry))

    async def legacy_delete_file(self, request: web.Request) -> web.Response:
        document = self._any(request.match_info["id"])
        if not document.is_draft:
            raise ApiError(403, FORBIDDEN)
        entry = self._file_by_id(document, request.match_info["file_id"])
        self._check_writable(document)
        del document.files[entry.key]
        document.touch()
        return web.Response(status=204)

    async def legacy_publish(self, request: web.Request) -> web.Response:
        record = self._publish(self._draft(request))
        return web.json_response(self._deposition(record), status=202)

    async def legacy_edit(self, request: web.Request) -> web.Response:
        return web.json_response(self._deposition(self._edit(request.match_info["id"])), status=201)

    async def legacy_discard(self, request: web.Request) -> web.Response:
        self._discard(self._draft(request))
        return web.Response(status=204)

    async def legacy_newversion(self, request: web.Request) -> web.Response:
        draft = self._new_version(request.match_info["id"])
        self._import_files(draft)
        return web.json_response(self._deposition(draft), status=201)

    async def bucket_put(self, request: web.Request) -> web.Response:
        draft = self._bucket_draft(request)
        self._check_writable(draft)
        if _media_type(request) != "application/octet-stream":
            raise _content_type_error("application/octet-stream")
        if request.content_length is None:
            raise ApiError(415, "Content-Length is required (chunked uploads are refused).")
        key = request.match_info["key"]
        if key not in draft.files:
            self._check_count(draft, [key])
        entry = FileEntry(key, draft.bucket_id)
        await self._receive(request, draft, entry, request.content_length)
        self._commit(entry)
        draft.files.pop(key, None)
        draft.files[key] = entry
        draft.touch()
        return web.json_response(self._files_rest(draft, entry), status=201)

    async def bucket_get(self, request: web.Request) -> web.StreamResponse:
        document = self._bucket_document(request)
        return _send(self._file(document, request))

    async def bucket_delete(self, request: web.Request) -> web.Response:
        draft = self._bucket_draft(request)
        entry = self._file(draft, request)
        self._check_writable(draft)
        del draft.files[entry.key]
        draft.touch()
        return web.Response(status=204)

    # -- operations shared by both APIs ---------------------------------------------------------

    def _new_draft(self, *, metadata: dict[str, Any] | None = None, counted: bool = True) -> Draft:
        parent = Parent(self._new_id())
        self.parents[parent.id] = parent
        draft = Draft(self._new_id(), parent.id, str(uuid.uuid4()), metadata=metadata or {})
        self._register(draft, counted=counted)
        return draft

    def _register(self, draft: Draft, *, counted: bool = True) -> None:
        self.drafts[draft.id] = draft
        self._buckets[draft.bucket_id] = draft.id
        self.drafts_created += counted

    def _edit(self, record_id: str) -> Draft:
        if record_id in self.drafts:
            if record_id not in self.records:
                raise ApiError(404, NOT_REGISTERED)
            return self.drafts[record_id]
        record = self._record(record_id)
        draft = Draft(**record.snapshot(), files_locked=True)
        self.drafts[draft.id] = draft
        return draft

    def _new_version(self, record_id: str) -> Draft:
        record = self._record(record_id)
        parent = self.parents[record.parent_id]
        for draft in self.drafts.values():
            if draft.parent_id == parent.id and draft.id not in self.records:
                return draft  # one new-version draft per concept, as InvenioRDM does
        metadata = copy.deepcopy(self.records[parent.published[-1]].metadata)
        for dropped in ("publication_date", "version"):
            metadata.pop(dropped, None)
        draft = Draft(
            self._new_id(),
            parent.id,
            str(uuid.uuid4()),
            metadata=metadata,
            access=copy.deepcopy(record.access),
            custom_fields=copy.deepcopy(record.custom_fields),
            legacy_extra=copy.deepcopy(record.legacy_extra),
            version_index=len(parent.published) + 1,
        )
        self._register(draft)
        return draft

    def _import_files(self, draft: Draft) -> None:
        if draft.files:
            raise _invalid("files.enabled", REMOVE_FILES_FIRST)
        parent = self.parents[draft.parent_id]
        if not parent.published:
            raise ApiError(404, NOT_REGISTERED)
        latest = self.records[parent.published[-1]]
        draft.files = {key: e.linked(draft.bucket_id) for key, e in latest.files.items()}
        draft.files_enabled = True
        draft.touch()

    def _discard(self, draft: Draft) -> None:
        del self.drafts[draft.id]
        if draft.id not in self.records:
            self._buckets.pop(draft.bucket_id, None)

    def _publish(self, draft: Draft) -> Record:
        errors = _validate(draft.metadata) + self._file_errors(draft)
        if errors:
            raise ApiError(400, VALIDATION, errors)
        parent = self.parents[draft.parent_id]
        previous = self.records.get(draft.id)
        record = Record(**draft.snapshot())
        record.pids.setdefault("doi", self._managed_doi(record.id))
        record.pids.setdefault(
            "oai", {"identifier": f"oai:{self.host}:{record.id}", "provider": "oai"}
        )
        if parent.doi is None:
            parent.doi = self._doi(parent.id)
        if previous is not None:
            record.revision_id = previous.revision_id + 1
        else:
            parent.published.append(record.id)
        self.records[record.id] = record
        del self.drafts[draft.id]
        return record

    def _commit(self, entry: FileEntry) -> None:
        assert entry.path is not None
        assert entry.md5 is not None
        with self._state_lock:
            corrupt = self._corrupt_commits > 0
            self._corrupt_commits -= corrupt
        if corrupt:
            entry.md5 = _damage(entry.path)
        entry.checksum = f"md5:{entry.md5}"
        entry.status = "completed"
        entry.updated = _now()

    async def _receive(
        self, request: web.Request, draft: Draft, entry: FileEntry, length: int
    ) -> None:
        """Stream ``length`` bytes of the body to disk, md5 on the way; fill ``entry``."""
        self._check_size(draft, entry.key, length)
        with self._state_lock:
            drop = self._dropped_uploads > 0
            self._dropped_uploads -= drop
        stop_at = length // 2 if drop else length
        entry.version_id = str(uuid.uuid4())
        path = self._object_path(entry)
        digest, received = hashlib.md5(), 0
        try:
            with path.open("wb") as out:
                while received < stop_at:
                    chunk = await request.content.read(min(CHUNK, stop_at - received))
                    if not chunk:
                        break
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if drop:
            path.unlink(missing_ok=True)
            assert request.transport is not None
            request.transport.close()
            raise ConnectionResetError("fault: upload dropped half-way")
        if received != length:
            path.unlink(missing_ok=True)
            raise ApiError(400, UPLOAD_FAILED)
        entry.path, entry.size, entry.md5 = path, received, digest.hexdigest()
        entry.status, entry.checksum, entry.updated = "pending", None, _now()

    async def _receive_multipart(self, request: web.Request, draft: Draft) -> FileEntry:
        """The legacy ``file`` + ``name`` form: stored, committed, answered with bare hex."""
        reader = await request.multipart()
        name, entry = None, None
        while True:
            part: Any = await reader.next()
            if part is None:
                break
            if part.name == "name":
                name = await part.text()
            elif part.name == "file":
                entry = FileEntry(part.filename or "file", draft.bucket_id)
                await self._receive_part(request, part, draft, entry)
        if entry is None:
            raise _invalid("file", MISSING)
        entry.key = _secure_filename(name or entry.key)
        if entry.key in draft.files:
            raise ApiError(400, f"File with key {entry.key} already exists.")
        self._check_count(draft, [entry.key])
        self._commit(entry)
        draft.files[entry.key] = entry
        draft.touch()
        return entry

    async def _receive_part(
        self, request: web.Request, part: Any, draft: Draft, entry: FileEntry
    ) -> None:
        with self._state_lock:
            drop = self._dropped_uploads > 0
            self._dropped_uploads -= drop
        stop_at = (request.content_length or 0) // 2 if drop else None
        path = self._object_path(entry)
        digest, received = hashlib.md5(), 0
        with path.open("wb") as out:
            while chunk := await part.read_chunk(CHUNK):
                received += len(chunk)
                if received > self.multipart_limit:
                    path.unlink(missing_ok=True)
                    raise ApiError(413, "The data value transmitted exceeds the capacity limit.")
                out.write(chunk)
                digest.update(chunk)
                if stop_at is not None and received >= stop_at:
                    break
        if drop:
            path.unlink(missing_ok=True)
            assert request.transport is not None
            request.transport.close()
            raise ConnectionResetError("fault: upload dropped half-way")
        self._check_size(draft, entry.key, received)
        entry.path, entry.size, entry.md5 = path, received, digest.hexdigest()

    # -- checks and look-ups --------------------------------------------------------------------

    def _check_writable(self, draft: _Document) -> None:
        if not draft.is_draft or getattr(draft, "files_locked", False):
            raise ApiError(403, LOCKED)

    def _check_count(self, draft: _Document, keys: list[str]) -> None:
        if len(set(draft.files) | set(keys)) > self.max_files:
            raise ApiError(400, TOO_MANY_FILES)

    def _check_size(self, draft: _Document, key: str, size: int) -> None:
        if size > self.max_file_size:
            raise ApiError(400, f"File size limit exceeded ({self.max_file_size} bytes).")
        others = sum(e.size or 0 for k, e in draft.files.items() if k != key)
        if others + size > self.max_file_size:
            raise ApiError(400, f"Record quota exceeded ({self.max_file_size} bytes).")

    def _file_errors(self, draft: Draft) -> list[dict[str, Any]]:
        if not draft.files_enabled:
            return []
        if not draft.files:
            return [{"field": "files.enabled", "messages": [NO_FILES]}]
        pending = [key for key, entry in draft.files.items() if not entry.completed]
        if pending:
            return [
                {"field": "files", "messages": [f"File '{k}' is not committed." for k in pending]}
            ]
        return []

    def _draft(self, request: web.Request) -> Draft:
        record_id = request.match_info["id"]
        if record_id in self.drafts:
            return self.drafts[record_id]
        if record_id in self.records:
            raise ApiError(404, DRAFT_NOT_FOUND)
        raise ApiError(404, NOT_FOUND)

    def _record(self, record_id: str) -> Record:
        if record_id in self.records:
            return self.records[record_id]
        raise ApiError(404, NOT_REGISTERED if record_id in self.drafts else NOT_FOUND)

    def _any(self, record_id: str) -> _Document:
        document = self.drafts.get(record_id) or self.records.get(record_id)
        if document is None:
            raise ApiError(404, NOT_FOUND)
        return document

    def _draft_file(self, request: web.Request) -> tuple[Draft, FileEntry]:
        draft = self._draft(request)
        return draft, self._file(draft, request)

    def _file(self, document: _Document, request: web.Request) -> FileEntry:
        key = request.match_info["key"]
        if key not in document.files:
            raise ApiError(404, f"Record '{document.id}' has no file '{key}'.")
        return document.files[key]

    def _file_by_id(self, document: _Document, file_id: str) -> FileEntry:
        for entry in document.files.values():
            if entry.file_id == file_id:
                return entry
        raise ApiError(404, "File not found.")

    def _bucket_document(self, request: web.Request) -> _Document:
        record_id = self._buckets.get(request.match_info["bucket"])
        if record_id is None:
            raise ApiError(404, "Bucket does not exist.")
        return self._any(record_id)

    def _bucket_draft(self, request: web.Request) -> Draft:
        document = self._bucket_document(request)
        if not isinstance(document, Draft):
            raise ApiError(403, LOCKED)
        return document

    def _own_documents(self) -> list[_Document]:
        """Drafts, and published records without a draft (one per id)."""
        records = [r for i, r in self.records.items() if i not in self.drafts]
        return [*self.drafts.values(), *records]

    def _latest(self, documents: list[_Document], request: web.Request) -> list[_Document]:
        if request.query.get("allversions", "").lower() in ("1", "true"):
            return documents
        latest: dict[str, _Document] = {}
        for document in documents:
            known = latest.get(document.parent_id)
            if known is None or document.version_index > known.version_index:
                latest[document.parent_id] = document
        return list(latest.values())

    def _wants_native(self, request: web.Request) -> bool:
        return self.flavour == "invenio" or INVENIO_JSON in request.headers.get("Accept", "")

    # -- ids, DOIs, storage ---------------------------------------------------------------------

    def _new_id(self) -> str:
        if self.flavour == "zenodo":
            return str(next(self._numbers))
        while True:
            chars = "".join(self._random.choice(_ID_ALPHABET) for _ in range(10))
            candidate = f"{chars[:5]}-{chars[5:]}"
            if candidate not in self.parents and candidate not in self.drafts:
                return candidate

    def _doi(self, record_id: str) -> str:
        if self.flavour == "zenodo":
            return f"{self.doi_prefix}/zenodo.{record_id}"
        return f"{self.doi_prefix}/{record_id}"

    def _managed_doi(self, record_id: str) -> dict[str, str]:
        return {"identifier": self._doi(record_id), "provider": "datacite", "client": "datacite"}

    def _object_path(self, entry: FileEntry) -> Path:
        folder = self.store_root / entry.bucket_id
        folder.mkdir(parents=True, exist_ok=True)
        return folder / entry.version_id

    # -- metadata in ----------------------------------------------------------------------------

    def _apply_native(self, draft: Draft, body: dict[str, Any]) -> None:
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise _invalid("metadata", "Invalid input type.")
        draft.metadata = _normalise(copy.deepcopy(metadata))
        if isinstance(body.get("access"), dict):
            draft.access = {**draft.access, **body["access"]}
        if isinstance(body.get("custom_fields"), dict):
            draft.custom_fields = copy.deepcopy(body["custom_fields"])
        files = body.get("files")
        if isinstance(files, dict) and "enabled" in files and not draft.files_locked:
            if not files["enabled"] and draft.files:
                raise _invalid("files.enabled", REMOVE_FILES_FIRST)
            draft.files_enabled = bool(files["enabled"])
        doi = (body.get("pids") or {}).get("doi")
        if isinstance(doi, dict) and doi.get("provider") == "external" and doi.get("identifier"):
            draft.pids["doi"] = {"identifier": doi["identifier"], "provider": "external"}

    def _apply_legacy(self, draft: Draft, legacy: dict[str, Any]) -> None:
        if not isinstance(legacy, dict):
            raise _invalid("metadata", "Invalid input type.")
        _check_legacy(legacy)
        metadata, access, extra = _from_legacy(legacy)
        draft.metadata, draft.legacy_extra = _normalise(metadata), extra
        draft.access = {**draft.access, **access}
        doi = legacy.get("doi")
        if doi and draft.id not in self.records:
            own = doi == self._doi(draft.id) and self.doi_prefix == ZENODO_DOI_PREFIX
            if not own:  # the live trap: a sandbox prereserve_doi copied here is "external"
                draft.pids["doi"] = {"identifier": doi, "provider": "external"}

    # -- native JSON out ------------------------------------------------------------------------

    def _draft_response(self, draft: Draft, status: int) -> web.Response:
        body = self._native(draft)
        errors = _validate(draft.metadata)
        if errors:
            body["errors"] = errors
        return web.json_response(body, status=status)

    def _native(self, document: _Document) -> dict[str, Any]:
        published = document.id in self.records
        parent = self.parents[document.parent_id]
        latest = parent.published[-1] if parent.published else None
        if not document.is_draft:
            status = "published"
        elif published:
            status = "published"  # an edit in progress
        else:
            status = "new_version_draft" if document.version_index > 1 else "draft"
        body: dict[str, Any] = {
            "id": document.id,
            "created": document.created,
            "updated": document.updated,
            "revision_id": document.revision_id,
            "is_draft": document.is_draft,
            "is_published": published,
            "status": status,
            "access": {
                "record": document.access.get("record", "public"),
                "files": document.access.get("files", "public"),
                "embargo": document.access.get("embargo", {"active": False, "reason": None}),
                "status": "open" if document.access.get("files") != "restricted" else "restricted",
            },
            "metadata": document.metadata,
            "custom_fields": document.custom_fields,
            "files": self._files_summary(document),
            "pids": document.pids,
            "parent": self._parent_json(parent),
            "versions": {
                "index": document.version_index,
                "is_latest": not document.is_draft and document.id == latest,
                "is_latest_draft": document.is_draft or document.id == latest,
            },
            "links": self._links(document),
        }
        if isinstance(document, Draft):
            body["expires_at"] = document.expires_at
        return body

    def _parent_json(self, parent: Parent) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": parent.id,
            "access": {"owned_by": {"user": "1"}, "links": []},
            "communities": {},
            "pids": {},
        }
        if parent.doi:
            body["pids"]["doi"] = {
                "identifier": parent.doi,
                "provider": "datacite",
                "client": "datacite",
            }
        return body

    def _links(self, document: _Document) -> dict[str, str]:
        api, ui, i = f"{self.url}/api", self.url, document.id
        links = {
            "latest": f"{api}/records/{i}/versions/latest",
            "latest_html": f"{ui}/records/{i}/latest",
            "versions": f"{api}/records/{i}/versions",
            "access_links": f"{api}/records/{i}/access/links",
            "reserve_doi": f"{api}/records/{i}/draft/pids/doi",
            "record": f"{api}/records/{i}",
            "record_html": f"{ui}/records/{i}",
            "draft": f"{api}/records/{i}/draft",
        }
        if document.is_draft:
            links |= {
                "self": f"{api}/records/{i}/draft",
                "self_html": f"{ui}/uploads/{i}",
                "files": f"{api}/records/{i}/draft/files",
                "publish": f"{api}/records/{i}/draft/actions/publish",
            }
        else:
            links |= {
                "self": f"{api}/records/{i}",
                "self_html": f"{ui}/records/{i}",
                "files": f"{api}/records/{i}/files",
            }
        if "doi" in document.pids:
            links["doi"] = f"https://doi.org/{document.pids['doi']['identifier']}"
        parent = self.parents[document.parent_id]
        if parent.doi:
            links["parent_doi"] = f"https://doi.org/{parent.doi}"
        return links

    def _files_summary(self, document: _Document) -> dict[str, Any]:
        done = [e for e in document.files.values() if e.completed]
        return {
            "enabled": document.files_enabled,
            "order": [],
            "count": len(done),
            "total_bytes": sum(e.size or 0 for e in done),
            "entries": {e.key: self._file_json(document, e) for e in done},
        }

    def _files_listing(self, document: _Document) -> dict[str, Any]:
        base = self._links(document)["files"]
        return {
            "enabled": document.files_enabled,
            "default_preview": None,
            "order": [],
            "entries": [self._file_json(document, e) for e in document.files.values()],
            "links": {"self": base},
        }

    def _file_json(self, document: _Document, entry: FileEntry) -> dict[str, Any]:
        base = f"{self._links(document)['files']}/{quote(entry.key)}"
        links = {"self": base, "content": f"{base}/content"}
        if document.is_draft:
            links["commit"] = f"{base}/commit"
        body: dict[str, Any] = {
            "key": entry.key,
            "created": entry.created,
            "updated": entry.updated,
            "status": entry.status,
            "metadata": None,
            "links": links,
        }
        if entry.completed:
            body |= {
                "id": entry.file_id,
                "checksum": entry.checksum,
                "mimetype": entry.mimetype,
                "size": entry.size,
                "file_id": entry.file_id,
                "version_id": entry.version_id,
                "bucket_id": entry.bucket_id,
                "storage_class": "L",
            }
        return body

    # -- legacy JSON out ------------------------------------------------------------------------

    def _deposition(self, document: _Document) -> dict[str, Any]:
        """A deposition as ``/api/deposit/depositions`` answers it."""
        published = document.id in self.records
        state = "inprogress" if published else "unsubmitted"
        if not document.is_draft:
            state = "done"
        parent = self.parents[document.parent_id]
        body: dict[str, Any] = {
            "created": document.created,
            "modified": document.updated,
            "id": int(document.id),
            "record_id": int(document.id),
            "conceptrecid": parent.id,
            "metadata": self._legacy_metadata(document),
            "title": document.metadata.get("title", ""),
            "links": self._legacy_links(document),
            "owner": 1,
            "state": state,
            "submitted": published,
        }
        if "doi" in document.pids:
            body["doi"] = document.pids["doi"]["identifier"]
            body["doi_url"] = f"https://doi.org/{body['doi']}"
        if parent.doi:
            body["conceptdoi"] = parent.doi
        files = self._legacy_files(document)
        if files:  # live: no "files" key at all when there are none
            body["files"] = files
        return body

    def _legacy_links(self, document: _Document) -> dict[str, str]:
        api, ui, i = f"{self.url}/api", self.url, document.id
        dep = f"{api}/deposit/depositions/{i}"
        links = {
            "self": dep if document.is_draft else f"{api}/records/{i}",
            "html": f"{ui}/deposit/{i}" if document.is_draft else f"{ui}/records/{i}",
            "files": f"{dep}/files" if document.is_draft else f"{api}/records/{i}/files",
            "bucket": f"{api}/files/{document.bucket_id}",
            "badge": f"{ui}/badge/doi/{self._doi(i)}.svg",
            "latest_draft": dep,  # live: the deposition itself, even when a newer draft exists
            "latest_draft_html": f"{ui}/deposit/{i}",
            "publish": f"{dep}/actions/publish",
            "edit": f"{dep}/actions/edit",
            "discard": f"{dep}/actions/discard",
            "newversion": f"{dep}/actions/newversion",
            "registerconceptdoi": f"{dep}/actions/registerconceptdoi",
        }
        if self.omit_bucket_link:
            del links["bucket"]
        if document.id in self.records:
            links |= {
                "record": f"{api}/records/{i}",
                "record_html": f"{ui}/record/{i}",
                "latest": f"{api}/records/{i}/versions/latest",
                "latest_html": f"{ui}/record/{i}/versions/latest",
            }
        if "doi" in document.pids:
            links["doi"] = f"https://doi.org/{document.pids['doi']['identifier']}"
        return links

    def _legacy_metadata(self, document: _Document) -> dict[str, Any]:
        metadata = _to_legacy(document.metadata, document.access, document.legacy_extra)
        if "doi" in document.pids:
            metadata["doi"] = document.pids["doi"]["identifier"]
        metadata["prereserve_doi"] = {"doi": self._doi(document.id), "recid": int(document.id)}
        return metadata

    def _legacy_files(self, document: _Document) -> list[dict[str, Any]]:
        return [self._legacy_file(document, e) for e in document.files.values() if e.completed]

    def _legacy_file(self, document: _Document, entry: FileEntry) -> dict[str, Any]:
        dep = f"{self.url}/api/deposit/depositions/{document.id}"
        return {
            "id": entry.file_id,
            "filename": entry.key,
            "filesize": entry.size,
            "checksum": (entry.checksum or "").removeprefix("md5:"),
            "links": {
                "self": f"{dep}/files/{entry.file_id}",
                "download": f"{self.url}/api/files/{document.bucket_id}/{quote(entry.key)}",
            },
        }

    def _files_rest(self, document: _Document, entry: FileEntry) -> dict[str, Any]:
        url = f"{self.url}/api/files/{document.bucket_id}/{quote(entry.key)}"
        return {
            "created": entry.created,
            "updated": entry.updated,
            "version_id": entry.version_id,
            "key": entry.key,
            "size": entry.size,
            "mimetype": entry.mimetype,
            "checksum": entry.checksum,
            "is_head": True,
            "delete_marker": False,
            "links": {
                "self": url,
                "version": f"{url}?versionId={entry.version_id}",
                "uploads": f"{url}?uploads",
            },
        }

    def _zenodo_json(self, record: _Document) -> dict[str, Any]:
        """A published record as zenodo.org's records API answers plain ``application/json``."""
        parent = self.parents[record.parent_id]
        legacy = _to_legacy(record.metadata, record.access, record.legacy_extra)
        doi = record.pids.get("doi", {}).get("identifier")
        upload_type = legacy.pop("upload_type", None)
        subtype = legacy.pop(f"{upload_type}_type", None)
        resource_type = {"type": upload_type, "title": str(upload_type).title()}
        if subtype:
            resource_type["subtype"] = subtype
        index = parent.published.index(record.id) if record.id in parent.published else 0
        metadata = {
            **legacy,
            "doi": doi,
            "resource_type": resource_type,
            "relations": {
                "version": [
                    {
                        "index": index,
                        "is_last": index == len(parent.published) - 1,
                        "count": len(parent.published),
                        "parent": {"pid_type": "recid", "pid_value": parent.id},
                    }
                ]
            },
        }
        if "license" in legacy:
            metadata["license"] = {"id": legacy["license"]}
        files_url = f"{self.url}/api/records/{record.id}/files"
        return {
            "created": record.created,
            "modified": record.updated,
            "id": int(record.id),
            "recid": record.id,
            "conceptrecid": parent.id,
            "doi": doi,
            "conceptdoi": parent.doi,
            "doi_url": f"https://doi.org/{doi}",
            "metadata": metadata,
            "title": record.metadata.get("title", ""),
            "links": {
                "self": f"{self.url}/api/records/{record.id}",
                "html": f"{self.url}/records/{record.id}",
                "doi": f"https://doi.org/{doi}",
                "parent_doi": f"https://doi.org/{parent.doi}",
                "files": files_url,
                "latest": f"{self.url}/api/records/{record.id}/versions/latest",
            },
            "files": [
                {
                    "id": e.file_id,
                    "key": e.key,
                    "size": e.size,
                    "checksum": e.checksum,
                    "links": {"self": f"{files_url}/{quote(e.key)}/content"},
                }
                for e in record.files.values()
                if e.completed
            ],
            "owners": [1],
            "status": "published",
            "stats": {"downloads": 0, "views": 0},
            "state": "done",
            "submitted": True,
        }

    # -- search ---------------------------------------------------------------------------------

    def _hit(self, document: _Document, request: web.Request, native: bool = False) -> Any:
        if native or self._wants_native(request) or document.is_draft:
            return self._native(document)
        return self._zenodo_json(document)

    def _search(
        self,
        request: web.Request,
        documents: list[_Document],
        anonymous_max: int,
        authenticated: bool,
        *,
        native: bool = False,
    ) -> web.Response:
        biggest = AUTHENTICATED_MAX_SIZE if authenticated else anonymous_max
        page, size = _page_and_size(request, default=10, biggest=biggest)
        terms = _parse_query(request.query.get("q", ""))
        found = [(d, _score(self._native(d), terms)) for d in documents]
        found = [(d, s) for d, s in found if s is not None]
        sort = request.query.get("sort") or ("bestmatch" if terms else "newest")
        if sort == "bestmatch":
            found.sort(key=lambda item: (-(item[1] or 0), item[0].created), reverse=False)
        else:
            found.sort(key=lambda item: item[0].created, reverse=sort != "oldest")
        start = (page - 1) * size
        hits = [self._hit(d, request, native) for d, _ in found[start : start + size]]
        links = {"self": str(request.url)}
        if start + size < len(found):
            links["next"] = str(request.url.update_query(page=page + 1))
        if page > 1:
            links["prev"] = str(request.url.update_query(page=page - 1))
        return web.json_response(
            {
                "hits": {"hits": hits, "total": len(found)},
                "aggregations": {},
                "links": links,
                "sortBy": sort,
            }
        )


# -- request helpers ---------------------------------------------------------------------------


def _content_type_error(expected: str) -> ApiError:
    return ApiError(415, f"Invalid 'Content-Type' header. Expected one of: {expected}.")


def _media_type(request: web.Request) -> str | None:
    """The request's media type; None without a header (aiohttp would say octet-stream)."""
    return request.content_type if "Content-Type" in request.headers else None


async def _json_body(request: web.Request) -> Any:
    if _media_type(request) != "application/json":
        raise _content_type_error("application/json")
    try:
        return json.loads(await request.read() or b"null")
    except ValueError as exc:
        raise ApiError(400, "Unable to decode JSON data in request body.") from exc


async def _json_object(request: web.Request) -> dict[str, Any]:
    body = await _json_body(request)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid input: a JSON object is expected.")
    return body


def _page_and_size(request: web.Request, *, default: int, biggest: int) -> tuple[int, int]:
    try:
        page = int(request.query.get("page", "1"))
        size = int(request.query.get("size", str(default)))
    except ValueError as exc:
        raise ApiError(400, "Invalid querystring parameters.") from exc
    if page < 1 or size < 1 or size > biggest:
        message = f"Page size cannot be greater than {biggest}."
        raise _invalid("size", message)
    return page, size


def _send(entry: FileEntry) -> web.StreamResponse:
    if entry.path is None or not entry.path.exists():
        raise ApiError(404, f"File '{entry.key}' has no content.")
    headers = {
        "Content-Type": entry.mimetype,
        "Content-Disposition": f"inline; filename={quote(entry.key)}",
    }
    if entry.checksum:
        headers["Content-MD5"] = entry.checksum.removeprefix("md5:")
    return web.FileResponse(entry.path, headers=headers)


def _damage(path: Path) -> str:
    """Flip the last byte of the stored file (or add one); the md5 of the damaged bytes."""
    with path.open("r+b") as fh:
        fh.seek(0, 2)
        if fh.tell() == 0:
            fh.write(b"\0")
        else:
            fh.seek(-1, 2)
            last = fh.read(1)[0]
            fh.seek(-1, 2)
            fh.write(bytes([last ^ 0xFF]))
    digest = hashlib.md5()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _secure_filename(name: str) -> str:
    """Werkzeug's ``secure_filename``, which the legacy multipart upload applies."""
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    name = "_".join(name.replace("/", " ").replace("\\", " ").split())
    return re.sub(r"[^A-Za-z0-9_.-]", "", name).strip("._") or "file"


# -- metadata ----------------------------------------------------------------------------------


def _example_metadata() -> dict[str, Any]:
    return {
        "resource_type": {"id": "dataset"},
        "title": "Seeded dataset",
        "publication_date": "2024-05-01",
        "creators": [{"person_or_org": {"type": "personal", "family_name": "Doe"}}],
    }


def _normalise(metadata: dict[str, Any]) -> dict[str, Any]:
    """What InvenioRDM adds on save: resource type titles and creator display names."""
    resource_type = metadata.get("resource_type")
    if isinstance(resource_type, dict) and isinstance(resource_type.get("id"), str):
        label = resource_type["id"].split("-")[-1].replace("physicalobject", "physical object")
        resource_type["title"] = {"en": label.capitalize()}
    for creator in metadata.get("creators") or []:
        person = creator.get("person_or_org") if isinstance(creator, dict) else None
        if isinstance(person, dict) and person.get("type") == "personal" and "name" not in person:
            family, given = person.get("family_name") or "", person.get("given_name") or ""
            person["name"] = f"{family}, {given}" if given else family
    return metadata


def _validate(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """InvenioRDM's checks for the required fields, as ``[{"field", "messages"}]``."""
    errors: dict[str, list[str]] = {}
    resource_type = metadata.get("resource_type")
    if not isinstance(resource_type, dict) or not resource_type:
        errors["metadata.resource_type"] = [MISSING]
    elif not resource_type.get("id"):
        errors["metadata.resource_type.id"] = [MISSING]
    if not str(metadata.get("title") or "").strip():
        errors["metadata.title"] = [MISSING]
    published = metadata.get("publication_date")
    if not published:
        errors["metadata.publication_date"] = [MISSING]
    elif not isinstance(published, str) or not _DATE.match(published):
        errors["metadata.publication_date"] = ["Please provide a valid date or interval."]
    creators = metadata.get("creators")
    if not isinstance(creators, list) or not creators:
        errors["metadata.creators"] = [MISSING]
    else:
        for n, creator in enumerate(creators):
            errors |= _creator_errors(f"metadata.creators.{n}", creator)
    return [{"field": name, "messages": messages} for name, messages in errors.items()]


def _creator_errors(where: str, creator: Any) -> dict[str, list[str]]:
    person = creator.get("person_or_org") if isinstance(creator, dict) else None
    if not isinstance(person, dict):
        return {f"{where}.person_or_org": [MISSING]}
    kind = person.get("type")
    if not kind:
        return {f"{where}.person_or_org.type": [MISSING]}
    if kind not in ("personal", "organizational"):
        choices = "Invalid value. Choose one of ['organizational', 'personal']."
        return {f"{where}.person_or_org.type": [choices]}
    if kind == "personal" and not person.get("family_name"):
        return {f"{where}.person_or_org.family_name": ["Family name must be filled."]}
    if kind == "organizational" and not person.get("name"):
        return {f"{where}.person_or_org.name": ["Name cannot be blank."]}
    return {}


def _check_legacy(legacy: dict[str, Any]) -> None:
    """The checks the legacy deserializer makes before anything is saved (400 at once)."""
    errors: list[dict[str, Any]] = []
    upload_type = legacy.get("upload_type")
    if upload_type is not None and upload_type not in UPLOAD_TYPES:
        errors.append({"field": "metadata.upload_type", "messages": ["Invalid upload type."]})
    published = legacy.get("publication_date")
    if published is not None:
        try:
            date.fromisoformat(str(published))
        except ValueError:
            errors.append({"field": "metadata.publication_date", "messages": ["Not a valid date."]})
    creators = legacy.get("creators", [])
    if not isinstance(creators, list):
        errors.append({"field": "metadata.creators", "messages": ["Not a valid list."]})
    else:
        for n, creator in enumerate(creators):
            if not isinstance(creator, dict) or not creator.get("name"):
                errors.append({"field": f"metadata.creators.{n}.name", "messages": [MISSING]})
    if errors:
        raise ApiError(400, VALIDATION, errors)


def _from_legacy(legacy: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Legacy Zenodo metadata -> (InvenioRDM metadata, access, legacy fields kept as sent)."""
    handled = {
        "title", "description", "publication_date", "version", "upload_type", "creators",
        "keywords", "license", "access_right", "related_identifiers", "notes", "doi",
        "prereserve_doi", "embargo_date",
    }  # fmt: skip
    upload_type = legacy.get("upload_type")
    extra = {
        k: copy.deepcopy(v)
        for k, v in legacy.items()
        if k not in handled and k != f"{upload_type}_type"
    }
    if not legacy:
        return {}, {}, extra
    metadata: dict[str, Any] = {
        "publication_date": legacy.get("publication_date") or date.today().isoformat(),
        "publisher": "Zenodo",
    }
    for name in ("title", "description", "version"):
        if legacy.get(name):
            metadata[name] = legacy[name]
    if upload_type:
        subtype = legacy.get(f"{upload_type}_type")
        metadata["resource_type"] = {"id": f"{upload_type}-{subtype}" if subtype else upload_type}
    metadata["creators"] = [_creator_from_legacy(c) for c in legacy.get("creators") or []]
    if legacy.get("keywords"):
        metadata["subjects"] = [{"subject": k} for k in legacy["keywords"]]
    if legacy.get("license"):
        license_id = legacy["license"]
        license_id = license_id.get("id") if isinstance(license_id, dict) else license_id
        metadata["rights"] = [{"id": str(license_id).lower()}]
    if legacy.get("related_identifiers"):
        metadata["related_identifiers"] = [
            _related_from_legacy(r) for r in legacy["related_identifiers"]
        ]
    if legacy.get("notes"):
        metadata["additional_descriptions"] = [
            {"description": legacy["notes"], "type": {"id": "other"}}
        ]
    access_right = legacy.get("access_right", "open")
    access: dict[str, Any] = {"record": "public", "files": "public"}
    if access_right != "open":
        access["files"] = "restricted"
        extra["access_right"] = access_right
    if access_right == "embargoed":
        access["embargo"] = {"active": True, "until": legacy.get("embargo_date"), "reason": None}
    return metadata, access, extra


def _creator_from_legacy(creator: dict[str, Any]) -> dict[str, Any]:
    name = creator["name"].strip()
    if "," in name:
        family, given = (part.strip() for part in name.split(",", 1))
    else:
        *first, family = name.split()
        given = " ".join(first)
    person: dict[str, Any] = {"type": "personal", "family_name": family, "given_name": given}
    if creator.get("orcid"):
        person["identifiers"] = [{"scheme": "orcid", "identifier": creator["orcid"]}]
    result: dict[str, Any] = {"person_or_org": person}
    if creator.get("affiliation"):
        result["affiliations"] = [{"name": creator["affiliation"]}]
    return result


def _related_from_legacy(related: dict[str, Any]) -> dict[str, Any]:
    identifier = str(related.get("identifier", ""))
    if identifier.startswith("10."):
        scheme = "doi"
    elif identifier.startswith(("http://", "https://")):
        scheme = "url"
    else:
        scheme = related.get("scheme") or "other"
    result: dict[str, Any] = {
        "identifier": identifier,
        "scheme": scheme,
        "relation_type": {"id": str(related.get("relation", "")).lower()},
    }
    if related.get("resource_type"):
        result["resource_type"] = {"id": related["resource_type"]}
    return result


def _to_legacy(
    metadata: dict[str, Any], access: dict[str, Any], extra: dict[str, Any]
) -> dict[str, Any]:
    """InvenioRDM metadata -> legacy Zenodo metadata (the fields the fake maps)."""
    legacy = copy.deepcopy(extra)
    for name in ("title", "description", "publication_date", "version"):
        if metadata.get(name):
            legacy[name] = metadata[name]
    resource_type = (metadata.get("resource_type") or {}).get("id")
    if resource_type:
        upload_type, _, subtype = resource_type.partition("-")
        legacy["upload_type"] = upload_type
        if subtype:
            legacy[f"{upload_type}_type"] = subtype
    if metadata.get("creators"):
        legacy["creators"] = [_creator_to_legacy(c) for c in metadata["creators"]]
    if metadata.get("subjects"):
        legacy["keywords"] = [s["subject"] for s in metadata["subjects"] if "subject" in s]
    rights = metadata.get("rights") or []
    if rights and rights[0].get("id"):
        legacy["license"] = rights[0]["id"]
    if "access_right" not in legacy:
        legacy["access_right"] = "open" if access.get("files") != "restricted" else "restricted"
    if metadata.get("related_identifiers"):
        legacy["related_identifiers"] = [
            {
                "identifier": r.get("identifier"),
                "relation": _legacy_relation((r.get("relation_type") or {}).get("id", "")),
                "scheme": r.get("scheme"),
                **({"resource_type": r["resource_type"]["id"]} if r.get("resource_type") else {}),
            }
            for r in metadata["related_identifiers"]
        ]
    for description in metadata.get("additional_descriptions") or []:
        if (description.get("type") or {}).get("id") == "other":
            legacy["notes"] = description.get("description")
    return legacy


def _legacy_relation(relation_id: str) -> str:
    return LEGACY_RELATION.get(relation_id, relation_id)


def _creator_to_legacy(creator: dict[str, Any]) -> dict[str, Any]:
    person = creator.get("person_or_org") or {}
    result: dict[str, Any] = {"name": person.get("name") or person.get("family_name", "")}
    affiliations = creator.get("affiliations") or []
    if affiliations:
        result["affiliation"] = affiliations[0].get("name")
    for identifier in person.get("identifiers") or []:
        if identifier.get("scheme") == "orcid":
            result["orcid"] = identifier.get("identifier")
    return result


# -- query strings -----------------------------------------------------------------------------

_ALIASES = {
    "doi": "pids.doi.identifier",
    "title": "metadata.title",
    "recid": "id",
    "conceptrecid": "parent.id",
    "conceptdoi": "parent.pids.doi.identifier",
    "keywords": "metadata.subjects",
}


def _parse_query(query: str) -> list[tuple[str | None, str]]:
    """``word``, ``"a phrase"`` and ``field:value`` terms; unbalanced quotes are a 400."""
    if query.count('"') % 2:
        raise ApiError(400, "Invalid query string syntax.")
    terms: list[tuple[str | None, str]] = []
    for name, value, phrase, word in _TERM.findall(query):
        if name:
            terms.append((_ALIASES.get(name, name), value.strip('"').casefold()))
        else:
            text = (phrase or word).casefold()
            if text not in ("and", "or", "+"):
                terms.append((None, text))
    return terms


def _lookup(document: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if isinstance(document, dict):
            document = document.get(part)
        elif isinstance(document, list) and part.isdigit() and int(part) < len(document):
            document = document[int(part)]
        else:
            return None
    return document


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(_text(v) for v in value.values())
    if isinstance(value, list):
        return " ".join(_text(v) for v in value)
    return "" if value is None else str(value)


def _score(document: dict[str, Any], terms: list[tuple[str | None, str]]) -> int | None:
    """How well ``document`` matches every term (None: it does not)."""
    metadata = document.get("metadata", {})
    title = str(metadata.get("title", "")).casefold()
    full = _text(metadata).casefold()
    score = 0
    for name, value in terms:
        if name is None:
            if value not in full:
                return None
            score += 2 if value in title else 1
        elif value not in _text(_lookup(document, name)).casefold():
            return None
        else:
            score += 1
    return score


def _matches(document: dict[str, Any], terms: list[tuple[str | None, str]]) -> bool:
    return _score(document, terms) is not None
