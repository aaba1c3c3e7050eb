"""A captured analysis inside a publication: one zip, listed and marked in its RO-Crate.

`bioshare.publish(..., analysis=...)` publishes the crate as ``analysis.crate.zip`` next
to the data. The publication's RO-Crate lists that file; on a local publication it is also
marked ``conformsTo`` the Process Run Crate profile, which is how `bioshare.rerun` finds
it (and, failing that, by its name).
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from bioshare import config
from bioshare.errors import BioshareError
from bioshare.reproduce.crate import PROFILE, Analysis, is_process_crate
from bioshare.reproduce.inputs import content_sha256
from bioshare.reproduce.sources import ANALYSIS_NAME

__all__ = ["ANALYSIS_NAME", "bundle_file", "link_analysis", "with_analysis"]


def bundle_file(analysis: Analysis | str | os.PathLike[str]) -> Path:
    """The analysis crate as one zip (a crate folder is zipped once, into the cache)."""
    path = analysis.path if isinstance(analysis, Analysis) else Path(analysis).expanduser()
    if path is None or not path.exists():
        raise FileNotFoundError(f"{path}: no captured analysis there; run capture() first")
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise BioshareError(f"{path}: expected a crate folder or a .zip of one")
        return path
    if not is_process_crate(path):
        raise BioshareError(f"{path}: not a Process Run Crate; make one with capture()")
    digest, _ = content_sha256(path)
    target = config.cache_dir() / "analyses" / f"{digest[:20]}.crate.zip"
    if not target.is_file():  # same content, same zip: a re-publish finds the same bytes
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                info = zipfile.ZipInfo(file.relative_to(path).as_posix(), (1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, file.read_bytes())
        os.replace(tmp, target)
    return target


def with_analysis(study: Any, size: int) -> Any:
    """``study`` with the analysis in its file list, when it has one (else it is derived)."""
    from bioshare.metadata.models import FileReference, StudyComponent

    listed = [f.file_path for c in study.study_component for f in c.files if f.file_path]
    if not listed or ANALYSIS_NAME in listed:
        return study
    described = study.model_copy(deep=True)
    reference = FileReference(
        file_path=ANALYSIS_NAME,
        size_in_bytes=size,
        format="RO-Crate (Process Run Crate)",
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


def link_analysis(crate_file: Path, name: str = ANALYSIS_NAME) -> None:
    """Mark ``name`` in a publication's crate as a Process Run Crate (rewritten atomically)."""
    crate = json.loads(crate_file.read_text())
    graph = crate.get("@graph", [])
    entity = next((e for e in graph if isinstance(e, dict) and e.get("@id") == name), None)
    if entity is None:
        raise BioshareError(f"{crate_file}: no entity {name!r} to mark as the analysis")
    entity["conformsTo"] = {"@id": PROFILE}
    entity["encodingFormat"] = "application/zip"
    entity.setdefault("description", "The analysis as a Process Run Crate")
    if not any(isinstance(e, dict) and e.get("@id") == PROFILE for e in graph):
        graph.append(
            {
                "@id": PROFILE,
                "@type": ["CreativeWork", "Profile"],
                "name": "Process Run Crate",
                "version": "0.5",
            }
        )
    root = next((e for e in graph if isinstance(e, dict) and e.get("@id") == "./"), None)
    if root is not None:
        mentions = root.get("mentions", [])
        mentions = mentions if isinstance(mentions, list) else [mentions]
        if {"@id": name} not in mentions:
            root["mentions"] = [*mentions, {"@id": name}]
    fd, tmp = tempfile.mkstemp(dir=crate_file.parent, prefix=".ro-crate-", suffix=".json")
    with os.fdopen(fd, "w") as handle:
        json.dump(crate, handle, indent=4)
    os.replace(tmp, crate_file)
