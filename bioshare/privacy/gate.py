"""Refuse to publish or convert DICOM/NIfTI data that has not scanned clean."""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bioshare.errors import BioshareError
from bioshare.formats._members import DICOM_MAGIC, Member
from bioshare.privacy.scan import ScanReport, scan, scan_members

__all__ = ["IdentifiableDataError", "check_publishable", "medical_files"]

logger = logging.getLogger("bioshare.privacy")

_SUFFIXES = (".dcm", ".dicom", ".ima", ".nii", ".nii.gz")


class IdentifiableDataError(BioshareError, PermissionError):
    """DICOM or NIfTI data still holds identifying data; ``reports`` has the findings."""

    def __init__(self, message: str, reports: list[ScanReport]) -> None:
        super().__init__(message)
        self.reports = reports


def _is_medical(path: Path) -> bool:
    name = path.name.lower()
    if name.endswith(_SUFFIXES):
        return True
    if name.endswith(".zip"):
        try:
            with zipfile.ZipFile(path) as zf:
                members = [n for n in zf.namelist() if not n.endswith("/")]
                if any(n.rsplit("/", 1)[-1] in ("zarr.json", ".zattrs") for n in members):
                    return False
                return any(n.lower().endswith(_SUFFIXES) for n in members) or any(
                    zf.open(n).read(132)[128:132] == DICOM_MAGIC for n in members[:8]
                )
        except (zipfile.BadZipFile, OSError):
            return False
    if "." in name:
        return False
    try:
        with open(path, "rb") as f:
            return f.read(132)[128:132] == DICOM_MAGIC
    except OSError:
        return False


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
            if "zarr.json" in files or ".zattrs" in files or ".zgroup" in files:
                dirs[:] = []
                continue
            found.extend(
                Path(root) / name
                for name in sorted(files)
                if not name.startswith(".") and _is_medical(Path(root) / name)
            )
    return found


def check_publishable(
    paths: Iterable[str | os.PathLike[str]],
    *,
    allow_identifiable: bool = False,
    what: str = "publish",
    storage_options: dict[str, Any] | None = None,
) -> list[ScanReport]:
    """Scan the DICOM/NIfTI files among ``paths``; raise unless all are clean.

    With ``allow_identifiable=True`` (for data that is legitimately public) nothing is
    raised and a warning naming the paths and the number of findings is logged.

    Raises
    ------
    IdentifiableDataError
        Listing the findings per file (tags and actions, never values).
    """
    files = medical_files(paths)
    zips = [p for p in files if p.name.lower().endswith(".zip")]
    loose = [p for p in files if p not in zips]
    reports = [scan(p, storage_options=storage_options) for p in zips]
    if loose:
        root = Path(os.path.commonpath([p.parent for p in loose]))
        members = [Member(str(p), path=str(p)) for p in loose]
        reports.append(scan_members(str(root), str(root), members))
    dirty = [r for r in reports if not r.clean]
    if not dirty:
        return reports
    count = sum(len(r.findings) for r in dirty)
    if allow_identifiable:
        logger.warning(
            "%s of identifiable medical data allowed explicitly (allow_identifiable=True): "
            "%d finding(s) in %s",
            what,
            count,
            ", ".join(r.source for r in dirty),
        )
        return reports
    detail = "\n".join(str(r) for r in dirty)
    raise IdentifiableDataError(
        f"refusing to {what}: {count} finding(s) of identifying data in DICOM/NIfTI files\n"
        f"{detail}\nDe-identify first (bioshare privacy deidentify SRC OUT, or "
        "bioshare.privacy.deidentify), or pass allow_identifiable=True "
        "(--allow-identifiable) if the data is legitimately public.",
        dirty,
    )
