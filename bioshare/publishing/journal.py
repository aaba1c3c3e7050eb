"""The publishing journal: what was created and uploaded, so a publish can resume.

One small JSON file per publication job in ``<cache>/publish/``, keyed by the target and
the source, rewritten atomically after every step. It holds identifiers, file names, sizes
and checksums, never a token.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bioshare import config

__all__ = ["Journal", "journal_path", "unfinished_journals"]


def journal_path(target: str, base_url: str, source: Path) -> Path:
    """Where the journal of publishing ``source`` to ``target`` at ``base_url`` lives."""
    key = hashlib.sha256(f"{target}\n{base_url}\n{source.resolve()}".encode()).hexdigest()[:20]
    return config.cache_dir() / "publish" / f"{key}.json"


@dataclass
class Journal:
    """The state of one publication job.

    ``state`` goes ``new`` -> ``draft`` -> ``uploaded`` -> ``published``; ``files`` maps
    each file name to its size and md5 and whether the server confirmed it.
    """

    path: Path
    target: str = ""
    base_url: str = ""
    source: str = ""
    state: str = "new"
    record_id: str | None = None
    doi: str | None = None
    concept_doi: str | None = None
    url: str | None = None
    links: dict[str, str] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    manifest_md5: str | None = None
    version_of: str | None = None  # the DOI this job publishes a new version of
    sandbox: bool = True
    metadata_path: str | None = None  # the spreadsheet, when the metadata came from one

    @classmethod
    def load(cls, path: Path) -> Journal:
        """The journal at ``path``, or a new one."""
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return cls(path)
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "path"}
        return cls(path, **known)

    def save(self) -> None:
        """Write atomically (temp file, then rename)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {k: v for k, v in asdict(self).items() if k != "path"}
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".journal-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle, indent=2)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def file_done(self, name: str, size: int, md5: str) -> None:
        """Record that the server holds ``name`` with this size and md5."""
        self.files[name] = {"size": size, "md5": md5, "done": True}
        self.save()

    def is_done(self, name: str, md5: str) -> bool:
        entry = self.files.get(name) or {}
        return bool(entry.get("done")) and entry.get("md5") == md5

    def forget(self) -> None:
        """Remove the journal (after a dry run or a discarded draft)."""
        self.path.unlink(missing_ok=True)


def unfinished_journals() -> list[Journal]:
    """Journals of publications that did not finish, newest first."""
    folder = config.cache_dir() / "publish"
    paths = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    journals = [Journal.load(p) for p in paths] if folder.exists() else []
    return [j for j in journals if j.state not in ("new", "published") and j.source]
