"""The offline index: harvested records in SQLite with FTS5, for classrooms and planes.

``bioshare index update`` harvests records from repositories into a database in the cache
folder, incrementally (a record seen again is updated in place); `bioshare.search` answers
from it with ``offline=True``, when ``BIOSHARE_OFFLINE=1``, or when no repository answers.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from bioshare import config
from bioshare.catalog.matching import normalize_license, tokens
from bioshare.repositories.base import DatasetRecord, Repository
from bioshare.repositories.registry import get_repository

__all__ = ["RecordIndex", "default_index_path"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    rowid INTEGER PRIMARY KEY,
    repository TEXT NOT NULL,
    id TEXT NOT NULL,
    license TEXT NOT NULL,
    has_ome_zarr INTEGER NOT NULL,
    updated REAL NOT NULL,
    record TEXT NOT NULL,
    UNIQUE (repository, id)
);
CREATE TABLE IF NOT EXISTS repositories (name TEXT PRIMARY KEY);
CREATE VIRTUAL TABLE IF NOT EXISTS records_fts USING fts5(
    title, keywords, organisms, methods, description, identifiers, facets,
    tokenize = 'unicode61 remove_diacritics 2'
);
"""
# bm25 weights, in the column order above: the title counts most; facets do not rank.
_RANK = "bm25(3.0, 2.0, 2.0, 2.0, 1.0, 1.0, 0.0)"
# Ranking costs microseconds per match; a query matching more records than this (a very
# common word) is ranked among its first RANKED matches only, keeping queries fast.
RANKED = 4000


def default_index_path() -> Path:
    """``<cache>/index.sqlite``."""
    return config.cache_dir() / "index.sqlite"


