"""Fixtures for the whole test suite: local servers, a private cache and a network guard.

Tests never leave the machine: every socket connection to an address other than the
loopback one is refused and fails the test that made it.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))  # `from fakes.objectstore import ObjectStoreServer`

from fakes.objectstore import ObjectStoreServer  # noqa: E402
from fakes.s3 import S3Server  # noqa: E402

# -- network guard ---------------------------------------------------------------------------

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


class NetworkAccessBlockedError(ConnectionRefusedError):
    """Raised for a connection to a non-loopback address during the tests."""


def is_loopback(host: object) -> bool:
    """True for 127.0.0.0/8, ::1 (also IPv4-mapped) and the usual localhost names."""
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%", 1)[0].lower()
    if name in _LOCAL_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


_violations: list[str] = []
_violations_lock = threading.Lock()


def _check_address(family: int, address: Any, kind: int = socket.SOCK_STREAM) -> None:
    if family not in (socket.AF_INET, socket.AF_INET6):
        return  # Unix sockets, netlink, ...
    if kind == socket.SOCK_DGRAM:
        return  # connect() on UDP sends nothing (distributed uses it to find its own IP)
    host = address[0] if isinstance(address, tuple) and address else address
    if not is_loopback(host):
        with _violations_lock:
            _violations.append(repr(address))
        raise NetworkAccessBlockedError(
            f"tests must stay on 127.0.0.1; refused connection to {address!r}"
        )


class NetworkGuard:
    """What the `network_guard` fixture yields (for the guard's own tests)."""

    Blocked = NetworkAccessBlockedError
    is_loopback = staticmethod(is_loopback)
    violations = _violations
    lock = _violations_lock


@pytest.fixture(scope="session", autouse=True)
def network_guard() -> Iterator[type[NetworkGuard]]:
    """Refuse (and record) socket connections to non-loopback addresses for the session."""
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_create_connection = socket.create_connection

    def connect(self: socket.socket, address: Any) -> None:
        _check_address(self.family, address, self.type)
        return original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check_address(self.family, address, self.type)
        return original_connect_ex(self, address)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        # Checked before name resolution, so no DNS query leaves the machine either.
        _check_address(socket.AF_INET, address)
        return original_create_connection(address, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", connect)
        mp.setattr(socket.socket, "connect_ex", connect_ex)
        mp.setattr(socket, "create_connection", create_connection)
        yield NetworkGuard


@pytest.fixture(autouse=True)
def _no_network_access(network_guard: type[NetworkGuard]) -> Iterator[None]:
    """Fail a test that tried to reach a non-loopback address, even if it caught the error."""
    with _violations_lock:
        before = len(_violations)
    yield
    with _violations_lock:
        new = _violations[before:]
    if new:
        pytest.fail(f"the test tried to connect outside 127.0.0.1: {', '.join(new)}", pytrace=False)


# -- environment -----------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point ``BIOSHARE_CACHE_DIR`` at a fresh folder, so tests never touch the user's cache."""
    cache = tmp_path_factory.mktemp("bioshare-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BIOSHARE_CACHE_DIR", str(cache))
        # Ontology lookups that miss the bundled terms ask OLS: here, a closed local port,
        # unless a test points it at the fake OLS.
        mp.setenv("BIOSHARE_OLS_URL", "http://127.0.0.1:9/ols4")
        yield cache


# -- servers ---------------------------------------------------------------------------------


@pytest.fixture
def objectstore() -> Iterator[Callable[..., ObjectStoreServer]]:
    """Factory: ``objectstore(root, latency=..., require_token=...)`` -> a running server.

    Every server made is stopped at the end of the test.
    """
    servers: list[ObjectStoreServer] = []

    def make(root: str | Path, **kwargs: Any) -> ObjectStoreServer:
        server = ObjectStoreServer(root, **kwargs).start()
        servers.append(server)
        return server

    yield make
    for server in reversed(servers):
        server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One moto S3 server on 127.0.0.1 for the whole session."""
    with S3Server() as server:
        yield server
