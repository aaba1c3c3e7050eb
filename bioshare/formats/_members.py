"""Sources as lists of files: a folder, a file, a local zip, or a URL downloaded once.

Every file is a `Member` that can be re-opened later (to decode pixels on demand) and
pickled (for dask workers): local files by path, zip members by archive and name, and
downloads by their bytes held in memory.
"""

from __future__ import annotations

import io
import os
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

__all__ = [
    "DICOM_SUFFIXES",
    "NIFTI_SUFFIXES",
    "Archive",
    "Member",
    "collect",
    "download",
    "is_dicom",
    "is_nifti_name",
    "is_url",
    "safe_url",
]

DICOM_MAGIC = b"DICM"
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
NIFTI_SUFFIXES = (".nii", ".nii.gz")


def is_dicom(name: str, read: Callable[[int], bytes]) -> bool:
    """The one test for a DICOM file, used by detection, reading, scanning and the gate.

    A DICOM suffix (``.dcm``, ``.dicom``, ``.ima``, any case), or the ``DICM`` magic at
    offset 128 whatever the name: UID-named files (``1.2.840....``) often have no suffix.
    ``read(n)`` returns the first ``n`` bytes; it is only called when the name says nothing.
    """
    if name.replace("\\", "/").rsplit("/", 1)[-1].lower().endswith(DICOM_SUFFIXES):
        return True
    return read(132)[128:132] == DICOM_MAGIC


def is_nifti_name(name: str) -> bool:
    """True for a ``.nii`` or ``.nii.gz`` name (any case)."""
    return name.lower().endswith(NIFTI_SUFFIXES)


def is_url(source: str) -> bool:
    """True for an http(s) URL."""
    return urlsplit(source).scheme.lower() in ("http", "https")


def safe_url(url: str) -> str:
    """A URL without its query string, which may carry secrets."""
    return url.split("?", 1)[0]


class Archive:
    """A zip read from a local path or from bytes in memory; picklable, thread-safe reads."""

    def __init__(self, label: str, *, path: str | None = None, data: bytes | None = None):
        self.label = label
        self.path = path
        self.data = data
        self._zip: zipfile.ZipFile | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"label": self.label, "path": self.path, "data": self.data}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["label"], path=state["path"], data=state["data"])  # type: ignore[misc]

    def _open(self) -> zipfile.ZipFile:  # call with the lock held
        if self._zip is None:
            target: Any = self.path if self.path is not None else io.BytesIO(self.data or b"")
            self._zip = zipfile.ZipFile(target)
        return self._zip

    def names(self) -> list[str]:
        with self._lock:
            return [i.filename for i in self._open().infolist() if not i.is_dir()]

    def read(self, name: str, size: int = -1) -> bytes:
        with self._lock, self._open().open(name) as f:
            return f.read(size)


@dataclass(frozen=True)
class Member:
    """One file of a source: a local path, a zip member, or downloaded bytes."""

    name: str
    path: str | None = None
    archive: Archive | None = field(default=None, compare=False)
    inner: str | None = None
    data: bytes | None = field(default=None, compare=False, repr=False)

    def read(self, size: int = -1) -> bytes:
        if self.path is not None:
            with open(self.path, "rb") as f:
                return f.read(size)
        if self.archive is not None and self.inner is not None:
            return self.archive.read(self.inner, size)
        data = self.data or b""
        return data if size < 0 else data[:size]

    def open(self) -> IO[bytes]:
        if self.path is not None:
            return open(self.path, "rb")
        return io.BytesIO(self.read())

    @property
    def basename(self) -> str:
        return (self.inner or self.path or self.name).replace("\\", "/").rsplit("/", 1)[-1]

    def looks_like_dicom(self) -> bool:
        """A DICOM file by `is_dicom`: a DICOM suffix, or the ``DICM`` preamble."""
        return is_dicom(self.basename, self.read)


def download(url: str, storage_options: dict[str, Any] | None = None) -> bytes:
    """GET ``url`` once (with retries) and return its body; ``headers`` and ``cookies`` carry auth.

    ``cookies`` (a session, name to value) are sent to the URL's host only, also after a
    redirect on that host, where a ``Cookie`` header would be dropped.
    """
    from bioshare._http import ApiClient

    headers = dict((storage_options or {}).get("headers") or {})
    cookies = dict((storage_options or {}).get("cookies") or {})
    client = ApiClient(url, name="download", headers=headers, cookies=cookies)
    return client.request("GET", url).content


def collect(
    source: str | os.PathLike[str], storage_options: dict[str, Any] | None = None
) -> tuple[str, list[Member]]:
    """The files of ``source``: a folder (recursively), a file, a zip, or an http(s) URL.

    Returns
    -------
    label, members
        A printable name of the source (URLs without query) and its files, sorted by name.
    """
    text = os.fspath(source)
    if is_url(text):
        label = safe_url(text)
        data = download(text, storage_options)
        if zipfile.is_zipfile(io.BytesIO(data)):
            archive = Archive(label, data=data)
            return label, _zip_members(archive)
        return label, [Member(label, data=data)]
    path = Path(text).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        return str(path), [Member(str(p), path=str(p)) for p in files]
    if zipfile.is_zipfile(path):
        return str(path), _zip_members(Archive(str(path), path=str(path)))
    return str(path), [Member(str(path), path=str(path))]


def _zip_members(archive: Archive) -> list[Member]:
    return [
        Member(f"{archive.label}!{name}", archive=archive, inner=name)
        for name in sorted(archive.names())
        if not name.rsplit("/", 1)[-1].startswith(".") and "__MACOSX/" not in name
    ]
