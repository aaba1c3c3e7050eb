"""Find what could identify a patient in DICOM and NIfTI files, without printing it.

Findings name the file, the tag (or NIfTI field) and the profile action it calls for;
they never carry the identifying values themselves, so reports can be shared and logged.
"""

from __future__ import annotations

import gzip
import os
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from bioshare.formats._members import Member, collect
from bioshare.privacy.profile import DUMMY_VALUES, action_for, effective_action, keyword

__all__ = [
    "Finding",
    "ScanReport",
    "identifiers",
    "identifying_parts",
    "is_nifti",
    "scan",
    "scan_members",
]

_NIFTI_SUFFIXES = (".nii", ".nii.gz")
_DATE_IN_NAME = re.compile(
    r"(?<!\d)(19|20)\d{2}[-_.]?(0[1-9]|1[0-2])[-_.]?(0[1-9]|[12]\d|3[01])(?!\d)"
)
# Modalities whose pixels often carry burned-in text (ultrasound, screen captures, photos).
_BURNED_IN_PRONE = {"US", "SC", "OT", "XC", "ES", "GM", "SM", "DOC"}
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


@dataclass(frozen=True)
class Finding:
    """One thing that could identify a patient.

    Attributes
    ----------
    file
        The file, relative to the scanned folder or zip.
    kind
        ``"tag"`` (an attribute of the basic profile), ``"private-tag"``, ``"burned-in"``,
        ``"file-name"`` or ``"nifti-header"``.
    tag
        ``"(0010,0010)"`` for DICOM, the header field name for NIfTI, "" otherwise.
    keyword
        The DICOM keyword ("PatientName") when known.
    action
        The basic profile action the attribute calls for (D, Z, X, U, ...).
    message
        What was found, without the value.
    """

    file: str
    kind: str
    tag: str = ""
    keyword: str = ""
    action: str = ""
    message: str = ""


@dataclass
class ScanReport:
    """What `scan` found; `clean` is True when there is nothing to fix."""

    source: str
    files: int = 0
    dicom_files: int = 0
    nifti_files: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.findings

    def summary(self) -> list[str]:
        """One line per kind of finding, with how many files have it."""
        counts = Counter((f.kind, f.tag, f.keyword, f.action, f.message) for f in self.findings)
        lines = []
        for (kind, tag, kw, action, message), n in sorted(counts.items()):
            what = " ".join(p for p in (tag, kw) if p) or kind
            detail = f" [{action}]" if action else ""
            lines.append(f"{what}{detail}: {message or kind} ({n} file(s))")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "files": self.files,
            "dicom_files": self.dicom_files,
            "nifti_files": self.nifti_files,
            "clean": self.clean,
            "findings": [asdict(f) for f in self.findings],
        }

    def __str__(self) -> str:
        head = (
            f"{self.source}: {self.files} file(s) ({self.dicom_files} DICOM, "
            f"{self.nifti_files} NIfTI): "
        )
        if self.clean:
            return head + "no identifying data found"
        return head + f"{len(self.findings)} finding(s)\n  " + "\n  ".join(self.summary())


def is_nifti(member: Member) -> bool:
    return member.basename.lower().endswith(_NIFTI_SUFFIXES)


def relative_name(member: Member, root: str) -> str:
    """The member's path relative to the scanned source (``/`` separated)."""
    if member.inner is not None:
        return member.inner
    if member.path is not None:
        if os.path.isdir(root):
            return os.path.relpath(member.path, root).replace(os.sep, "/")
        return os.path.basename(member.path)
    return member.basename


def scan(
    path: str | os.PathLike[str], *, storage_options: dict[str, Any] | None = None
) -> ScanReport:
    """Report identifying data in DICOM and NIfTI files: a folder, file, zip or URL.

    Checks DICOM attributes of the PS3.15 basic confidentiality profile (names, IDs,
    dates, addresses, institutions, UIDs, ...) at every nesting level, private
    attributes, burned-in annotation (``BurnedInAnnotation``, or its absence for
    modalities prone to it), NIfTI ``descrip``/``aux_file``/``db_name``/``intent_name``
    and header extensions, and file or folder names holding a patient's name, ID or a
    date. UIDs count as replaced in files declaring ``PatientIdentityRemoved=YES``.

    Returns
    -------
    ScanReport
        ``report.clean`` is True when nothing was found; findings never hold values.
    """
    label, members = collect(path, storage_options)
    return scan_members(label, os.fspath(path), members)


def scan_members(label: str, root: str, members: list[Member]) -> ScanReport:
    """`scan` over given files; names are reported relative to the folder ``root``."""
    report = ScanReport(source=label, files=len(members))
    names: set[str] = set()
    for member in members:
        rel = relative_name(member, root)
        if is_nifti(member):
            report.nifti_files += 1
            report.findings.extend(_scan_nifti(member, rel))
        elif member.looks_like_dicom():
            ds = _read_dicom(member)
            if ds is None:
                continue
            report.dicom_files += 1
            names |= identifiers(ds)
            report.findings.extend(scan_dataset(ds, rel))
    for member in members:
        rel = relative_name(member, root)
        if identifying_parts(rel, names):
            report.findings.append(
                Finding(
                    rel,
                    "file-name",
                    message="the file or folder name holds a patient identifier or a date",
                )
            )
    return report


def _read_dicom(member: Member) -> Any:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with member.open() as f:
            return pydicom.dcmread(f, stop_before_pixels=True, force=True)
    except (InvalidDicomError, OSError, ValueError, EOFError):
        return None


