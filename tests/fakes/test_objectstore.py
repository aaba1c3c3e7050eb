"""Self-tests of the fake object store and the local S3 server, with real clients."""

from __future__ import annotations

import asyncio
import base64
import http.client
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from fakes.objectstore import (
    LogEntry,
    ObjectStoreServer,
    count_404,
    count_requests,
    count_rounds,
)

BODY = bytes(range(256)) * 4  # 1024 bytes


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "img.zarr" / "0").mkdir(parents=True)
    (tmp_path / "img.zarr" / "0" / "chunk").write_bytes(BODY)
    (tmp_path / "img.zarr" / ".zattrs").write_text('{"multiscales": []}')
    (tmp_path / "img.zarr" / "zarr.json").write_text('{"zarr_format": 3}')
    (tmp_path / "secret.txt").write_text("outside")  # for traversal checks below
    return tmp_path


@pytest.fixture
def server(objectstore, root: Path) -> ObjectStoreServer:
    return objectstore(root / "img.zarr")


def get(url: str, headers: dict[str, str] | None = None, method: str = "GET"):
    """(status, headers, body) of a request, HTTP errors included."""
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, error.read()


def fetch_all(urls: list[str], **kwargs) -> list[tuple[int, bytes]]:
    """Fetch ``urls`` concurrently with aiohttp."""

    async def run():
        async with aiohttp.ClientSession() as session:

            async def one(url):
                async with session.get(url, **kwargs) as response:
                    return response.status, await response.read()

            return await asyncio.gather(*(one(url) for url in urls))

    return asyncio.run(run())


# -- serving ---------------------------------------------------------------------------------


def test_get_head_and_url(server):
    assert server.url.startswith("http://127.0.0.1:")
    status, headers, body = get(f"{server.url}/0/chunk")
    assert (status, body) == (200, BODY)
    assert headers["Content-Length"] == str(len(BODY))
    assert headers["Accept-Ranges"] == "bytes"
    status, headers, body = get(f"{server.url}/0/chunk", method="HEAD")
    assert (status, body, headers["Content-Length"]) == (200, b"", str(len(BODY)))


def test_folders_absent_keys_and_traversal_are_404(server):
    for path in ("/", "/0", "/0/", "/nothing", "/../secret.txt", "/%2e%2e/secret.txt"):
        status, _, body = get(f"{server.url}{path}")
        assert status == 404, path
        assert b"outside" not in body
    assert count_404(server.log) == 6


