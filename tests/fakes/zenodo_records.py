"""A fake Zenodo records API: search, single records and file downloads.

It answers as zenodo.org does with plain ``application/json`` (reference section 4c):

- ``GET /api/records?q=&type=&sort=bestmatch|mostrecent&page=&size=`` ->
  ``{"hits": {"hits": [...], "total": N}, "aggregations": {...}, "links": {"self", "next"}}``
  with legacy Zenodo JSON hits (``id``, ``recid``, ``conceptrecid``, ``doi``,
  ``conceptdoi``, ``doi_url``, ``metadata{...}``, ``files[{id, key, size, checksum:
  "md5:...", links{self}}]``, ``links``, ``stats``); ``size`` above 25 (anonymous) or 100
  (with a Bearer token) and a query the parser rejects are 400 with InvenioRDM's
  ``{"status", "message", "errors": [{"field", "messages"}]}``;
- ``GET /api/records/{id}`` -> one record; 404 ``{"status": 404, "message": "The
  persistent identifier does not exist."}`` for unknown ids, 410 for deleted ones;
- ``GET /api/records/{id}/files/{key}/content`` -> the file, with HTTP range requests;
- ``X-RateLimit-Limit/-Remaining/-Reset`` on every answer.

``q`` is matched as Elasticsearch's query string would for plain words: every word must
appear in the title, description, keywords or creators. Faults come from
`FakeService.inject`.
"""

from __future__ import annotations

import hashlib
import re
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from fakes.service import FakeService

__all__ = ["FakeZenodoRecords", "ZenodoFile", "ZenodoRecord", "build_ome_zarr_zip", "seed"]

ANONYMOUS_MAX_SIZE = 25
AUTHENTICATED_MAX_SIZE = 100
_UNESCAPED = re.compile(r"(?<!\\)([/()\[\]{}\"])")


@dataclass
class ZenodoFile:
    key: str
    path: Path | None = None  # served from here; None: a file whose content is not served
    size: int = 1234
    checksum: str = "md5:" + "0" * 32


@dataclass
class ZenodoRecord:
    recid: int
    title: str
    description: str
    creators: list[tuple[str, str | None]]  # "Family, Given", ORCID
    keywords: list[str] = field(default_factory=list)
    resource_type: str = "dataset"
    license: str = "cc-by-4.0"
    publication_date: str = "2024-05-01"
    files: list[ZenodoFile] = field(default_factory=list)
    related: list[tuple[str, str]] = field(default_factory=list)  # identifier, relation
    conceptrecid: int | None = None
    deleted: bool = False

    @property
    def doi(self) -> str:
        return f"10.5281/zenodo.{self.recid}"

    @property
    def conceptdoi(self) -> str:
        return f"10.5281/zenodo.{self.conceptrecid or self.recid - 1}"


def build_ome_zarr_zip(folder: Path, name: str = "cells.ome.zarr.zip") -> ZenodoFile:
    """A small real OME-Zarr packed as an uncompressed zip, as bioshare publishes them."""
    import numpy as np
    import xarray as xr

    import bioshare

    image = folder / name.removesuffix(".zip")
    data = np.arange(2 * 16 * 20, dtype="uint8").reshape(2, 16, 20)
    bioshare.write_image(xr.DataArray(data, dims=("c", "y", "x")), image)
    archive = folder / name
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        for path in sorted(image.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(image).as_posix())
    digest = hashlib.md5(archive.read_bytes()).hexdigest()
    return ZenodoFile(name, archive, archive.stat().st_size, f"md5:{digest}")


