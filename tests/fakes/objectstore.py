"""A fake object store: a real HTTP/1.1 server on 127.0.0.1 serving a local folder.

It answers the way S3 or GCS behind plain HTTP do: GET and HEAD of keys, single byte
ranges (``206`` with ``Content-Range``), ``Content-Length``, keep-alive, and ``404`` for
folders and absent keys (it never lists). Every request is logged, so tests and
benchmarks can count requests and sequential round trips, and faults can be switched
on at run time (``inject``) to check that readers retry, fail clearly or never return
garbage.

Usage::

    with ObjectStoreServer(root, latency=0.05) as srv:
        url = f"{srv.url}/image.ome.zarr"
        srv.inject("status", path="*/0/0/*", times=2, status=503)
        ...
        print(count_requests(srv.log), srv.count_rounds())

The server runs on `aiohttp.web` in a background thread with its own event loop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fnmatch
import hashlib
import itertools
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote

from aiohttp import web

__all__ = [
    "FAULT_KINDS",
    "MARK",
    "Fault",
    "LogEntry",
    "ObjectStoreServer",
    "count_404",
    "count_requests",
    "count_rounds",
    "default_gap",
]

#: ``LogEntry.method`` of a phase marker (see `ObjectStoreServer.mark`).
MARK = "MARK"
#: Requests to ``/__mark__/<name>`` record a marker instead of serving a key.
MARK_PREFIX = "/__mark__/"

#: Fault kinds accepted by `ObjectStoreServer.inject`.
FAULT_KINDS = ("slow", "status", "drop", "truncate", "corrupt", "ignore_range")
_TERMINAL = ("status", "drop")  # answer instead of the key
_MODIFIERS = ("truncate", "corrupt", "ignore_range")  # alter the key's answer
_PARAMS = {
    "slow": {"delay"},
    "status": {"status", "headers", "body"},
    "drop": set(),
    "truncate": set(),
    "corrupt": {"every"},
    "ignore_range": set(),
}


class LogEntry(NamedTuple):
    """One logged request: ``(t_arrival, method, path, status, range)``.

    ``t_arrival`` is `time.monotonic` when the server started handling the request,
    ``path`` the decoded URL path, ``status`` the status sent (``0`` when the connection
    was dropped without an answer, and for markers) and ``range`` the ``Range`` header
    or None. Markers have ``method == "MARK"`` and the marker name as ``path``.
    """

    t_arrival: float
    method: str
    path: str
    status: int
    range: str | None

    @property
    def is_marker(self) -> bool:
        return self.method == MARK


@dataclass
class Fault:
    """A fault switched on with `ObjectStoreServer.inject`.

    ``path`` is an `fnmatch` glob matched against the request path (with and without its
    leading ``/``; None matches every path); ``times`` how many more matching requests
    it fires for (None: always); ``fired`` how often it has fired.
    """

    kind: str
    path: str | None = None
    times: int | None = None
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0
    every: int = 1
    fired: int = 0

    def matches(self, path: str) -> bool:
        if self.path is None:
            return True
        return fnmatch.fnmatchcase(path, self.path) or fnmatch.fnmatchcase(
            path.lstrip("/"), self.path
        )

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times


def count_requests(entries: Iterable[LogEntry]) -> int:
    """Number of HTTP requests in ``entries`` (markers excluded)."""
    return sum(1 for entry in entries if not entry.is_marker)


def count_404(entries: Iterable[LogEntry]) -> int:
    """Number of requests answered ``404``."""
    return sum(1 for entry in entries if not entry.is_marker and entry.status == 404)


def default_gap(latency: float) -> float:
    """The gap `count_rounds` uses by default: ``latency / 2``, or 5 ms without latency."""
    return latency / 2 if latency > 0 else 0.005


def count_rounds(
    entries: Iterable[LogEntry], gap: float | None = None, *, latency: float = 0.0
) -> int:
    """Number of sequential rounds (waves of dependent requests) in ``entries``.

    Definition: the requests (markers excluded) are sorted by arrival; the first one
    starts round 1 and a request arriving more than ``gap`` seconds after the previous
    request's arrival starts a new round. ``gap`` defaults to ``latency / 2`` when
    ``latency > 0``, else 5 ms.

    Why it is robust: with a server latency ``L`` no answer leaves before ``L`` after its
    request arrived, so a request that needed an earlier answer arrives at least ``L``
    after that one, while requests sent together (one wave) arrive within the client's
    dispatch jitter, a few ms even on a busy 2-core machine. Splitting at ``L / 2``
    leaves room on both sides; use ``L >= 20 ms`` (tests use 50-100 ms) for stable
    counts. Requests queued behind a full connection pool wait for an answer too, so they
    count as a further round, as they cost one.

    Caveat: arrival times are taken in the server's thread, so Python threads of the same
    process that hold the GIL for long stretches (pure-Python CPU loops) can delay and
    spread them; measured with such threads idle, 32 concurrent requests per wave, 20 ms
    latency and other processes loading both cores gave exact counts.
    """
    if gap is None:
        gap = default_gap(latency)
    times = sorted(entry.t_arrival for entry in entries if not entry.is_marker)
    if not times:
        return 0
    return 1 + sum(1 for before, after in itertools.pairwise(times) if after - before > gap)


class _Answer(NamedTuple):
    """What the handler sends once the delay has passed."""

    kind: str  # "drop", "response", "truncate"
    status: int
    headers: dict[str, str]
    body: bytes


class ObjectStoreServer:
    """Serve ``root`` over HTTP on 127.0.0.1 like an object store, with faults on demand.

    Parameters
    ----------
    root
        Folder whose files are served; ``GET /a/b`` answers ``root/a/b``.
    latency
        Seconds added before every answer (settable later: ``srv.latency = 0.1``).
    require_token
        When set, requests need ``Authorization: Bearer <token>`` (else ``401``).
    require_basic
        When set to ``(user, password)``, requests need that Basic authorization; when
        both are set, either is accepted.
    port
        Port to bind; 0 (default) takes a free one.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        latency: float = 0.0,
        require_token: str | None = None,
        require_basic: tuple[str, str] | None = None,
        port: int = 0,
    ) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise NotADirectoryError(f"not a folder: {self.root}")
        self.latency = float(latency)
        self.require_token = require_token
        self.require_basic = require_basic
        self._port = port
        self._lock = threading.Lock()
        self._log: list[LogEntry] = []
        self._faults: list[Fault] = []
        self._triggered = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.ServerRunner | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self.host = "127.0.0.1"
        self.port = 0

    # -- life cycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT`` (no trailing slash)."""
        if not self.port:
            raise RuntimeError("the server is not running")
        return f"http://{self.host}:{self.port}"

    def start(self) -> ObjectStoreServer:
        if self._thread is not None:
            raise RuntimeError("the server is already running")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        self._ready.clear()
        self._startup_error = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._serve, args=(sock,), name=f"objectstore:{self.port}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout=30):
            raise RuntimeError("the object store did not start within 30 s")
        if self._startup_error is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError("the object store failed to start") from self._startup_error
        return self

    def stop(self) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        self._thread = None
        self._loop = None
        self.port = 0

    def __enter__(self) -> ObjectStoreServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self.port else "stopped"
        return f"ObjectStoreServer({str(self.root)!r}, {where})"

    def _serve(self, sock: socket.socket) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._astart(sock))
        except BaseException as exc:
            self._startup_error = exc
            sock.close()
            loop.close()
            self._ready.set()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            if self._runner is not None:
                loop.run_until_complete(self._runner.cleanup())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _astart(self, sock: socket.socket) -> None:
        server = web.Server(self._handle, access_log=None)
        self._runner = web.ServerRunner(server, shutdown_timeout=2.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock, shutdown_timeout=2.0).start()

    # -- request log ------------------------------------------------------------------------

    @property
    def log(self) -> list[LogEntry]:
        """A copy of the request log (markers included), sorted by arrival."""
        with self._lock:
            entries = list(self._log)
        return sorted(entries, key=lambda entry: entry.t_arrival)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def requests(self, exclude_markers: bool = True) -> list[LogEntry]:
        """The logged requests, sorted by arrival, without markers unless asked."""
        return [e for e in self.log if not (exclude_markers and e.is_marker)]

    def mark(self, name: str) -> None:
        """Record a phase marker (no HTTP request); ``GET /__mark__/<name>`` does the same."""
        self._record(LogEntry(time.monotonic(), MARK, name, 0, None))

    def phase(self, name: str) -> list[LogEntry]:
        """The requests logged after the first marker ``name`` and before the next marker."""
        found, out = False, []
        for entry in self.log:
            if entry.is_marker:
                if found:
                    break
                found = entry.path == name
            elif found:
                out.append(entry)
        if not found:
            raise KeyError(f"no marker {name!r} in the log")
        return out

    def count_rounds(
        self, entries: Iterable[LogEntry] | None = None, gap: float | None = None
    ) -> int:
        """`count_rounds` of ``entries`` (default: the whole log) at this server's latency."""
        return count_rounds(self.log if entries is None else entries, gap, latency=self.latency)

    def _record(self, entry: LogEntry) -> None:
        with self._lock:
            self._log.append(entry)

    # -- faults -----------------------------------------------------------------------------

    def inject(
        self, kind: str, path: str | None = None, times: int | None = None, **params: Any
    ) -> Fault:
        """Switch a fault on for requests whose path matches the glob ``path``.

        Kinds and their parameters:

        ``slow`` (``delay=`` seconds)
            Extra delay on top of ``latency``; every matching ``slow`` fault adds up.
        ``status`` (``status=503``, ``headers={}``, ``body=b""``)
            Answer with that status (and headers such as ``Retry-After``) instead.
        ``drop``
            Close the connection without any answer.
        ``truncate``
            Send the headers (``Content-Length`` of the whole body) and only the first
            half of the body, then close the connection.
        ``corrupt`` (``every=1``)
            Flip (XOR 0xFF) every ``every``-th byte of the body; same length.
        ``ignore_range``
            Answer ``200`` with the whole body even when a range was asked.

        ``status`` and ``drop`` replace the answer (the first matching one, in injection
        order, fires); the others alter the key's answer and fire only where they apply
        (a body to cut or flip, a range to ignore). ``times=N`` makes the fault fire for
        the next N matching requests only; None fires always. Returns the `Fault`.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        unknown = set(params) - _PARAMS[kind]
        if unknown:
            raise TypeError(f"fault {kind!r} takes no {', '.join(sorted(unknown))}")
        if times is not None and times < 0:
            raise ValueError("times must be >= 0 or None")
        if "body" in params and isinstance(params["body"], str):
            params["body"] = params["body"].encode()
        if "headers" in params:
            params["headers"] = {str(k): str(v) for k, v in params["headers"].items()}
        if kind == "slow" and "delay" not in params:
            raise TypeError("fault 'slow' needs delay=<seconds>")
        if kind == "corrupt" and params.get("every", 1) < 1:
            raise ValueError("every must be >= 1")
        fault = Fault(kind=kind, path=path, times=times, **params)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Switch every fault off (``faults_triggered`` keeps counting)."""
        with self._lock:
            self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        """The faults still active, in injection order."""
        with self._lock:
            return list(self._faults)

    @property
    def faults_triggered(self) -> int:
        """How many times any fault fired since the server was made."""
        with self._lock:
            return self._triggered

    def _take(self, kinds: tuple[str, ...], path: str, first_only: bool) -> list[Fault]:
        """Fire the matching active faults of ``kinds`` (call with the lock held)."""
        fired = []
        for fault in self._faults:
            if fault.kind in kinds and not fault.exhausted and fault.matches(path):
                fault.fired += 1
                self._triggered += 1
                fired.append(fault)
                if first_only:
                    break
        self._faults = [fault for fault in self._faults if not fault.exhausted]
        return fired

    def _take_modifier(self, kind: str, path: str) -> bool:
        return bool(self._take((kind,), path, first_only=True))

    # -- HTTP -------------------------------------------------------------------------------

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        t_arrival = time.monotonic()
        path = request.path
        if path.startswith(MARK_PREFIX):
            self._record(LogEntry(t_arrival, MARK, unquote(path[len(MARK_PREFIX) :]), 0, None))
            return web.Response(status=204)
        range_header = request.headers.get("Range")
        with self._lock:
            delay = self.latency + sum(f.delay for f in self._take(("slow",), path, False))
            terminal = self._take(_TERMINAL, path, first_only=True)
            answer = self._answer(request, path, range_header, terminal[0] if terminal else None)
        wait = t_arrival + delay - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._record(LogEntry(t_arrival, request.method, path, answer.status, range_header))
        transport = request.transport
        if answer.kind == "drop":
            if transport is not None:
                transport.close()
            return _Gone()
        if answer.kind == "truncate":
            response = web.StreamResponse(status=answer.status, headers=answer.headers)
            response.content_length = len(answer.body)
            await response.prepare(request)
            await response.write(answer.body[: len(answer.body) // 2])
            if transport is not None:
                transport.close()  # flushes what was written, then closes
            return _Gone()
        # For HEAD, aiohttp sends the Content-Length of the body but not the body.
        return web.Response(status=answer.status, headers=answer.headers, body=answer.body)

    def _answer(
        self, request: web.BaseRequest, path: str, range_header: str | None, fault: Fault | None
    ) -> _Answer:
        """Decide the answer (with the lock held, so faults fire in arrival order)."""
        if fault is not None and fault.kind == "drop":
            return _Answer("drop", 0, {}, b"")
        if fault is not None:
            return _Answer("response", fault.status, dict(fault.headers), fault.body)
        if not self._authorized(request.headers.get("Authorization")):
            headers = {"WWW-Authenticate": 'Bearer realm="objectstore"'}
            return _Answer("response", 401, headers, b"unauthorized")
        if request.method not in ("GET", "HEAD"):
            return _Answer("response", 405, {"Allow": "GET, HEAD"}, b"")
        file = self._resolve(path)
        if file is None:
            return _Answer("response", 404, {"Content-Type": "text/plain"}, b"no such key")
        data = file.read_bytes()
        stat = file.stat()
        size = len(data)
        headers = {
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
            "ETag": '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"',
            "Last-Modified": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(stat.st_mtime)),
        }
        status, body = 200, data
        wanted = _parse_range(range_header, size) if range_header else None
        if wanted is not None and self._take_modifier("ignore_range", path):
            wanted = None
        if wanted == "unsatisfiable":
            headers["Content-Range"] = f"bytes */{size}"
            return _Answer("response", 416, headers, b"")
        if isinstance(wanted, tuple):
            start, end = wanted
            status, body = 206, data[start : end + 1]
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        if request.method == "GET" and body:
            corrupt = self._take(("corrupt",), path, first_only=True)
            if corrupt:
                every = corrupt[0].every
                flipped = bytearray(body)
                for i in range(0, len(flipped), every):
                    flipped[i] ^= 0xFF
                body = bytes(flipped)
            if self._take_modifier("truncate", path):
                return _Answer("truncate", status, headers, body)
        return _Answer("response", status, headers, body)

    def _authorized(self, header: str | None) -> bool:
        if self.require_token is None and self.require_basic is None:
            return True
        if header is None:
            return False
        scheme, _, credentials = header.partition(" ")
        scheme, credentials = scheme.lower(), credentials.strip()
        if self.require_token is not None and scheme == "bearer":
            return credentials == self.require_token
        if self.require_basic is not None and scheme == "basic":
            user, password = self.require_basic
            expected = base64.b64encode(f"{user}:{password}".encode()).decode()
            return credentials == expected
        return False

    def _resolve(self, path: str) -> Path | None:
        """The file for a URL path, or None (folders, absent keys, paths outside root)."""
        parts = [p for p in path.split("/") if p]
        if any(p in (".", "..") or "\\" in p or "\x00" in p for p in parts):
            return None
        candidate = self.root.joinpath(*parts)
        try:
            resolved = candidate.resolve()
        except (OSError, RuntimeError):
            return None
        if not resolved.is_relative_to(self.root) or not resolved.is_file():
            return None
        return resolved


class _Gone(web.StreamResponse):
    """Returned after the handler closed the connection itself: nothing more to send.

    aiohttp then prepares and ends this response, which fails on the closed transport
    with a `ConnectionError` it treats as a client disconnect (no log noise).
    """

    async def prepare(self, request: web.BaseRequest) -> Any:
        raise ConnectionResetError("connection closed on purpose by the fake object store")


def _parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """``(start, end)`` inclusive, ``"unsatisfiable"``, or None to ignore the header.

    Only one range of ``bytes=a-b``, ``bytes=a-`` or ``bytes=-n`` is honoured;
    several ranges or a malformed header are ignored (a full ``200``, as RFC 9110 allows).
    """
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0 or size == 0:
                return "unsatisfiable"
            return max(0, size - suffix), size - 1
        start = int(first)
        end = int(last) if last != "" else size - 1
    except ValueError:
        return None
    if start < 0 or end < start:
        return None
    if start >= size:
        return "unsatisfiable"
    return start, min(end, size - 1)