def test_traversal_with_a_raw_socket(server):
    """Send the ``..`` unnormalised (urllib and aiohttp may clean it up first)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", "/0/../../secret.txt")
        response = connection.getresponse()
        assert response.status == 404
        assert b"outside" not in response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("header", "status", "content_range", "expected"),
    [
        ("bytes=10-19", 206, "bytes 10-19/1024", BODY[10:20]),
        ("bytes=1000-", 206, "bytes 1000-1023/1024", BODY[1000:]),
        ("bytes=-4", 206, "bytes 1020-1023/1024", BODY[-4:]),
        ("bytes=1000-5000", 206, "bytes 1000-1023/1024", BODY[1000:]),
        ("bytes=2000-2100", 416, "bytes */1024", b""),
        ("bytes=0-1,5-6", 200, None, BODY),  # several ranges: ignored
    ],
)
def test_range(server, header, status, content_range, expected):
    got_status, headers, body = get(f"{server.url}/0/chunk", {"Range": header})
    assert (got_status, body) == (status, expected)
    assert headers.get("Content-Range") == content_range
    assert server.log[-1].range == header


def test_keep_alive(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for _ in range(3):
            connection.request("GET", "/zarr.json")
            response = connection.getresponse()
            assert response.read() == b'{"zarr_format": 3}'
            assert not response.will_close
        first_socket = connection.sock
        connection.request("GET", "/.zattrs")
        connection.getresponse().read()
        assert connection.sock is first_socket
    finally:
        connection.close()


def test_log_entries_markers_and_clear(server):
    server.mark("open")
    get(f"{server.url}/zarr.json")
    get(f"{server.url}/__mark__/read")
    get(f"{server.url}/0/chunk", {"Range": "bytes=0-9"})
    get(f"{server.url}/0/missing")
    log = server.log
    assert [(e.method, e.path, e.status, e.range) for e in log] == [
        ("MARK", "open", 0, None),
        ("GET", "/zarr.json", 200, None),
        ("MARK", "read", 0, None),
        ("GET", "/0/chunk", 206, "bytes=0-9"),
        ("GET", "/0/missing", 404, None),
    ]
    assert all(isinstance(e, LogEntry) for e in log)
    t_arrival, method, *_ = log[1]
    assert method == "GET"
    assert t_arrival <= time.monotonic()
    assert [e.path for e in server.requests()] == ["/zarr.json", "/0/chunk", "/0/missing"]
    assert len(server.requests(exclude_markers=False)) == 5
    assert [e.path for e in server.phase("read")] == ["/0/chunk", "/0/missing"]
    assert count_requests(log) == 3
    assert count_404(log) == 1
    server.clear_log()
    assert server.log == []


# -- faults ----------------------------------------------------------------------------------


def test_latency_is_applied(objectstore, root):
    server = objectstore(root / "img.zarr", latency=0.1)
    start = time.monotonic()
    assert get(f"{server.url}/zarr.json")[0] == 200
    assert time.monotonic() - start >= 0.1
    server.latency = 0.0
    server.inject("slow", path="*/chunk", delay=0.15, times=1)
    start = time.monotonic()
    get(f"{server.url}/0/chunk")
    assert time.monotonic() - start >= 0.15
    assert server.faults == []  # used up
    assert server.faults_triggered == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504, 401, 403, 429])
def test_status_burst_then_recovery(server, status):
    server.inject("status", path="*/chunk", times=2, status=status, headers={"Retry-After": "1"})
    assert get(f"{server.url}/zarr.json")[0] == 200  # another path: untouched
    for _ in range(2):
        got, headers, _ = get(f"{server.url}/0/chunk")
        assert got == status
        assert headers["Retry-After"] == "1"
    assert get(f"{server.url}/0/chunk")[0] == 200
    assert server.faults_triggered == 2
    assert [e.status for e in server.requests()] == [200, status, status, 200]


def test_status_always_until_cleared(server):
    fault = server.inject("status", path="zarr.json", status=503)  # glob without leading /
    assert [get(f"{server.url}/zarr.json")[0] for _ in range(3)] == [503] * 3
    assert fault.fired == 3
    server.clear_faults()
    assert get(f"{server.url}/zarr.json")[0] == 200


def test_truncate_urllib(server):
    server.inject("truncate", path="*/chunk", times=1)
    with pytest.raises(http.client.IncompleteRead) as info:
        get(f"{server.url}/0/chunk")
    assert info.value.partial == BODY[:512]
    assert get(f"{server.url}/0/chunk")[2] == BODY


def test_truncate_aiohttp(server):
    server.inject("truncate", path="*.zattrs", times=1)
    with pytest.raises(aiohttp.ClientPayloadError):
        fetch_all([f"{server.url}/.zattrs"])
    assert fetch_all([f"{server.url}/.zattrs"]) == [(200, b'{"multiscales": []}')]
    assert server.faults_triggered == 1


def test_truncate_skips_what_has_no_body(server):
    server.inject("truncate", times=1)
    assert get(f"{server.url}/nothing")[0] == 404
    assert get(f"{server.url}/0/chunk", method="HEAD")[0] == 200
    assert server.faults_triggered == 0
    with pytest.raises(http.client.IncompleteRead):
        get(f"{server.url}/0/chunk")


def test_drop(server):
    server.inject("drop", path="*/chunk", times=1)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        get(f"{server.url}/0/chunk")
    # aiohttp itself retries an idempotent request once on a closed connection
    server.inject("drop", path="*/chunk")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        fetch_all([f"{server.url}/0/chunk"])
    server.clear_faults()
    assert get(f"{server.url}/0/chunk")[2] == BODY
    statuses = [e.status for e in server.requests()]
    assert statuses[-1] == 200
    assert set(statuses[:-1]) == {0}


def test_corrupt(server):
    server.inject("corrupt", path="*/chunk", times=1)
    body = get(f"{server.url}/0/chunk")[2]
    assert len(body) == len(BODY)
    assert body == bytes(b ^ 0xFF for b in BODY)
    server.inject("corrupt", path="*/chunk", times=1, every=100)
    body = get(f"{server.url}/0/chunk", {"Range": "bytes=0-199"})[2]
    assert body != BODY[:200]
    assert sum(a != b for a, b in zip(body, BODY, strict=False)) == 2
    assert get(f"{server.url}/0/chunk")[2] == BODY


def test_ignore_range(server):
    server.inject("ignore_range", times=1)
    status, headers, body = get(f"{server.url}/0/chunk", {"Range": "bytes=0-9"})
    assert (status, body) == (200, BODY)
    assert "Content-Range" not in headers
    assert get(f"{server.url}/0/chunk", {"Range": "bytes=0-9"})[:3:2] == (206, BODY[:10])


def test_inject_validates(server):
    with pytest.raises(ValueError, match="unknown fault"):
        server.inject("explode")
    with pytest.raises(TypeError, match="takes no status"):
        server.inject("drop", status=500)
    with pytest.raises(TypeError, match="needs delay"):
        server.inject("slow")


# -- authorization ---------------------------------------------------------------------------


def test_token(objectstore, root):
    server = objectstore(root / "img.zarr", require_token="abc")
    url = f"{server.url}/zarr.json"
    assert get(url)[0] == 401
    assert get(url, {"Authorization": "Bearer wrong"})[0] == 401
    assert get(url, {"Authorization": "Bearer abc"})[0] == 200
    statuses = fetch_all([url], headers={"Authorization": "Bearer abc"})
    assert statuses[0][0] == 200


def test_basic(objectstore, root):
    server = objectstore(root / "img.zarr", require_basic=("ann", "pw"))
    good = "Basic " + base64.b64encode(b"ann:pw").decode()
    assert get(f"{server.url}/zarr.json")[0] == 401
    assert get(f"{server.url}/zarr.json", {"Authorization": good})[0] == 200


# -- round counting --------------------------------------------------------------------------


def test_count_rounds_definition():
    def entries(*times):
        return [LogEntry(t, "GET", "/k", 200, None) for t in times]

    assert count_rounds([]) == 0
    assert count_rounds(entries(0.0, 0.001, 0.002)) == 1
    assert count_rounds(entries(0.0, 0.001, 0.06, 0.061), latency=0.05) == 2
    assert count_rounds(entries(0.061, 0.0, 0.06, 0.001), latency=0.05) == 2  # unsorted
    assert count_rounds(entries(0.0, 0.02, 0.04), latency=0.05) == 1
    assert count_rounds(entries(0.0, 0.02, 0.04), gap=0.01) == 3
    assert count_rounds(entries(0.0, 0.004, 0.010)) == 2  # no latency: 5 ms gap
    marker = LogEntry(0.03, "MARK", "phase", 0, None)
    assert count_rounds([*entries(0.0, 0.06), marker], latency=0.05) == 2


@pytest.mark.parametrize("latency", [0.05, 0.1])
def test_count_rounds_with_a_real_client(objectstore, root, latency):
    """3 concurrent requests, then 2 concurrent ones after an answer: 2 rounds."""
    server = objectstore(root / "img.zarr", latency=latency)

    async def run():
        async with aiohttp.ClientSession() as session:

            async def one(path):
                async with session.get(f"{server.url}{path}") as response:
                    return await response.read()

            await asyncio.gather(one("/zarr.json"), one("/.zattrs"), one("/0/chunk"))
            await asyncio.gather(one("/0/chunk"), one("/zarr.json"))

    asyncio.run(run())
    assert count_requests(server.log) == 5
    assert server.count_rounds() == 2
    assert count_rounds(server.log, latency=latency) == 2


def test_count_rounds_sequential_marks(objectstore, root):
    server = objectstore(root / "img.zarr", latency=0.05)
    server.mark("sequential")
    for _ in range(3):
        get(f"{server.url}/zarr.json")
    server.mark("concurrent")
    fetch_all([f"{server.url}/zarr.json"] * 4)
    assert server.count_rounds(server.phase("sequential")) == 3
    assert server.count_rounds(server.phase("concurrent")) == 1


# -- life cycle ------------------------------------------------------------------------------


def test_stop_frees_the_port(root):
    with ObjectStoreServer(root) as server:
        port = server.port
        assert get(f"{server.url}/secret.txt")[2] == b"outside"
    assert server.port == 0
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass


def test_stop_with_idle_keep_alive_connection(root):
    server = ObjectStoreServer(root).start()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", "/secret.txt")
    connection.getresponse().read()
    start = time.monotonic()
    server.stop()
    assert time.monotonic() - start < 5
    connection.close()


# -- S3 --------------------------------------------------------------------------------------


def test_s3_server_upload_and_read_back(s3_server, root):
    import s3fs

    assert s3_server.endpoint_url.startswith("http://127.0.0.1:")
    s3_server.create_bucket("selftest")
    s3_server.create_bucket("selftest")  # idempotent
    keys = s3_server.upload_dir(root / "img.zarr", "selftest", "a/img.zarr/")
    assert sorted(keys) == ["a/img.zarr/.zattrs", "a/img.zarr/0/chunk", "a/img.zarr/zarr.json"]
    fs = s3fs.S3FileSystem(**s3_server.storage_options, skip_instance_cache=True)
    assert fs.cat("selftest/a/img.zarr/0/chunk") == BODY
    assert fs.cat_file("selftest/a/img.zarr/0/chunk", start=10, end=20) == BODY[10:20]
    assert sorted(fs.ls("selftest/a/img.zarr", detail=False)) == [
        "selftest/a/img.zarr/.zattrs",
        "selftest/a/img.zarr/0",
        "selftest/a/img.zarr/zarr.json",
    ]
    with pytest.raises(FileNotFoundError):
        fs.cat("selftest/a/img.zarr/nothing")


def test_s3_credentials_do_not_leak(s3_server):
    import os

    assert s3_server.storage_options["key"] == "testing"
    assert "AWS_ACCESS_KEY_ID" not in os.environ or os.environ["AWS_ACCESS_KEY_ID"] != "testing"


# -- network guard ---------------------------------------------------------------------------


def test_guard_refuses_non_loopback(network_guard):
    guard = network_guard
    for address in (("10.255.255.1", 80), ("example.org", 443)):
        with socket.socket() as sock, pytest.raises(guard.Blocked):
            sock.connect(address)
    with pytest.raises(guard.Blocked):
        socket.create_connection(("example.org", 80), timeout=1)
    # forget these on purpose, so the per-test check does not fail this test
    with guard.lock:
        del guard.violations[-3:]
    assert guard.is_loopback("127.0.0.1")
    assert guard.is_loopback("::1")
    assert guard.is_loopback("::ffff:127.0.0.1")
    assert guard.is_loopback("localhost")
    assert not guard.is_loopback("192.168.1.1")
    assert not guard.is_loopback("example.org")
