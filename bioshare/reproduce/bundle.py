"""A captured analysis inside a publication: one zip, listed and marked in its RO-Crate.

`bioshare.publish(..., analysis=...)` publishes the crate as ``analysis.crate.zip`` next
to the data. The publication's RO-Crate lists that file ``conformsTo`` the Process Run
Crate profile (`with_analysis` says so in the study's file list), which is how
`bioshare.rerun` finds it (and, failing that, by its name).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

from bioshare import config
from bioshare.errors import BioshareError
from bioshare.reproduce.crate import PROFILE, Analysis, is_process_crate
from bioshare.reproduce.sources import ANALYSIS_NAME

__all__ = ["ANALYSIS_NAME", "bundle_file", "with_analysis"]

ANALYSIS_FORMAT = "RO-Crate (Process Run Crate)"


def bundle_file(analysis: Analysis | str | os.PathLike[str]) -> Path:
    """The analysis crate as one zip (a crate folder is zipped once, into the cache)."""
    from bioshare.publishing.files import fingerprint
    from bioshare.publishing.package import write_zip

    path = analysis.path if isinstance(analysis, Analysis) else Path(analysis).expanduser()
    if path is None or not path.exists():
        raise FileNotFoundError(f"{path}: no captured analysis there; run capture() first")
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise BioshareError(f"{path}: expected a crate folder or a .zip of one")
        return path
    if not is_process_crate(path):
        raise BioshareError(f"{path}: not a Process Run Crate; make one with capture()")
    # keyed by the files' paths, sizes and times: an unchanged crate is zipped once, and the
    # zip is deterministic, so a re-publish finds the same bytes
    key = fingerprint(path.resolve())[:20]
    target = config.cache_dir() / "analyses" / key / ANALYSIS_NAME
    if not target.is_file():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        entries = [(file, file.relative_to(path).as_posix()) for file in files]
        write_zip(entries, target, compression=zipfile.ZIP_DEFLATED)
    return target


def mark_analysis(study: Any, sizes: dict[str, int]) -> Any:
    """``study`` with the analysis marked, when the published files (name: size) hold one.

    For the file lists derived at publishing time, which `with_analysis` could not mark
    before the files were known.
    """
    if ANALYSIS_NAME not in sizes:
        return study
    return with_analysis(study, sizes[ANALYSIS_NAME])


def with_analysis(study: Any, size: int) -> Any:
    """``study`` listing the analysis, marked ``conformsTo`` the Process Run Crate profile.

    A study without a file list is returned as it is: its list is derived from the files
    when they are published (call this again on that one to mark the analysis).
    """
    from bioshare.metadata.models import FileReference, StudyComponent

    listed = [f.file_path for c in study.study_component for f in c.files if f.file_path]
    if not listed:
        return study
    described = study.model_copy(deep=True)
    for component in described.study_component:
        for file in component.files:
            if file.file_path == ANALYSIS_NAME:
                file.attributes = {**file.attributes, "conformsTo": PROFILE}
                file.format = ANALYSIS_FORMAT
                return described
    reference = FileReference(
        file_path=ANALYSIS_NAME,
        size_in_bytes=size,
        format=ANALYSIS_FORMAT,
        attributes={"conformsTo": PROFILE},
    )
    described.study_component.append(
        StudyComponent(
            title="Analysis",
            description="The analysis as a Process Run Crate; re-run it with bioshare.rerun",
            files=[reference],
        )
    )
    return described
