"""Which reader a source needs: OME-Zarr, DICOM or NIfTI, without a network round trip."""

from __future__ import annotations

import os
import zipfile
from functools import partial
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from bioshare.formats._members import DICOM_SUFFIXES, NIFTI_SUFFIXES, is_dicom

__all__ = ["FORMATS", "detect_format"]

Format = Literal["ome-zarr", "dicom", "nifti", "zip"]
FORMATS = ("ome-zarr", "dicom", "nifti")
_ZARR_KEYS = ("zarr.json", ".zattrs", ".zgroup")
_PEEK = 16  # files looked at to tell a DICOM folder


def detect_format(source: str | os.PathLike[str], format: str | None = None) -> Format:
    """Guess the format of ``source`` from its name, and for local sources its content.

    A URL with ``format=zip`` in its query (XNAT's archive download) is DICOM. Returns
    "ome-zarr", "dicom", "nifti", or "zip" for a remote ``.zip`` that may be
    either an OME-Zarr or DICOM files (the caller tries OME-Zarr first: reading its
    metadata is what opening it costs anyway). Remote sources are never contacted.
    """
    if format is not None:
        key = format.lower().replace("_", "-")
        aliases = {"omezarr": "ome-zarr", "zarr": "ome-zarr", "ngff": "ome-zarr", "nii": "nifti"}
        key = aliases.get(key, key)
        if key not in FORMATS:
            raise ValueError(f"format={format!r} is not known; expected one of {FORMATS}")
        return key  # type: ignore[return-value]
    text = os.fspath(source)
    parts = urlsplit(text)
    remote = parts.scheme.lower() in ("http", "https", "s3", "gs", "gcs", "az", "abfs")
    name = (parts.path if remote else text).rstrip("/").lower()
    if name.endswith(NIFTI_SUFFIXES):
        return "nifti"
    if name.endswith(DICOM_SUFFIXES):
        return "dicom"
    if remote:
        if name.endswith((".zarr.zip", ".ozx")):
            return "ome-zarr"
        query = {k.lower(): v for k, v in parse_qs(parts.query).items()}
        if "zip" in [v.lower() for v in query.get("format", [])]:
            return "dicom"  # XNAT's ``.../files?format=zip``: an archive of DICOM files
        return "zip" if name.endswith(".zip") else "ome-zarr"
    if text.startswith("file://"):
        text = text[len("file://") :]
    path = Path(text).expanduser()
    if path.is_dir():
        return "ome-zarr" if _is_zarr_dir(path) else _dicom_or_zarr_dir(path)
    if path.is_file():
        if name.endswith((".zarr.zip", ".ozx")):
            return "ome-zarr"
        if zipfile.is_zipfile(path):
            return _zip_kind(path)
        if is_dicom(path.name, partial(_head, str(path))):
            return "dicom"
    return "ome-zarr"


def _head(path: str, size: int) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except OSError:
        return b""


def _is_zarr_dir(path: Path) -> bool:
    return path.name.lower().endswith(".zarr") or any((path / k).exists() for k in _ZARR_KEYS)


def _dicom_or_zarr_dir(path: Path) -> Format:
    seen = 0
    for root, dirs, files in os.walk(path):
        dirs.sort()
        if any(k in files for k in _ZARR_KEYS):
            return "ome-zarr"
        for name in sorted(files):
            if name.startswith("."):
                continue
            if is_dicom(name, partial(_head, os.path.join(root, name))):
                return "dicom"
            seen += 1
            if seen >= _PEEK:
                return "ome-zarr"
    return "ome-zarr"


def _zip_kind(path: Path) -> Format:
    with zipfile.ZipFile(path) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
        if any(n.rsplit("/", 1)[-1] in _ZARR_KEYS for n in names):
            return "ome-zarr"
        for n in names[: _PEEK * 4]:
            if is_dicom(n, partial(_zip_head, zf, n)):
                return "dicom"
    return "ome-zarr"


def _zip_head(zf: zipfile.ZipFile, name: str, size: int) -> bytes:
    with zf.open(name) as f:
        return f.read(size)
