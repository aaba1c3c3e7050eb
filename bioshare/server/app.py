"""`bioshare serve`: a folder of OME-Zarr datasets as a small, real repository.

Files are served the way an object store serves them: GET and HEAD with range requests,
ETag and Last-Modified (conditional requests answer 304), CORS for browsers, 404 for
folders and absent keys (never a listing), and nothing outside the folder. Beside them, a
JSON API lists and searches the datasets with summaries read from their metadata.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from bioshare import config
from bioshare.server.summary import find_datasets, summarize

__all__ = ["BackgroundServer", "create_app", "serve"]

log = logging.getLogger("bioshare.server")

_JSON_NAMES = frozenset({"zarr.json", ".zattrs", ".zarray", ".zgroup", ".zmetadata"})
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Content-Range, Content-Length, ETag, Accept-Ranges",
}
_PREFLIGHT = {
    **_CORS,
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Range, If-None-Match, If-Modified-Since, Content-Type",
    "Access-Control-Max-Age": "86400",
}
_RESCAN_SECONDS = 2.0
ROOT_KEY = web.AppKey("root", Path)
CATALOG_KEY: web.AppKey[_Catalog] = web.AppKey("catalog")


def create_app(root: str | Path, *, cors: bool = True) -> web.Application:
    """The aiohttp application serving ``root``.

    Parameters
    ----------
    root
        Folder of OME-Zarr datasets (folders or zips), at its top or one folder deeper.
    cors
        Answer cross-origin requests (browsers viewing the data directly).
    """
    folder = Path(root).expanduser().resolve()
    if not folder.exists():
        raise FileNotFoundError(f"{folder}: no such folder to serve")
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder; expected a folder of OME-Zarr")
    middlewares = [_cors_middleware] if cors else []
    app = web.Application(middlewares=middlewares)
    app[ROOT_KEY] = folder
    app[CATALOG_KEY] = _Catalog(folder)
    app.router.add_get("/api/health", _health)
    app.router.add_get("/api/datasets", _list)
    app.router.add_get("/api/datasets/{name:.+}", _one)
    app.router.add_route("GET", "/{path:.*}", _file)
    app.router.add_route("HEAD", "/{path:.*}", _file)
    app.router.add_route("OPTIONS", "/{path:.*}", _preflight)
    return app


# -- datasets and the JSON API ------------------------------------------------------------------


class _Catalog:
    """Dataset summaries, rescanned when the folder changes (checked at most every 2 s)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._summaries: list[dict[str, Any]] = []
        self._signature: tuple[Any, ...] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def summaries(self) -> list[dict[str, Any]]:
        with self._lock:
            now = time.monotonic()
            if self._signature is None or now - self._checked > _RESCAN_SECONDS:
                self._checked = now
                signature = self._current_signature()
                if signature != self._signature:
                    self._signature = signature
                    self._summaries = [summarize(p, self.root) for p in find_datasets(self.root)]
            return self._summaries

    def _current_signature(self) -> tuple[Any, ...]:
        entries = [self.root, *(p for p in self.root.iterdir() if p.is_dir())]
        return tuple((str(p), p.stat().st_mtime_ns) for p in entries)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"status": status, "message": message}}, status=status)


def _absolute(request: web.Request, summary: dict[str, Any]) -> dict[str, Any]:
    base = f"{request.scheme}://{request.host}"
    return {**summary, "url": base + summary["url"]}


async def _health(request: web.Request) -> web.Response:
    count = len(request.app[CATALOG_KEY].summaries())
    return web.json_response({"status": "ok", "datasets": count})


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise web.HTTPBadRequest(
            text=f'{{"error": {{"status": 400, "message": "{name}={text!r} is not valid; '
            f'expected an integer from {low} to {high}"}}}}',
            content_type="application/json",
        )
    return value


def _matches(summary: dict[str, Any], words: list[str]) -> bool:
    text = " ".join(
        [summary["name"], summary["title"], summary["description"], *summary.get("channels", [])]
    ).casefold()
    return all(word in text for word in words)


async def _list(request: web.Request) -> web.Response:
    limit = _int_param(request, "limit", 20, 1, 1000)
    offset = _int_param(request, "offset", 0, 0, 10**9)
    words = request.query.get("q", "").casefold().split()
    found = [s for s in request.app[CATALOG_KEY].summaries() if _matches(s, words)]
    page = [_absolute(request, s) for s in found[offset : offset + limit]]
    return web.json_response(
        {"total": len(found), "limit": limit, "offset": offset, "results": page}
    )


async def _one(request: web.Request) -> web.Response:
    name = request.match_info["name"].strip("/")
    for summary in request.app[CATALOG_KEY].summaries():
        if summary["name"] == name:
            return web.json_response(_absolute(request, summary))
    return _error(404, f"no dataset named {name!r} in this repository")


# -- files ----------------------------------------------------------------------------------------


def _resolve(root: Path, raw: str) -> Path | None:
    """The file a request path names, or None when it is absent or outside the root."""
    relative = unquote(raw).lstrip("/")
    if not relative or "\x00" in relative:
        return None
    parts = relative.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return None
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate


async def _file(request: web.Request) -> web.StreamResponse:
    path = _resolve(request.app[ROOT_KEY], request.raw_path.split("?", 1)[0])
    if path is None:
        return web.Response(status=404, text="Not Found")
    content_type = (
        "application/json"
        if path.name in _JSON_NAMES or path.suffix == ".json"
        else mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )
    response = web.FileResponse(path, headers={"Content-Type": content_type})
    return response


async def _preflight(request: web.Request) -> web.Response:
    return web.Response(status=204, headers=_PREFLIGHT)


@web.middleware
async def _cors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(_CORS)
        raise
    response.headers.update({k: v for k, v in _CORS.items() if k not in response.headers})
    return response


# -- running ------------------------------------------------------------------------------


def serve(root: str | Path, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve ``root`` until interrupted (blocking)."""
    app = create_app(root)
    reachable = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    url = f"http://{reachable}:{port}"
    print(f"Serving {app[ROOT_KEY]} at {url}/ (registered as the local repository)", flush=True)
    with (
        config.registered_service("local", url),
        config.registered_service("local_root", str(app[ROOT_KEY])),
    ):
        web.run_app(app, host=host, port=port, print=None, access_log=None)


class BackgroundServer:
    """Run `bioshare serve` in a background thread: for notebooks, the demo and tests.

    Examples
    --------
    >>> with BackgroundServer("demo-data") as server:  # doctest: +SKIP
    ...     bioshare.open_image(f"{server.url}/v0.5/cells.ome.zarr")
    """

    def __init__(
        self,
        root: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        access_log: bool = False,
    ) -> None:
        self.app = create_app(root)
        self.host = host
        self.port = port
        self.access_log = access_log
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._thread is None:
            raise RuntimeError("the server is not running; use start() or a with block")
        return f"http://{self.host}:{self.port}"

    def start(self) -> BackgroundServer:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="bioshare-serve", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout=30):
            raise RuntimeError("bioshare serve did not start within 30 s")
        if self._error is not None:
            self._thread = None
            raise self._error
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        self._thread = None
        self._loop = None

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        runner = web.AppRunner(self.app, access_log=log if self.access_log else None)
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, self.host, self.port, shutdown_timeout=1.0)
            loop.run_until_complete(site.start())
            sockets = getattr(site._server, "sockets", None) or []
            if sockets:
                self.port = sockets[0].getsockname()[1]
        except BaseException as exc:
            self._error = exc
            self._started.set()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()
