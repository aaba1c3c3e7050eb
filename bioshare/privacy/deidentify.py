"""Apply the DICOM PS3.15 basic confidentiality profile to a copy of the data.

The input is only read. The output is written into a staging folder beside ``out`` and
renamed onto it at the end, with a JSON report listing, per file, each attribute touched
and the action taken (never the original values).
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bioshare import __version__
from bioshare.errors import BioshareError
from bioshare.formats._members import Member, collect
from bioshare.formats.dicom import read_header
from bioshare.privacy.profile import (
    DEIDENTIFICATION_CODE,
    DUMMY_VALUES,
    action_for,
    effective_action,
    keyword,
    tag_text,
)
from bioshare.privacy.scan import (
    NIFTI_FIELDS,
    identifiers,
    identifying_parts,
    is_nifti,
    masked_name,
    nifti_header,
    relative_name,
)

__all__ = ["REPORT_NAME", "DeidentificationError", "DeidentificationReport", "UidMap", "deidentify"]

REPORT_NAME = "deidentification-report.json"
METHOD = f"bioshare {__version__}: DICOM PS3.15 E.1-1 Basic Application Confidentiality Profile"
SHORT_METHOD = f"DICOM PS3.15 E.1-1 Basic Profile (bioshare {__version__})"[:64]  # LO: 64 chars
# Suffixes a pseudonymous name keeps (longest first); anything else after a dot may be
# part of the identifying name ("Doe.Jane.dcm", "scan.2024-01-15.nii.gz").
KEPT_SUFFIXES = (
    ".ome.zarr",
    ".nii.gz",
    ".tar.gz",
    ".dcm",
    ".dicom",
    ".ima",
    ".nii",
    ".json",
    ".txt",
    ".csv",
    ".tsv",
    ".xml",
    ".zip",
    ".zarr",
    ".bval",
    ".bvec",
    ".png",
    ".jpg",
    ".jpeg",
    ".tif",
    ".tiff",
    ".pdf",
    ".gz",
)


class DeidentificationError(BioshareError, ValueError):
    """The data cannot be de-identified as asked (burned-in text, output inside input)."""


class UidMap:
    """Replace UIDs consistently: the same UID always maps to the same ``2.25.`` UID.

    The new UID is a keyed hash (HMAC-SHA256) of the old one, so it cannot be reversed
    without the key; the same key gives the same mapping across runs.
    """

    def __init__(self, key: bytes) -> None:
        self._key = key
        self.count = 0
        self._seen: dict[str, str] = {}

    def __call__(self, uid: str) -> str:
        uid = str(uid).strip("\0 ")
        if not uid:
            return uid
        if uid not in self._seen:
            digest = hmac.new(self._key, uid.encode(), hashlib.sha256).digest()
            self._seen[uid] = "2.25." + str(int.from_bytes(digest[:16], "big"))
            self.count += 1
        return self._seen[uid]

    def name(self, text: str) -> str:
        """A pseudonymous file or folder name for ``text``: a keyed hash of the whole name
        and its known suffix (`KEPT_SUFFIXES`, e.g. ``.nii.gz``), nothing else of it."""
        suffix = next((text[-len(s) :] for s in KEPT_SUFFIXES if text.lower().endswith(s)), "")
        digest = hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()[:16]
        return f"anon-{digest}{suffix}"


@dataclass
class DeidentificationReport:
    """What `deidentify` did, file by file (output names, tags and actions only)."""

    source: str
    output: str
    files: list[dict[str, Any]] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    uids_replaced: int = 0
    method: str = METHOD

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "output": self.output,
            "uids_replaced": self.uids_replaced,
            "excluded": self.excluded,
            "files": self.files,
        }

    def __str__(self) -> str:
        changed = sum(len(f.get("actions", [])) for f in self.files)
        return (
            f"de-identified {len(self.files)} file(s) into {self.output}: {changed} "
            f"attribute(s) changed, {self.uids_replaced} UID(s) replaced"
            + (f", {len(self.excluded)} file(s) left out" if self.excluded else "")
        )


def deidentify(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    key: bytes | str | None = None,
    exclude_burned_in: bool = False,
    overwrite: bool = False,
) -> DeidentificationReport:
    """Write a de-identified copy of DICOM/NIfTI data (a folder, file or zip) to ``out``.

    DICOM: every attribute of the basic profile is removed, emptied, replaced by a dummy
    or (UIDs) replaced consistently by a keyed hash under ``2.25``; private attributes,
    curves and overlays are removed; ``PatientIdentityRemoved=YES``,
    ``DeidentificationMethod`` and its code sequence (DCM 113100) are set. NIfTI:
    ``descrip``, ``aux_file``, ``db_name`` and ``intent_name`` are cleared and header
    extensions dropped. Identifying file or folder names are replaced. Other files are
    copied unchanged and listed as unchecked in the report.

    Parameters
    ----------
    key
        Secret for the UID and name hashes; the same key maps the same UIDs to the same
        new UIDs across runs. By default a random key (consistent within this run only).
    exclude_burned_in
        Leave out DICOM files flagged ``BurnedInAnnotation=YES`` instead of refusing.
    overwrite
        Replace an existing ``out``.

    Returns
    -------
    DeidentificationReport
        Also written to ``out/deidentification-report.json``.
    """
    source = Path(path).expanduser().resolve()
    dest = Path(out).expanduser().resolve()
    if dest == source or source in dest.parents:
        raise DeidentificationError(
            f"the output {dest} is inside the input {source}; the input is never modified"
        )
    if dest in source.parents:  # replacing ``out`` would delete the input with it
        raise DeidentificationError(
            f"the output {dest} contains the input {source}; the input is never modified, "
            "expected an output folder outside it"
        )
    if dest.exists() and not overwrite:
        raise DeidentificationError(f"{dest} already exists; pass overwrite=True to replace it")
    if isinstance(key, str):
        key = key.encode()
    uids = UidMap(key or os.urandom(32))
    label, members = collect(source)
    root = str(source)
    headers = {m.name: read_header(m) for m in members if not is_nifti(m) and m.looks_like_dicom()}
    names: set[str] = set()
    for ds in headers.values():
        if ds is not None:
            names |= identifiers(ds)
    burned = [relative_name(m, root) for m in members if _burned_in(headers.get(m.name))]
    if burned and not exclude_burned_in:
        shown = ", ".join(masked_name(rel, names) for rel in burned[:5])
        raise DeidentificationError(
            f"{len(burned)} file(s) in {masked_name(label, names)} have burned-in annotation "
            f"(BurnedInAnnotation=YES), which the basic profile cannot clean: "
            f"{shown}; remove the text from the pixels first, or pass "
            "exclude_burned_in=True to leave these files out"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    report = DeidentificationReport(source=label, output=str(dest))
    try:
        for member in members:
            rel = relative_name(member, root)
            if rel in burned:
                report.excluded.append(_renamed(rel, names, uids))
                continue
            new_rel = _renamed(rel, names, uids)
            if new_rel.startswith("/") or ".." in new_rel.split("/"):
                raise DeidentificationError(
                    f"{masked_name(label, names)} holds a file named {new_rel!r} that would be "
                    "written outside the output folder; expected relative names"
                )
            target = staging / new_rel
            target.parent.mkdir(parents=True, exist_ok=True)
            entry: dict[str, Any] = {"file": new_rel, "renamed": new_rel != rel}
            if is_nifti(member):
                entry["kind"] = "nifti"
                entry["actions"] = _nifti(member, target)
            elif headers.get(member.name) is not None:
                entry["kind"] = "dicom"
                entry["actions"] = _dicom(member, target, uids)
            else:
                entry["kind"] = "other"
                entry["actions"] = []
                entry["note"] = "not a DICOM or NIfTI file: copied unchanged, not checked"
                target.write_bytes(member.read())
            report.files.append(entry)
        report.uids_replaced = uids.count
        (staging / REPORT_NAME).write_text(json.dumps(report.to_dict(), indent=2))
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old")
            os.replace(dest, old)
            os.replace(staging, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return report


def _burned_in(ds: Any) -> bool:
    return ds is not None and str(ds.get("BurnedInAnnotation", "")).upper() == "YES"


def _renamed(rel: str, names: set[str], uids: UidMap) -> str:
    parts = rel.split("/")
    for i in identifying_parts(rel, names):
        parts[i] = uids.name(parts[i])
    return "/".join(parts)


# -- DICOM --------------------------------------------------------------------------------


def _dicom(member: Member, target: Path, uids: UidMap) -> list[dict[str, str]]:
    import pydicom
    from pydicom.dataset import Dataset

    with member.open() as f:
        ds = pydicom.dcmread(f, force=True)
    actions: list[dict[str, str]] = []
    _apply(ds, uids, actions, "")
    meta = getattr(ds, "file_meta", None)
    if meta is not None and meta.get("MediaStorageSOPInstanceUID"):
        meta.MediaStorageSOPInstanceUID = uids(meta.MediaStorageSOPInstanceUID)
        actions.append(
            {"tag": tag_text(0x00020003), "keyword": "MediaStorageSOPInstanceUID", "action": "U"}
        )
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = SHORT_METHOD
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = DEIDENTIFICATION_CODE
    ds.DeidentificationMethodCodeSequence = [code]
    ds.LongitudinalTemporalInformationModified = "REMOVED"
    ds.save_as(target)
    return actions


def _apply(ds: Any, uids: UidMap, actions: list[dict[str, str]], where: str) -> None:
    for elem in list(ds):
        tag = int(elem.tag)
        action = action_for(tag)
        inside = f"{where}{tag_text(tag)}/"
        if action is None:
            if elem.VR == "SQ":
                for item in elem.value:
                    _apply(item, uids, actions, inside)
            continue
        effective = effective_action(action)
        if effective == "C":  # bioshare has no cleaner for free text: empty it
            effective = "Z"
        record = {"tag": tag_text(tag), "keyword": keyword(tag), "action": effective}
        if where:
            record["in"] = where.rstrip("/")
        if effective == "X":
            del ds[elem.tag]
        elif elem.VR == "SQ":
            if effective == "Z":
                elem.value = []
            else:  # D, U, U*, K: keep the items, cleaned
                for item in elem.value:
                    _apply(item, uids, actions, inside)
                continue
        elif elem.VR == "UI":
            if elem.VM > 1:
                elem.value = [uids(v) for v in elem.value]
            elif elem.value:
                elem.value = uids(elem.value)
            else:
                continue
        elif effective == "Z":
            if elem.value in (None, "", b""):
                continue
            elem.value = None
        elif effective == "D":
            elem.value = DUMMY_VALUES.get(elem.VR, "0" if elem.VR in ("IS", "DS") else None)
        else:
            continue
        actions.append(record)


# -- NIfTI --------------------------------------------------------------------------------


def _nifti(member: Member, target: Path) -> list[dict[str, str]]:
    header = nifti_header(member)
    raw = member.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    actions = []
    for name in NIFTI_FIELDS:
        if name in header and bytes(header[name].tobytes()).strip(b"\0 "):
            header[name] = b""
            actions.append({"tag": name, "action": "Z"})
    offset = int(header["vox_offset"])
    size = int(header["sizeof_hdr"])
    if header.extensions:
        actions.append({"tag": "extensions", "action": "X"})
        header.extensions.clear()
    start = size + 4  # header, then the 4-byte extension flag (all zero: no extensions)
    header["vox_offset"] = max(start, 352 if size == 348 else 544)
    data = raw[offset:] if offset else raw[start:]
    blob = header.binaryblock + b"\0" * (int(header["vox_offset"]) - size) + data
    if member.basename.lower().endswith(".gz"):
        blob = gzip.compress(blob, mtime=0)
    target.write_bytes(blob)
    return actions
