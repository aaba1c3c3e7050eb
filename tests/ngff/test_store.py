"""Sources to stores: URL handling, anonymous S3, and the retry policy in isolation."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import MemoryStore

from bioshare.errors import AccessDeniedError, BioshareError, RemoteAccessError
from bioshare.ngff import store as store_module
from bioshare.ngff.store import RetryingStore, is_remote, normalize_source, open_store


@pytest.mark.parametrize(
    ("source", "remote"),
    [
        ("https://host/a.zarr", True),
        ("http://host/a.zarr", True),
        ("s3://bucket/a.zarr", True),
        ("gs://bucket/a.zarr", True),
        ("/data/a.zarr", False),
        ("file:///data/a.zarr", False),
        ("relative/a.zarr", False),
    ],
)
def test_is_remote(source, remote):
    assert is_remote(source) is remote


def test_normalize_source(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert normalize_source("https://host/a.zarr/") == "https://host/a.zarr"
    assert normalize_source("a.zarr") == str(tmp_path / "a.zarr")
    assert normalize_source(Path("a.zarr")) == str(tmp_path / "a.zarr")
    assert normalize_source(f"file://{tmp_path}/a.zarr") == str(tmp_path / "a.zarr")


def test_public_s3_is_anonymous_without_credentials(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert store_module._remote_defaults("s3://b/a.zarr", {})["anon"] is True
    given = {"key": "k", "secret": "s"}
    assert "anon" not in store_module._remote_defaults("s3://b/a.zarr", given)
    assert store_module._remote_defaults("s3://b/a.zarr", {"anon": False})["anon"] is False
    monkeypatch.setenv("AWS_PROFILE", "lab")
    assert "anon" not in store_module._remote_defaults("s3://b/a.zarr", {})


def test_user_options_reach_the_filesystem_unchanged():
    headers = {"Authorization": "Bearer abc"}
    store, url = open_store("https://127.0.0.1:9/a.zarr", {"headers": headers})
    assert url == "https://127.0.0.1:9/a.zarr"
    assert isinstance(store, RetryingStore)
    assert store._store.fs.kwargs["headers"] == headers


def test_missing_protocol_package_is_a_clear_error(monkeypatch):
    def refuse(*args, **kwargs):
        raise ImportError("Please install gcsfs to access Google Storage")

    monkeypatch.setattr(store_module, "_open_remote", refuse)
    with pytest.raises(BioshareError, match=r"gs:// protocol needs an extra package"):
        store_module._open_store("gs://bucket/a.zarr", {})


class FlakyStore(MemoryStore):
    """A memory store whose reads fail with the given exceptions first."""

    def __init__(self, failures: list[BaseException]) -> None:
        super().__init__()
        self.failures = list(failures)
        self.calls = 0

    async def get(self, key, prototype, byte_range=None):
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return await super().get(key, prototype, byte_range)


def _response_error(status: int) -> aiohttp.ClientResponseError:
    return aiohttp.ClientResponseError(request_info=None, history=(), status=status)  # type: ignore[arg-type]


def _get(store: RetryingStore, key: str = "k"):
    return sync(store.get(key, prototype=default_buffer_prototype()))


@pytest.mark.parametrize(
    "failure",
    [
        _response_error(503),
        _response_error(429),
        aiohttp.ClientPayloadError("Response payload is not completed"),
        aiohttp.ServerDisconnectedError(),
        TimeoutError(),
    ],
)
def test_transient_faults_are_retried(failure):
    inner = FlakyStore([failure, failure])
    sync(inner.set("k", default_buffer_prototype().buffer.from_bytes(b"data")))
    store = RetryingStore(inner, url="https://host/a.zarr", retries=3, backoff=0)
    assert _get(store).to_bytes() == b"data"
    assert inner.calls == 3


def test_persistent_fault_names_the_url_and_status():
    inner = FlakyStore([_response_error(502)] * 10)
    store = RetryingStore(inner, url="https://host/a.zarr", retries=2, backoff=0)
    with pytest.raises(
        RemoteAccessError, match=r"https://host/a.zarr/0/0 after 3 attempt\(s\): HTTP 502"
    ):
        _get(store, "0/0")
    assert inner.calls == 3


@pytest.mark.parametrize("status", [401, 403])
def test_access_denied_is_not_retried(status):
    inner = FlakyStore([_response_error(status)] * 5)
    store = RetryingStore(inner, url="https://host/a.zarr", retries=3, backoff=0)
    with pytest.raises(
        AccessDeniedError,
        match=rf"access denied to https://host/a.zarr/zarr.json \(HTTP {status}\)",
    ):
        _get(store, "zarr.json")
    assert inner.calls == 1


def test_other_client_errors_are_not_retried():
    inner = FlakyStore([_response_error(400)] * 5)
    store = RetryingStore(inner, url="https://host/a.zarr", retries=3, backoff=0)
    with pytest.raises(RemoteAccessError, match="HTTP 400"):
        _get(store)
    assert inner.calls == 1


def test_absent_key_reads_as_none():
    store = RetryingStore(FlakyStore([]), url="https://host/a.zarr")
    assert _get(store, "nothing") is None