def identifiers(ds: Any) -> set[str]:
    """Lower-case strings from a header that must not appear in file names."""
    found = set()
    for key in ("PatientID", "AccessionNumber", "PatientBirthDate", "OtherPatientIDs"):
        value = ds.get(key)
        if value:
            found.add(str(value).lower())
    name = ds.get("PatientName")
    if name:
        found.update(part.lower() for part in re.split(r"[\^=\s,]+", str(name)))
    return {v for v in found if len(v) >= 3 and v not in ("anonymized", "anonymous")}


def identifying_parts(rel: str, names: set[str]) -> list[int]:
    """Indices of the ``/``-separated parts of ``rel`` holding an identifier or a date."""
    hits = []
    for i, part in enumerate(rel.split("/")):
        low = part.lower()
        tokens = set(re.split(r"[^0-9a-z]+", low))
        long_hit = any(n in low for n in names if len(n) >= 4)  # substrings: long ones only
        if _DATE_IN_NAME.search(low) or long_hit or tokens & names:
            hits.append(i)
    return hits


def _tag(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _has_value(elem: Any) -> bool:
    if elem.VR == "SQ":
        return bool(elem.value)
    value = elem.value
    if value is None:
        return False
    if isinstance(value, bytes):
        return bool(value.strip(b"\0 "))
    if isinstance(value, str):
        return bool(value.strip("\0 "))
    try:
        return len(value) > 0
    except TypeError:
        return True


def _is_dummy(elem: Any) -> bool:
    dummy = DUMMY_VALUES.get(elem.VR)
    return dummy is not None and str(elem.value) == dummy


def scan_dataset(ds: Any, rel: str) -> list[Finding]:
    """The findings in one DICOM dataset (recursing into sequences)."""
    deidentified = str(ds.get("PatientIdentityRemoved", "")).upper() == "YES"
    findings: list[Finding] = []
    _walk(ds, rel, deidentified, findings)
    file_meta = getattr(ds, "file_meta", None)
    if not deidentified and file_meta is not None and file_meta.get("MediaStorageSOPInstanceUID"):
        findings.append(
            Finding(
                rel,
                "tag",
                _tag(0x00020003),
                "MediaStorageSOPInstanceUID",
                "U",
                "an original instance UID",
            )
        )
    burned = str(ds.get("BurnedInAnnotation", "")).upper()
    if burned == "YES":
        findings.append(
            Finding(
                rel,
                "burned-in",
                _tag(0x00280301),
                "BurnedInAnnotation",
                "",
                "pixel data holds burned-in text; clean the pixels or leave it out",
            )
        )
    elif not burned and (
        str(ds.get("Modality", "")).upper() in _BURNED_IN_PRONE
        or str(ds.get("SOPClassUID", "")).startswith(_SECONDARY_CAPTURE)
    ):
        findings.append(
            Finding(
                rel,
                "burned-in",
                _tag(0x00280301),
                "BurnedInAnnotation",
                "",
                "burned-in annotation not declared for a modality prone to it",
            )
        )
    return findings


def _walk(ds: Any, rel: str, deidentified: bool, findings: list[Finding]) -> None:
    for elem in ds:
        tag = int(elem.tag)
        action = action_for(tag)
        if action is None:
            if elem.VR == "SQ":
                for item in elem.value:
                    _walk(item, rel, deidentified, findings)
            continue
        if tag >> 16 & 1:
            findings.append(Finding(rel, "private-tag", _tag(tag), "", "X", "a private attribute"))
            continue
        effective = effective_action(action)
        present = _has_value(elem)
        bad = False
        if effective == "X":
            bad = present
        elif effective in ("U", "U*") or elem.VR == "UI":
            if elem.VR == "SQ":
                for item in elem.value:
                    _walk(item, rel, deidentified, findings)
            else:
                bad = present and not deidentified
        elif elem.VR == "SQ" and effective in ("D", "K"):
            for item in elem.value:
                _walk(item, rel, deidentified, findings)
        else:  # Z, D, C
            bad = present and not _is_dummy(elem)
        if bad:
            message = "an original UID" if elem.VR == "UI" else "an identifying attribute"
            findings.append(Finding(rel, "tag", _tag(tag), keyword(tag), action, message))


_NIFTI_FIELDS = ("descrip", "aux_file", "db_name", "intent_name")


def nifti_header(member: Member) -> tuple[Any, bytes]:
    """The nibabel header of a NIfTI member, and the file's (decompressed) bytes."""
    import nibabel as nib

    raw = member.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    size = int.from_bytes(raw[:4], "little")
    if size not in (348, 540):
        size = int.from_bytes(raw[:4], "big")
    klass = nib.Nifti2Header if size == 540 else nib.Nifti1Header
    import io

    return klass.from_fileobj(io.BytesIO(raw), check=False), raw


def _scan_nifti(member: Member, rel: str) -> list[Finding]:
    try:
        header, _raw = nifti_header(member)
    except Exception:  # nibabel raises several types for broken headers
        return [Finding(rel, "nifti-header", message="unreadable NIfTI header; check by hand")]
    findings = []
    for name in _NIFTI_FIELDS:
        if name not in header:
            continue
        value = bytes(header[name].tobytes()).strip(b"\0 ")
        if value:
            findings.append(
                Finding(
                    rel,
                    "nifti-header",
                    name,
                    action="Z",
                    message=f"free text in the NIfTI {name} field",
                )
            )
    if header.extensions:
        codes = sorted({int(e.get_code()) for e in header.extensions})
        findings.append(
            Finding(
                rel,
                "nifti-header",
                "extensions",
                action="X",
                message=f"header extensions (codes {codes}) may hold DICOM or other text",
            )
        )
    return findings
