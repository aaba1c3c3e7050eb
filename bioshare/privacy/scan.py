"""Find what could identify a patient in DICOM and NIfTI files, without printing it.

Findings name the file, the tag (or NIfTI field) and the profile action it calls for;
they never carry the identifying values themselves, so reports can be shared and logged.
"""

from __future__ import annotations

import gzip
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from bioshare.formats._members import Member, collect, is_nifti_name
from bioshare.privacy.profile import (
    DUMMY_VALUES,
    action_for,
    effective_action,
    keyword,
    tag_text,
)

__all__ = [
    "Finding",
    "ScanReport",
    "identifiers",
    "identifying_parts",
    "is_nifti",
    "masked_name",
    "scan",
    "scan_members",
]

NIFTI_FIELDS = ("descrip", "aux_file", "db_name", "intent_name")
MASK = "***"
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
        The file, relative to the scanned folder or zip, with any patient identifier or
        date in its name masked as ``***``.
    kind
        ``"tag"`` (an attribute of the basic profile), ``"private-tag"``, ``"burned-in"``,
        ``"file-name"``, ``"nifti-header"`` or ``"unreadable"`` (a DICOM file by name or
        preamble that could not be read, so could not be checked).
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
    return is_nifti_name(member.basename)


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
        ``report.clean`` is True when nothing was found; findings never hold values, and
        identifiers or dates in file names are masked.
    """
    label, members = collect(path, storage_options)
    return scan_members(label, os.fspath(path), members)


def scan_members(
    label: str, root: str, members: list[Member], *, names: Sequence[str] | None = None
) -> ScanReport:
    """`scan` over given files, named relative to the folder ``root``, or by ``names``
    (one per member: the names they are published under)."""
    from bioshare.formats.dicom import read_header

    rels = list(names) if names is not None else [relative_name(m, root) for m in members]
    if len(rels) != len(members):
        raise ValueError(f"{len(rels)} names for {len(members)} files; expected one each")
    report = ScanReport(source=label, files=len(members))
    ids: set[str] = set()
    findings: list[Finding] = []
    for member, rel in zip(members, rels, strict=True):
        if is_nifti(member):
            report.nifti_files += 1
            findings.extend(_scan_nifti(member, rel))
        elif member.looks_like_dicom():
            ds = read_header(member)
            try:
                found = scan_dataset(ds, rel) if ds is not None else None
            except Exception:  # a header pydicom parsed but cannot decode (foreign bytes)
                found = None
            if found is None:
                findings.append(
                    Finding(
                        rel,
                        "unreadable",
                        message="a DICOM file (by name or preamble) that could not be read, "
                        "so not checked; check it by hand or leave it out",
                    )
                )
                continue
            report.dicom_files += 1
            ids |= identifiers(ds)
            findings.extend(found)
    for rel in rels:
        if identifying_parts(rel, ids):
            findings.append(
                Finding(
                    rel,
                    "file-name",
                    message="the file or folder name holds a patient identifier or a date",
                )
            )
    masked = {rel: masked_name(rel, ids) for rel in set(rels)}
    report.findings = [replace(f, file=masked[f.file]) for f in findings]
    report.source = masked_name(label, ids)
    return report


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


def masked_name(rel: str, names: set[str]) -> str:
    """``rel`` with each identifier of ``names`` and each date in it replaced by ``***``.

    The rest of the name is kept so that the file can still be found; a part that would
    still be identifying after masking is replaced whole.
    """
    parts = rel.split("/")
    for i in identifying_parts(rel, names):
        part = _DATE_IN_NAME.sub(MASK, parts[i])
        for name in sorted(names, key=len, reverse=True):
            pattern = re.escape(name)
            if len(name) < 4:  # short identifiers count as whole tokens only
                pattern = rf"(?<![0-9a-z]){pattern}(?![0-9a-z])"
            part = re.sub(pattern, MASK, part, flags=re.IGNORECASE)
        parts[i] = MASK if identifying_parts(part, names) else part
    return "/".join(parts)


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
                tag_text(0x00020003),
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
                tag_text(0x00280301),
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
                tag_text(0x00280301),
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
            findings.append(
                Finding(rel, "private-tag", tag_text(tag), "", "X", "a private attribute")
            )
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
            findings.append(Finding(rel, "tag", tag_text(tag), keyword(tag), action, message))


def nifti_header(member: Member) -> Any:
    """The nibabel header (with extensions) of a NIfTI member.

    Only the header and its extensions are read (streamed through gzip for ``.nii.gz``),
    never the voxels.
    """
    from bioshare.formats.errors import FormatError
    from bioshare.formats.nifti import header_class

    with member.open() as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream: Any = gzip.GzipFile(fileobj=raw) if gzipped else raw
        klass = header_class(stream.read(4))
        if klass is None:
            raise FormatError(f"{member.basename} is not a NIfTI file")
        stream.seek(0)
        return klass.from_fileobj(stream, check=False)


def _scan_nifti(member: Member, rel: str) -> list[Finding]:
    try:
        header = nifti_header(member)
    except Exception:  # nibabel raises several types for broken headers
        return [Finding(rel, "nifti-header", message="unreadable NIfTI header; check by hand")]
    findings = []
    for name in NIFTI_FIELDS:
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
