"""Turn a source (URL, local path or zip) into a zarr store that retries transient faults.

One store per source and options is shared per process, so every read of the same
dataset reuses the same HTTP session and its keep-alive connections.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from zarr.abc.store import ByteRequest, Store
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.core.sync import sync
from zarr.storage import FsspecStore, LocalStore, WrapperStore, ZipStore

from bioshare import config
from bioshare.errors import AccessDeniedError, BioshareError, RemoteAccessError

__all__ = ["RetryingStore", "is_remote", "normalize_source", "open_store", "zip_root"]

REMOTE_SCHEMES = ("http", "https", "s3", "gs", "gcs", "az", "abfs")
TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_AWS_CREDENTIAL_KEYS = ("key", "secret", "token", "profile", "anon", "session")


def normalize_source(source: str | os.PathLike[str]) -> str:
    """Return the canonical string form of a source: a URL, or an absolute local path."""
    text = os.fspath(source)
    if is_remote(text):
        return text.rstrip("/")
    if text.startswith("file://"):
        text = text[len("file://") :]
    return str(Path(text).expanduser().resolve())


def is_remote(source: str) -> bool:
    """True when ``source`` is a URL that fsspec reads over the network."""
    scheme = urlsplit(source).scheme.lower()
    return scheme in REMOTE_SCHEMES


def open_store(
    source: str | os.PathLike[str], storage_options: dict[str, Any] | None = None
) -> tuple[Store, str]:
    """Open ``source`` read-only as a zarr store.

    Parameters
    ----------
    source
        ``http(s)://``, ``s3://``, ``gs://`` URL, a local directory, or a ``.zip`` of an
        OME-Zarr (local or remote; remote zips are read with HTTP range requests), with
        the OME-Zarr at the top of the zip or in its single top-level folder.
    storage_options
        Passed unchanged to fsspec (credentials, headers, ``anon``, ``endpoint_url``...).

    Returns
    -------
    store, url
        The store and the canonical URL or path of the source, for messages.
    """
    url = normalize_source(source)
    options = dict(storage_options or {})
    try:
        key = json.dumps(options, sort_keys=True)
    except TypeError:  # options holding objects: no sharing
        return _open_store(url, options), url
    return _cached_store(url, key), url


@lru_cache(maxsize=64)
def _cached_store(url: str, options_json: str) -> Store:
    return _open_store(url, json.loads(options_json))


def _open_store(url: str, options: dict[str, Any]) -> Store:
    if not is_remote(url):
        path = Path(url)
        if not path.exists():
            raise FileNotFoundError(f"{url}: no such file or directory; expected an OME-Zarr")
        if path.is_file():
            if path.suffix.lower() != ".zip":
                raise BioshareError(
                    f"{url} is a file, not an OME-Zarr; expected a directory or a .zip of one"
                )
            return _open_local_zip(path)
        return LocalStore(path, read_only=True)
    options = _remote_defaults(url, options)
    try:
        return _open_remote(url, options)
    except ImportError as exc:
        scheme = urlsplit(url).scheme
        raise BioshareError(
            f"cannot read {url}: the {scheme}:// protocol needs an extra package ({exc})"
        ) from exc


def is_zip_url(url: str) -> bool:
    """True for a zip archive: ``....zip``, or an InvenioRDM/Zenodo file ``....zip/content``."""
    path = urlsplit(url).path.lower()
    return path.endswith(".zip") or path.endswith(".zip/content")


def _open_remote(url: str, options: dict[str, Any]) -> Store:
    if is_zip_url(url):
        protocol = urlsplit(url).scheme
        inner = {k: v for k, v in options.items() if k != "asynchronous"}
        store = FsspecStore.from_url(
            f"zip://::{url}", storage_options={protocol: inner}, read_only=True
        )
        folder = zip_root(_zip_members(store))
        if folder:
            store = FsspecStore.from_url(
                f"zip://{folder}::{url}", storage_options={protocol: inner}, read_only=True
            )
    else:
        store = FsspecStore.from_url(url, storage_options=options, read_only=True)
    return RetryingStore(store, url=url)


_ROOT_METADATA = ("zarr.json", ".zattrs", ".zgroup")


def zip_root(members: list[str]) -> str:
    """The folder of a zip that holds the OME-Zarr: ``""`` when the metadata is at the top,
    else the single top-level folder with metadata (``zip -r x.zip x.ome.zarr`` makes those).
    """
    names = {m.strip("/") for m in members}
    if any(name in names for name in _ROOT_METADATA):
        return ""
    folders = {
        name.split("/", 1)[0]
        for name in names
        if name.count("/") == 1 and name.split("/", 1)[1] in _ROOT_METADATA
    }
    return folders.pop() if len(folders) == 1 else ""


def _open_local_zip(path: Path) -> Store:
    with zipfile.ZipFile(path) as archive:
        folder = zip_root(archive.namelist())
    if not folder:
        return sync(ZipStore.open(path, mode="r", read_only=True))
    return FsspecStore.from_url(f"zip://{folder}::file://{path}", read_only=True)


def _zip_members(store: FsspecStore) -> list[str]:
    """Names in a zip opened through fsspec (its central directory is already read)."""
    fs = getattr(store.fs, "sync_fs", store.fs)
    archive = getattr(fs, "zip", None)
    return archive.namelist() if archive is not None else []


def _remote_defaults(url: str, options: dict[str, Any]) -> dict[str, Any]:
    """Fill in what a user would expect without saying it; never override what was given."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "s3" and not _has_aws_credentials(options):
        # Public buckets work without credentials; anonymous requests look nothing up.
        options = {**options, "anon": True}
    if scheme in ("http", "https"):
        import aiohttp

        client_kwargs = dict(options.get("client_kwargs", {}))
        client_kwargs.setdefault(
            "timeout",
            aiohttp.ClientTimeout(
                total=None, sock_connect=config.timeout(), sock_read=config.timeout()
            ),
        )
        options = {**options, "client_kwargs": client_kwargs}
    return options


