"""A base for fake REST services: an aiohttp app on 127.0.0.1 with faults on demand.

Each fake (IDR, BIA, Zenodo...) subclasses `FakeService`, adds its routes in `setup`, and
gets a request log and switchable faults for free::

    with FakeIDR() as idr:
        idr.inject("status", status=503, times=2)        # a 5xx burst, then normal
        idr.inject("status", status=429, headers={"Retry-After": "1"}, times=1)
        idr.inject("latency", seconds=0.2)                # every request, until cleared
        idr.inject("drop", path="/api/v0/m/*", times=1)   # close without answering
        idr.inject("malformed", times=1)                  # 200 with a broken JSON body
        idr.inject("hang", path="/search*")               # never answer (timeouts)
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from aiohttp import web

__all__ = ["FakeService", "Request", "json_error"]

FAULT_KINDS = ("status", "latency", "drop", "malformed", "hang")


class Request(NamedTuple):
    """One logged request."""

    t_arrival: float
    method: str
    path: str
    query: str
    status: int
    headers: dict[str, str]


@dataclass
class _Fault:
    kind: str
    path: str = "*"
    times: int | None = None
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    body: Any = None

    def take(self, path: str) -> bool:
        if not fnmatch.fnmatchcase(path, self.path):
            return False
        if self.times is None:
            return True
        if self.times <= 0:
            return False
        self.times -= 1
        return True


def json_error(status: int, message: str, **extra: Any) -> web.Response:
    """A JSON error response with the given status."""
    return web.json_response({"status": status, "message": message, **extra}, status=status)


class FakeService:
    """Run an aiohttp application on 127.0.0.1 in a background thread, with faults."""

    name = "fake"

    def __init__(self, *, port: int = 0) -> None:
        self.host = "127.0.0.1"
        self.port = port
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._log: list[Request] = []
        self.faults_triggered = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._hanging: asyncio.Event | None = None

    # -- to implement -------------------------------------------------------------------------

    def setup(self, app: web.Application) -> None:
        """Add the service's routes to ``app``."""
        raise NotImplementedError

    # -- faults and log -----------------------------------------------------------------------

    def inject(
        self, kind: str, *, path: str = "*", times: int | None = None, **options: Any
    ) -> None:
        """Switch a fault on for requests whose path matches ``path`` (fnmatch).

        ``times`` limits it to the next N matching requests; None keeps it on.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {FAULT_KINDS}")
        with self._lock:
            self._faults.append(_Fault(kind, path, times, **options))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
        loop = self._loop
        if loop is not None:  # release hung requests, and re-arm ``hang`` for later faults
            loop.call_soon_threadsafe(self._release_hung)

    def _release_hung(self) -> None:
        if self._hanging is not None:
            self._hanging.set()
        self._hanging = asyncio.Event()

    @property
    def log(self) -> list[Request]:
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def requests_to(self, pattern: str) -> list[Request]:
        """Logged requests whose path matches ``pattern``."""
        return [r for r in self.log if fnmatch.fnmatchcase(r.path, pattern)]

    def _take(self, path: str) -> list[_Fault]:
        with self._lock:
            taken = [f for f in self._faults if f.take(path)]
            self.faults_triggered += sum(1 for f in taken if f.kind != "latency")
            self._faults = [f for f in self._faults if f.times is None or f.times > 0]
            return taken

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        arrival = time.monotonic()
        faults = self._take(request.path)
        status = 0
        try:
            for fault in faults:
                if fault.kind == "latency":
                    await asyncio.sleep(fault.seconds)
            for fault in faults:
                if fault.kind == "hang":
                    assert self._hanging is not None
                    await self._hanging.wait()
                if fault.kind == "drop":
                    assert request.transport is not None
                    request.transport.close()
                    raise ConnectionResetError("fault: connection dropped")
                if fault.kind == "status":
                    body = (
                        fault.body
                        if fault.body is not None
                        else {"status": fault.status, "message": f"injected fault {fault.status}"}
                    )
                    response: web.StreamResponse = web.json_response(
                        body, status=fault.status, headers=fault.headers
                    )
                    status = fault.status
                    return response
                if fault.kind == "malformed":
                    status = 200
                    return web.Response(text='{"data": [ {"broken', content_type="application/json")
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            entry = Request(
                arrival,
                request.method,
                request.path,
                request.query_string,
                status,
                dict(request.headers),
            )
            with self._lock:
                self._log.append(entry)

    # -- life cycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._thread is None:
            raise RuntimeError(f"{self.name} is not running")
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeService:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(sock,), daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=30):
            raise RuntimeError(f"{self.name} did not start within 30 s")
        if self._error is not None:
            raise RuntimeError(f"{self.name} failed to start") from self._error
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self.clear_faults()
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        self._thread = None
        self._loop = None

    def __enter__(self) -> FakeService:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self, sock: socket.socket) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        runner: web.AppRunner | None = None
        try:
            self._hanging = asyncio.Event()
            app = web.Application(middlewares=[self._middleware])
            self.setup(app)
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.SockSite(runner, sock).start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()
