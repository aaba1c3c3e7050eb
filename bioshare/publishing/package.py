"""Pack an OME-Zarr into one uncompressed zip that readers stream with range requests.

Repositories cap the number of files per record, and an OME-Zarr holds thousands of chunk
files: each OME-Zarr is published as a single zip (a Zarr zip store), with its metadata
documents first, root first, so that a reader finds them in the first part of the archive.
Entries are stored uncompressed (chunks are compressed already) so that every chunk is a
contiguous byte range. The archive is written streaming, never held in memory, and its md5
is computed while writing.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

__all__ = ["PackedFile", "file_md5", "file_sha256", "is_ome_zarr", "write_zip", "zip_ome_zarr"]

METADATA_NAMES = frozenset({"zarr.json", ".zattrs", ".zgroup", ".zarray", ".zmetadata"})
BLOCK = 1 << 20  # bytes read at a time: memory stays flat whatever the dataset size


@dataclass(frozen=True)
class PackedFile:
    """A file ready to upload: its name in the record, where it is, size and md5."""

    name: str
    path: Path
    size: int
    md5: str


def is_ome_zarr(path: Path) -> bool:
    """True for a local folder with a Zarr group at its root."""
    return path.is_dir() and any((path / n).is_file() for n in ("zarr.json", ".zgroup", ".zattrs"))


def file_md5(path: Path, progress: Callable[[int], object] | None = None) -> str:
    """The md5 of a file, read in blocks."""
    return _digest(hashlib.md5(usedforsecurity=False), path, progress)


def file_sha256(path: Path, progress: Callable[[int], object] | None = None) -> str:
    """The sha256 of a file, read in blocks."""
    return _digest(hashlib.sha256(), path, progress)


def _digest(digest: hashlib._Hash, path: Path, progress: Callable[[int], object] | None) -> str:
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
            if progress is not None:
                progress(len(block))
    return digest.hexdigest()


def zip_ome_zarr(
    source: Path,
    dest: Path,
    *,
    progress: Callable[[int], object] | None = None,
) -> PackedFile:
    """Write ``source`` (an OME-Zarr folder) as an uncompressed zip at ``dest``.

    Parameters
    ----------
    source
        The OME-Zarr folder.
    dest
        The zip to write (replaced atomically: a failure leaves no partial file).
    progress
        Called with the number of source bytes packed after each block.

    Returns
    -------
    PackedFile
        Name (``dest.name``), path, size and md5 of the archive.
    """
    return write_zip(_entries(source), dest, progress=progress)


def write_zip(
    entries: Iterable[tuple[Path, str]],
    dest: Path,
    *,
    compression: int = zipfile.ZIP_STORED,
    progress: Callable[[int], object] | None = None,
) -> PackedFile:
    """Write files as a reproducible zip at ``dest``, streaming, with its md5.

    Entries (source file, name in the archive) are written in the order given, with a
    fixed date and mode: the same files give the same bytes. ``dest`` is replaced
    atomically; a failure leaves no partial file.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as raw:
            sink = _HashingWriter(raw)
            stream = cast(IO[bytes], sink)
            with zipfile.ZipFile(stream, "w", compression=compression) as archive:
                for path, name in entries:
                    _add(archive, path, name, compression, progress)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return PackedFile(dest.name, dest, sink.size, sink.md5.hexdigest())


def _entries(source: Path) -> Iterator[tuple[Path, str]]:
    """Metadata documents first (root first, then by depth), then every other file."""
    files = [p for p in source.rglob("*") if p.is_file()]
    names = {p: p.relative_to(source).as_posix() for p in files}

    def order(path: Path) -> tuple[int, int, str]:
        metadata = path.name in METADATA_NAMES
        return (0 if metadata else 1, names[path].count("/") if metadata else 0, names[path])

    for path in sorted(files, key=order):
        yield path, names[path]


def _add(
    archive: zipfile.ZipFile,
    path: Path,
    name: str,
    compression: int,
    progress: Callable[[int], object] | None,
) -> None:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # reproducible archives
    info.compress_type = compression
    info.external_attr = 0o644 << 16
    size = path.stat().st_size
    with path.open("rb") as src, archive.open(info, "w", force_zip64=size > 2**31) as out:
        while block := src.read(BLOCK):
            out.write(block)
            if progress is not None:
                progress(len(block))


class _HashingWriter:
    """A write-only, unseekable stream that hashes what passes through.

    zipfile writes to an unseekable stream in one pass (sizes go in data descriptors), so
    the md5 of the bytes written is the md5 of the archive.
    """

    def __init__(self, raw: object) -> None:
        self._raw = raw
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def write(self, data: bytes) -> int:
        self._raw.write(data)  # type: ignore[attr-defined]
        self.md5.update(data)
        self.size += len(data)
        return len(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._raw.flush()  # type: ignore[attr-defined]

    def seekable(self) -> bool:
        return False
