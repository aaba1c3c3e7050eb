"""Privacy for medical images: find identifying data, de-identify, and gate publishing.

- `scan(path)`: what in DICOM/NIfTI files could identify a patient (never the values).
- `deidentify(path, out)`: a copy with the DICOM PS3.15 basic profile applied.
- `check_publishable(paths)`: raise `IdentifiableDataError` unless every DICOM/NIfTI file
  scans clean (used by `bioshare.publish` and `bioshare convert`).
"""

from bioshare.privacy.deidentify import (
    DeidentificationError,
    DeidentificationReport,
    deidentify,
)
from bioshare.privacy.gate import IdentifiableDataError, check_publishable, medical_files
from bioshare.privacy.profile import BASIC_PROFILE, action_for
from bioshare.privacy.scan import Finding, ScanReport, scan

__all__ = [
    "BASIC_PROFILE",
    "DeidentificationError",
    "DeidentificationReport",
    "Finding",
    "IdentifiableDataError",
    "ScanReport",
    "action_for",
    "check_publishable",
    "deidentify",
    "medical_files",
    "scan",
]
