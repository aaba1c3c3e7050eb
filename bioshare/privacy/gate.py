"""Refuse to publish or convert DICOM/NIfTI data that has not scanned clean."""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

from bioshare.errors import BioshareError
from bioshare.formats._members import Archive, Member, is_dicom, is_nifti_name
from bioshare.privacy.scan import ScanReport, scan_members

__all__ = ["IdentifiableDataError", "check_publishable", "medical_files"]

logger = logging.getLogger("bioshare.privacy")

_ZARR_KEYS = ("zarr.json", ".zattrs", ".zgroup")


class IdentifiableDataError(BioshareError, PermissionError):
    """DICOM or NIfTI data still holds identifying data; ``reports`` has the findings."""

    def __init__(self, message: str, reports: list[ScanReport]) -> None:
        super().__init__(message)
        self.reports = reports


def _head(path: Path, size: int) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except OSError:
        return b""


def _zip_medical_members(path: Path) -> list[str] | None:
    """The DICOM/NIfTI members of the zip ``path`` (every member is looked at, except
    inside OME-Zarr hierarchies and macOS resource forks); None when ``path`` is not a
    readable zip. Hidden members are checked: they are published with the zip."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/") and "__MACOSX/" not in n]
            zarr_roots = tuple(
                n.rsplit("/", 1)[0] + "/" if "/" in n else ""
                for n in names
                if n.rsplit("/", 1)[-1] in _ZARR_KEYS
            )

            def head(name: str, size: int) -> bytes:
                with zf.open(name) as f:
                    return f.read(size)

            return [
                n
                for n in names
                if not (zarr_roots and n.startswith(zarr_roots))
                and (is_nifti_name(n) or is_dicom(n, partial(head, n)))
            ]
    except (zipfile.BadZipFile, OSError):
        return None


def _is_medical(path: Path) -> bool:
    name = path.name.lower()
    if is_nifti_name(name):
        return True
    zipped = name.endswith(".zip") or zipfile.is_zipfile(path)
    if zipped and _zip_medical_members(path):
        return True
    return is_dicom(name, partial(_head, path))


def medical_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The DICOM and NIfTI files (and zips of them) among ``paths`` and under folders;
    OME-Zarr folders are skipped without being walked."""
    found: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if path.is_file():
            if _is_medical(path):
                found.append(path)
            continue
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(
                d for d in dirs if not d.lower().endswith(".zarr") and not d.startswith(".")
            )
            if any(k in files for k in _ZARR_KEYS):
                dirs[:] = []
                continue
            found.extend(
                Path(root) / name
                for name in sorted(files)
                if not name.startswith(".") and _is_medical(Path(root) / name)
            )
    return found


def _members(path: Path, rel: str) -> list[tuple[Member, str]]:
    """``path`` as members to scan, each with its name relative to the published folder
    (a zip's members under the zip's own name, as if it were a folder)."""
    medical = _zip_medical_members(path) if zipfile.is_zipfile(path) else None
    if not medical:
        return [(Member(str(path), path=str(path)), rel)]
    archive = Archive(str(path), path=str(path))
    return [
        (Member(f"{path}!{inner}", archive=archive, inner=inner), f"{rel}/{inner}")
        for inner in medical
    ]


def check_publishable(
    paths: Iterable[str | os.PathLike[str]],
    *,
    root: str | os.PathLike[str] | None = None,
    allow_identifiable: bool = False,
    what: str = "publish",
    storage_options: dict[str, Any] | None = None,
) -> list[ScanReport]:
    """Scan the DICOM/NIfTI files among ``paths``; raise unless all are clean.

    File and folder names are checked relative to ``root``, the folder being published
    (so a folder named after the patient is caught); by default each folder in ``paths``
    is its own root and a file's root is its parent. With ``allow_identifiable=True``
    (for data that is legitimately public) nothing is raised and a warning naming the
    paths and the number of findings is logged.

    Raises
    ------
    IdentifiableDataError
        Listing the findings per file (tags and actions, never values; identifiers and
        dates in names masked).
    """
    del storage_options  # local files only; kept for callers passing it
    entries = [Path(p) for p in paths]
    base = Path(root) if root is not None else None
    members: list[Member] = []
    names: list[str] = []
    for entry in entries:
        top = base if base is not None else (entry if entry.is_dir() else entry.parent)
        for path in medical_files([entry]):
            rel = os.path.relpath(path, top).replace(os.sep, "/")
            for member, name in _members(path, rel):
                members.append(member)
                names.append(name)
    if not members:
        return []
    label = str(base) if base is not None else ", ".join(str(e) for e in entries)
    report = scan_members(label, label, members, names=names)
    reports = [report]
    if report.clean:
        return reports
    count = len(report.findings)
    if allow_identifiable:
        logger.warning(
            "%s of identifiable medical data allowed explicitly (allow_identifiable=True): "
            "%d finding(s) in %s",
            what,
            count,
            report.source,
        )
        return reports
    raise IdentifiableDataError(
        f"refusing to {what}: {count} finding(s) of identifying data in DICOM/NIfTI files\n"
        f"{report}\nDe-identify first (bioshare privacy deidentify SRC OUT, or "
        "bioshare.privacy.deidentify), or pass allow_identifiable=True "
        "(--allow-identifiable) if the data is legitimately public.",
        reports,
    )
