"""Inputs of an analysis: the parameters that name local files, folders or URLs."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from bioshare.publishing.package import file_sha256
from bioshare.reproduce.crate import InputRecord

__all__ = ["content_sha256", "find_inputs", "is_url"]

_URL = re.compile(r"^(https?|s3|gs|ftp)://", re.IGNORECASE)


def is_url(value: Any) -> bool:
    """True for an http(s), s3, gs or ftp URL."""
    return isinstance(value, str) and bool(_URL.match(value))


def local_path(value: Any) -> Path | None:
    """The existing local file or folder a parameter value names, else None."""
    if not isinstance(value, str) or not value or is_url(value) or "\n" in value:
        return None
    if len(value) > 4096:
        return None
    try:
        path = Path(value).expanduser()
        return path.resolve() if path.exists() else None
    except (OSError, ValueError):
        return None


def content_sha256(path: Path) -> tuple[str, int]:
    """sha256 and size of a file, or of a folder's files (relative paths and contents)."""
    if path.is_file():
        return file_sha256(path), path.stat().st_size
    digest, total = hashlib.sha256(), 0
    for child in sorted(p for p in path.rglob("*") if p.is_file()):
        sha, size = content_sha256(child)
        digest.update(f"{child.relative_to(path).as_posix()}\0{sha}\n".encode())
        total += size
    return digest.hexdigest(), total


def find_inputs(
    parameters: dict[str, Any], *, include: bool, max_bytes: int
) -> tuple[list[InputRecord], dict[str, Path]]:
    """The inputs named by ``parameters``, and the local ones to copy (crate path -> source).

    Local files and folders get a checksum; when ``include`` and no larger than
    ``max_bytes``, a copy goes into the crate under ``inputs/<parameter>/``.
    """
    records: list[InputRecord] = []
    copies: dict[str, Path] = {}
    for name, value in parameters.items():
        if is_url(value):
            records.append(InputRecord(name, value, "url"))
            continue
        path = local_path(value)
        if path is None:
            continue
        sha, size = content_sha256(path)
        rel = None
        if include and size <= max_bytes:
            rel = f"inputs/{name}/{path.name}"
            copies[rel] = path
        kind = "directory" if path.is_dir() else "file"
        records.append(InputRecord(name, value, kind, sha, size, rel))
    return records, copies