def _has_aws_credentials(options: dict[str, Any]) -> bool:
    if any(k in options for k in _AWS_CREDENTIAL_KEYS):
        return True
    env = (
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    )
    if any(os.environ.get(name) for name in env):
        return True
    return Path("~/.aws/credentials").expanduser().exists()


class RetryingStore(WrapperStore[Store]):
    """A read-only store that retries transient faults and names the URL in errors.

    Timeouts, dropped connections, truncated bodies and HTTP 408/429/5xx are retried with
    exponential back-off and jitter; 401/403 raise `AccessDeniedError` at once; a key that
    does not exist (404) reads as absent, which for a chunk means the fill value.
    """

    def __init__(
        self, store: Store, *, url: str = "", retries: int | None = None, backoff: float = 0.1
    ) -> None:
        super().__init__(store)
        self.url = url
        self.retries = config.retries() if retries is None else retries
        self.backoff = backoff

    def _with_store(self, store: Store) -> RetryingStore:
        return type(self)(store, url=self.url, retries=self.retries, backoff=self.backoff)

    def __repr__(self) -> str:
        return f"RetryingStore({self.url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RetryingStore) and other._store == self._store

    def __hash__(self) -> int:
        return hash(self.url)

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        return await self._retry(key, self._store.get, key, prototype, byte_range)

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Any
    ) -> list[Buffer | None]:
        key_ranges = list(key_ranges)
        first = key_ranges[0][0] if key_ranges else ""
        return await self._retry(first, self._store.get_partial_values, prototype, key_ranges)

    async def exists(self, key: str) -> bool:
        return await self._retry(key, self._store.exists, key)

    async def _retry(self, key: str, func: Any, *args: Any) -> Any:
        where = f"{self.url}/{key}" if key else self.url
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                return await func(*args)
            except Exception as exc:
                status = _status_of(exc)
                if status in (401, 403) or isinstance(exc, PermissionError):
                    raise AccessDeniedError(
                        f"access denied to {where} (HTTP {status or 403}); "
                        "pass credentials or headers in storage_options"
                    ) from exc
                if not _is_transient(exc, status) or attempt == self.retries:
                    reason = f"HTTP {status}" if status else f"{type(exc).__name__}: {exc}"
                    raise RemoteAccessError(
                        f"could not read {where} after {attempt + 1} attempt(s): {reason}"
                    ) from exc
                await asyncio.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None) or getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _is_transient(exc: BaseException, status: int | None) -> bool:
    if status is not None:
        return status in TRANSIENT_STATUS
    import aiohttp

    return isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | ConnectionError)