def seed(files: dict[str, ZenodoFile] | None = None) -> list[ZenodoRecord]:
    """Four Zenodo-like records: an OME-Zarr dataset, a TIFF dataset, software, a deleted one."""
    files = files or {}
    return [
        ZenodoRecord(
            7654321,
            "HeLa cells stained for nuclei and actin, OME-Zarr",
            "<p>Two-channel <b>fluorescence microscopy</b> of HeLa cells, as OME-Zarr.</p>",
            [("Doe, Jane", "0000-0002-1825-0097"), ("Khan, Ali", None)],
            keywords=["OME-Zarr", "human", "fluorescence microscopy", "nuclei"],
            files=[files.get("cells.ome.zarr.zip") or ZenodoFile("cells.ome.zarr.zip")],
            related=[("S-BIAD634", "isIdenticalTo")],
        ),
        ZenodoRecord(
            8000002,
            "Zebrafish fin regeneration time-lapse (TIFF)",
            "Light sheet microscopy of regenerating zebrafish fins; TIFF stacks.",
            [("Rossi, Maria", None)],
            keywords=["zebrafish", "light sheet microscopy", "regeneration"],
            license="cc0-1.0",
            publication_date="2023-11-20",
            files=[ZenodoFile("fin_t000.tif", size=10_000), ZenodoFile("README.md", size=200)],
        ),
        ZenodoRecord(
            8000004,
            "napari plugin for nuclei segmentation",
            "Software: a plugin that segments nuclei.",
            [("Smith, Tom", None)],
            keywords=["software", "nuclei"],
            resource_type="software",
            license="mit",
        ),
        ZenodoRecord(
            8000006,
            "Withdrawn nuclei dataset",
            "Removed on request.",
            [("Smith, Tom", None)],
            deleted=True,
        ),
    ]