class RecordIndex:
    """An SQLite FTS5 index of `DatasetRecord` s.

    Parameters
    ----------
    path
        The database file (``<cache>/index.sqlite`` by default); created when absent.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_index_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.executescript(_SCHEMA)
        if self._db.execute("SELECT 1 FROM repositories LIMIT 1").fetchone() is None:
            with self._db:  # an index from before the repositories table: fill it once
                self._db.execute(
                    "INSERT OR IGNORE INTO repositories SELECT DISTINCT repository FROM records"
                )
        rank = self._db.execute("SELECT v FROM records_fts_config WHERE k = 'rank'").fetchone()
        if rank is None or rank[0] != _RANK:  # written once, so that searching never writes
            with self._db:
                self._db.execute(
                    "INSERT INTO records_fts (records_fts, rank) VALUES ('rank', ?)", (_RANK,)
                )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> RecordIndex:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM records").fetchone()[0])

    def add(self, records: Iterable[DatasetRecord]) -> int:
        """Insert or update records (matched by repository and id); returns how many."""
        count = 0
        now = time.time()
        with self._db:  # one transaction
            for record in records:
                self._upsert(record, now)
                count += 1
        return count

    def _upsert(self, record: DatasetRecord, now: float) -> None:
        row = (
            record.repository,
            record.id,
            normalize_license(record.license),
            int(record.has_ome_zarr),
            now,
            json.dumps(record.to_dict()),
        )
        existing = self._db.execute(
            "SELECT rowid FROM records WHERE repository = ? AND id = ?",
            (record.repository, record.id),
        ).fetchone()
        if existing is None:
            self._db.execute(
                "INSERT OR IGNORE INTO repositories (name) VALUES (?)", (record.repository,)
            )
            rowid = self._db.execute(
                "INSERT INTO records (repository, id, license, has_ome_zarr, updated, record) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                row,
            ).lastrowid
        else:
            rowid = existing[0]
            self._db.execute(
                "UPDATE records SET license = ?, has_ome_zarr = ?, updated = ?, record = ? "
                "WHERE rowid = ?",
                (*row[2:], rowid),
            )
            self._db.execute("DELETE FROM records_fts WHERE rowid = ?", (rowid,))
        self._db.execute(
            "INSERT INTO records_fts (rowid, title, keywords, organisms, methods, description, "
            "identifiers, facets) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                rowid,
                record.title,
                " ".join(record.keywords),
                " ".join(f"{t.label} {t.curie}" for t in record.organisms),
                " ".join(f"{t.label} {t.curie}" for t in record.imaging_methods),
                record.description,
                " ".join((record.id, *record.accessions, record.doi or "")),
                " ".join(_facets(record.repository, record.license, record.has_ome_zarr)),
            ),
        )

    def search(
        self,
        query: str = "",
        *,
        repositories: Sequence[str] | None = None,
        limit: int = 20,
        offset: int = 0,
        organism: str | None = None,
        imaging_method: str | None = None,
        license: str | None = None,
        has_ome_zarr: bool | None = None,
    ) -> tuple[int, list[DatasetRecord]]:
        """Records matching every word of ``query`` and the filters, best first.

        Returns the total number of matches and the requested page. A query matching
        more than `RANKED` records is ranked among its first `RANKED` matches.
        """
        facets = _facets(None, license, has_ome_zarr)
        wanted = self._narrowing(repositories)
        match = _fts_query(query, organism, imaging_method, facets, wanted)
        if not match:  # no words and no filters: everything, in a stable order
            rows = self._db.execute(
                "SELECT record FROM records ORDER BY repository, id LIMIT ? OFFSET ?",
                (limit, offset),
            ).fetchall()
            return len(self), [DatasetRecord.from_dict(json.loads(row[0])) for row in rows]
        total = self._db.execute(
            "SELECT count(*) FROM records_fts WHERE records_fts MATCH ?", (match,)
        ).fetchone()[0]
        # Rank every match, or only the first RANKED of a very common query (see RANKED).
        candidates = "" if total <= RANKED else f"LIMIT {RANKED}"
        rows = self._db.execute(
            "SELECT r.record FROM (SELECT rowid, rank FROM records_fts "
            f"WHERE records_fts MATCH ? {candidates}) AS m "
            "JOIN records r ON r.rowid = m.rowid ORDER BY m.rank LIMIT ? OFFSET ?",
            (match, limit, offset),
        ).fetchall()
        return int(total), [DatasetRecord.from_dict(json.loads(row[0])) for row in rows]

    def _narrowing(self, repositories: Sequence[str] | None) -> list[str]:
        """The repositories to filter on: none when every indexed one is wanted."""
        if not repositories:
            return []
        indexed = {row[0] for row in self._db.execute("SELECT name FROM repositories")}
        return [] if indexed <= set(repositories) else list(repositories)

    def harvest(
        self,
        repositories: Sequence[str | Repository],
        *,
        per_repository: int = 1000,
        query: str = "",
        timeout: float = 120.0,
    ) -> dict[str, int | str]:
        """Fetch records from each repository and add them; returns counts or errors."""

        async def one(spec: str | Repository) -> tuple[str, list[DatasetRecord] | str]:
            adapter = get_repository(spec)
            try:
                found = await asyncio.wait_for(
                    adapter.asearch(query, limit=per_repository), timeout
                )
            except Exception as exc:
                return adapter.name, f"{type(exc).__name__}: {exc}"
            return adapter.name, found

        async def run() -> list[tuple[str, list[DatasetRecord] | str]]:
            return await asyncio.gather(*(one(spec) for spec in repositories))

        from bioshare.repositories.base import run_sync

        outcome: dict[str, int | str] = {}
        for name, found in run_sync(run()):
            outcome[name] = found if isinstance(found, str) else self.add(found)
        return outcome


def _phrase(text: str) -> str:
    words = tokens(text)
    return " ".join(f'"{w}"' for w in words)


def _facets(repository: str | None, license: str | None, has_ome_zarr: bool | None) -> list[str]:
    """Filter values as single tokens, so that filters use the full-text index too."""
    facets = []
    if repository:
        facets.append("repo" + _token(repository))
    if license:
        facets.append("lic" + _token(normalize_license(license)))
    if has_ome_zarr is not None:
        facets.append(f"zarr{int(has_ome_zarr)}")
    return facets


def _token(text: str) -> str:
    return "".join(c if c.isalnum() else "x" for c in text.casefold())


def _fts_query(
    query: str,
    organism: str | None,
    imaging_method: str | None,
    facets: list[str],
    repositories: Sequence[str] = (),
) -> str:
    """An FTS5 query: every word of ``query`` as a prefix, filters as column phrases."""
    parts = [f'"{word}"*' for word in tokens(query)]
    parts += [f'facets : "{facet}"' for facet in facets]
    if repositories:
        either = " OR ".join(f'"{_facets(name, None, None)[0]}"' for name in repositories)
        parts.append(f"facets : ({either})")
    if organism:
        parts.append(f"organisms : ({_phrase(organism)})")
    if imaging_method:
        parts.append(f"methods : ({_phrase(imaging_method)})")
    return " AND ".join(parts)