class FakeZenodoRecords(FakeService):
    """Zenodo's public records API on 127.0.0.1 (see the module docstring)."""

    name = "fake Zenodo records"

    def __init__(
        self, records: list[ZenodoRecord] | None = None, *, extra_records: int = 0, port: int = 0
    ) -> None:
        super().__init__(port=port)
        self.records = records if records is not None else seed()
        for n in range(extra_records):
            self.records.append(
                ZenodoRecord(
                    9_000_000 + 2 * n,
                    f"Filler microscopy dataset {n}",
                    "Bright-field images of filler tissue.",
                    [("Filler, Author", None)],
                    keywords=["filler"],
                    publication_date=f"2022-01-{1 + n % 28:02d}",
                )
            )

    # -- documents ------------------------------------------------------------------------------

    def _file(self, record: ZenodoRecord, f: ZenodoFile) -> dict[str, Any]:
        return {
            "id": f"{record.recid}-{f.key}",
            "key": f.key,
            "size": f.size,
            "checksum": f.checksum,
            "links": {"self": f"{self.url}/api/records/{record.recid}/files/{f.key}/content"},
        }

    def _record(self, r: ZenodoRecord) -> dict[str, Any]:
        creators = []
        for name, orcid in r.creators:
            creator = {"name": name, "affiliation": "EMBL"}
            if orcid:
                creator["orcid"] = orcid
            creators.append(creator)
        metadata: dict[str, Any] = {
            "title": r.title,
            "doi": r.doi,
            "publication_date": r.publication_date,
            "description": r.description,
            "access_right": "open",
            "creators": creators,
            "keywords": r.keywords,
            "resource_type": {"type": r.resource_type, "title": r.resource_type.title()},
            "license": {"id": r.license},
            "relations": {"version": [{"index": 0, "is_last": True, "count": 1}]},
        }
        if r.related:
            metadata["related_identifiers"] = [
                {"identifier": identifier, "relation": relation, "scheme": "other"}
                for identifier, relation in r.related
            ]
        return {
            "created": f"{r.publication_date}T10:00:00.000000+00:00",
            "modified": f"{r.publication_date}T10:00:00.000000+00:00",
            "id": r.recid,
            "recid": str(r.recid),
            "conceptrecid": str(r.conceptrecid or r.recid - 1),
            "doi": r.doi,
            "conceptdoi": r.conceptdoi,
            "doi_url": f"https://doi.org/{r.doi}",
            "metadata": metadata,
            "title": r.title,
            "links": {
                "self": f"{self.url}/api/records/{r.recid}",
                "html": f"{self.url}/records/{r.recid}",
                "doi": f"https://doi.org/{r.doi}",
                "files": f"{self.url}/api/records/{r.recid}/files",
            },
            "files": [self._file(r, f) for f in r.files],
            "owners": [1],
            "status": "published",
            "stats": {"downloads": 3, "views": 10},
            "state": "done",
            "submitted": True,
        }

    # -- routes ---------------------------------------------------------------------------------

    def setup(self, app: web.Application) -> None:
        app.middlewares.append(self._rate_limit_headers)
        app.router.add_get("/api/records", self.search)
        app.router.add_get("/api/records/", self.search)
        app.router.add_get("/api/records/{recid}", self.get_record)
        app.router.add_get("/api/records/{recid}/files/{key}/content", self.content)

    @web.middleware
    async def _rate_limit_headers(self, request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        response.headers["X-RateLimit-Limit"] = "133"
        response.headers["X-RateLimit-Remaining"] = "132"
        response.headers["X-RateLimit-Reset"] = str(int(time.time()) + 60)
        return response

    @staticmethod
    def _fail(
        status: int, message: str, errors: list[dict[str, Any]] | None = None
    ) -> web.Response:
        body: dict[str, Any] = {"status": status, "message": message}
        if errors:
            body["errors"] = errors
        return web.json_response(body, status=status)

    def _find(self, recid: str) -> ZenodoRecord | None:
        return next((r for r in self.records if str(r.recid) == recid), None)

    async def search(self, request: web.Request) -> web.Response:
        authenticated = request.headers.get("Authorization", "").startswith("Bearer ")
        biggest = AUTHENTICATED_MAX_SIZE if authenticated else ANONYMOUS_MAX_SIZE
        try:
            page = int(request.query.get("page", "1"))
            size = int(request.query.get("size", "10"))
        except ValueError:
            return self._fail(400, "Invalid query parameters.")
        if size > biggest or size < 1 or page < 1:
            return self._fail(
                400,
                "A validation error occurred.",
                [{"field": "size", "messages": [f"Page size cannot be greater than {biggest}."]}],
            )
        query = request.query.get("q", "")
        if not _parses(query):
            return self._fail(400, f"Syntax error in search query: {query!r}")
        words = re.findall(r"\w+", query.replace("\\", " ").casefold())
        wanted_type = request.query.get("type")
        found = []
        for record in self.records:
            if record.deleted or (wanted_type and record.resource_type != wanted_type):
                continue
            text = " ".join(
                [record.title, record.description, *record.keywords]
                + [name for name, _ in record.creators]
            ).casefold()
            if all(w in text for w in words):
                score = sum(2 if w in record.title.casefold() else 1 for w in words)
                found.append((score, record))
        if request.query.get("sort") == "mostrecent" or not words:
            found.sort(key=lambda item: item[1].publication_date, reverse=True)
        else:
            found.sort(key=lambda item: (-item[0], item[1].recid))
        start = (page - 1) * size
        hits = [self._record(record) for _, record in found[start : start + size]]
        links = {"self": str(request.url)}
        if start + size < len(found):
            links["next"] = str(request.url.update_query(page=page + 1))
        return web.json_response(
            {
                "hits": {"hits": hits, "total": len(found)},
                "aggregations": {
                    "access_right": {"buckets": [{"key": "open", "doc_count": len(found)}]}
                },
                "links": links,
            }
        )

    async def get_record(self, request: web.Request) -> web.Response:
        record = self._find(request.match_info["recid"])
        if record is None:
            return self._fail(404, "The persistent identifier does not exist.")
        if record.deleted:
            return self._fail(410, "The record has been deleted.")
        return web.json_response(self._record(record))

    async def content(self, request: web.Request) -> web.StreamResponse:
        record = self._find(request.match_info["recid"])
        key = request.match_info["key"]
        f = next((f for f in record.files if f.key == key), None) if record else None
        if f is None or f.path is None:
            return self._fail(404, "The file does not exist.")
        return web.FileResponse(f.path)


def _parses(query: str) -> bool:
    """Whether Elasticsearch's query-string parser would accept ``query``: no lone ``/``
    (a regular expression start), balanced brackets and quotes."""
    unescaped = _UNESCAPED.findall(query)
    if "/" in unescaped or unescaped.count('"') % 2:
        return False
    depth = 0
    for char in unescaped:
        depth += char in "([{"
        depth -= char in ")]}"
        if depth < 0:
            return False
    return depth == 0
