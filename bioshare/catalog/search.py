"""`bioshare.search`: one query across every repository, concurrently.

Each repository gets its own timeout; a slow or broken one never blocks or breaks the
others: its failure is reported in ``results.errors``. Results are merged, ranked with one
relevance measure, de-duplicated (the same study re-hosted elsewhere) and paginated. When
no repository can be reached, the offline index answers.
"""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, overload

from bioshare import config
from bioshare.catalog.matching import dedupe, matches_filters, relevance, tokens
from bioshare.repositories.base import DatasetRecord, Repository, run_sync
from bioshare.repositories.registry import default_repositories, get_repository

__all__ = ["RepositoryStatus", "SearchResults", "asearch", "search"]

DEFAULT_TIMEOUT = 10.0
_FILTERS = ("organism", "imaging_method", "license", "has_ome_zarr")


@dataclass(frozen=True)
class RepositoryStatus:
    """How one repository answered: how many records, how fast, or why it failed."""

    repository: str
    ok: bool
    count: int = 0
    seconds: float = 0.0
    error: str | None = None


class SearchResults(Sequence[DatasetRecord]):
    """Ranked, de-duplicated records with per-repository status.

    Behaves as a list of `DatasetRecord`; ``errors`` lists the repositories that failed
    and why, ``statuses`` every repository's answer, ``offline`` whether the offline index
    answered.
    """

    def __init__(
        self,
        records: list[DatasetRecord],
        *,
        query: str,
        statuses: list[RepositoryStatus],
        total: int,
        page: int = 1,
        limit: int = 20,
        offline: bool = False,
    ) -> None:
        self.records = records
        self.query = query
        self.statuses = statuses
        self.total = total
        self.page = page
        self.limit = limit
        self.offline = offline

    @property
    def errors(self) -> list[RepositoryStatus]:
        return [s for s in self.statuses if not s.ok]

    @overload
    def __getitem__(self, index: int) -> DatasetRecord: ...
    @overload
    def __getitem__(self, index: slice) -> list[DatasetRecord]: ...
    def __getitem__(self, index: int | slice) -> DatasetRecord | list[DatasetRecord]:
        return self.records[index]

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[DatasetRecord]:
        return iter(self.records)

    def __repr__(self) -> str:
        return f"<SearchResults {self.query!r}: {len(self)} of {self.total}; {self.summary()}>"

    def summary(self) -> str:
        """One line per repository: what it contributed or why it failed."""
        parts = []
        for status in self.statuses:
            if status.ok:
                parts.append(f"{status.repository}: {status.count} in {status.seconds:.2f} s")
            else:
                parts.append(f"{status.repository}: failed ({status.error})")
        if self.offline:
            parts.append("answered from the offline index")
        return "; ".join(parts)

    def to_dataframe(self) -> Any:
        """The records as a `pandas.DataFrame`, one row per dataset."""
        import pandas as pd

        rows = [
            {
                "repository": r.repository,
                "id": r.id,
                "title": r.title,
                "doi": r.doi,
                "license": r.license,
                "organisms": ", ".join(t.label for t in r.organisms),
                "imaging_methods": ", ".join(t.label for t in r.imaging_methods),
                "image_count": r.image_count,
                "has_ome_zarr": r.has_ome_zarr,
                "release_date": r.release_date,
                "url": r.url,
                "also_in": ", ".join(r.also_in),
            }
            for r in self.records
        ]
        return pd.DataFrame(rows, columns=list(rows[0]) if rows else ["repository", "id", "title"])

    def _repr_html_(self) -> str:
        head = (
            f"<p><b>{len(self)}</b> of {self.total} datasets for "
            f"<code>{html.escape(self.query)}</code></p>"
        )
        status = "".join(
            f"<li>{html.escape(s.repository)}: "
            + (
                f"{s.count} in {s.seconds:.2f} s"
                if s.ok
                else f"<b>failed</b>: {html.escape(s.error or '')}"
            )
            + "</li>"
            for s in self.statuses
        )
        rows = "".join(
            "<tr>"
            f"<td>{html.escape(r.repository)}</td>"
            f"<td><a href='{html.escape(r.url)}' target='_blank'>{html.escape(r.title)}</a></td>"
            f"<td>{html.escape(', '.join(t.label for t in r.organisms))}</td>"
            f"<td>{html.escape(', '.join(t.label for t in r.imaging_methods))}</td>"
            f"<td>{'yes' if r.has_ome_zarr else ''}</td>"
            "</tr>"
            for r in self.records
        )
        table = (
            "<table><thead><tr><th>repository</th><th>title</th><th>organisms</th>"
            f"<th>imaging methods</th><th>OME-Zarr</th></tr></thead><tbody>{rows}</tbody></table>"
        )
        offline = "<p>answered from the offline index</p>" if self.offline else ""
        return f"<div class='bioshare-search'>{head}<ul>{status}</ul>{offline}{table}</div>"


def search(
    query: str = "",
    *,
    repositories: Sequence[str | Repository] | None = None,
    limit: int = 20,
    page: int = 1,
    timeout: float = DEFAULT_TIMEOUT,
    offline: bool | None = None,
    **filters: Any,
) -> SearchResults:
    """Search every repository at once.

    Parameters
    ----------
    query
        Free text; every word should match (title, keywords, terms, description).
    repositories
        Names (``"idr"``, ``"bia"``, ``"zenodo"``, ``"ssbd"``, ``"empiar"``, ``"local"``,
        ``"omero:<url>"``) or adapters; by default the public repositories, and the local
        one when configured or registered by a running ``bioshare demo``/``serve``.
    limit, page
        Page size and page number (from 1) of the merged results.
    timeout
        Seconds each repository may take; a slower one is reported in ``results.errors``.
    offline
        True answers from the offline index only; None (default) does so when
        ``BIOSHARE_OFFLINE=1`` or when no repository can be reached.
    **filters
        ``organism``, ``imaging_method`` (label or CURIE), ``license``, ``has_ome_zarr``.

    Returns
    -------
    SearchResults
    """
    return run_sync(
        asearch(
            query,
            repositories=repositories,
            limit=limit,
            page=page,
            timeout=timeout,
            offline=offline,
            **filters,
        )
    )


async def asearch(
    query: str = "",
    *,
    repositories: Sequence[str | Repository] | None = None,
    limit: int = 20,
    page: int = 1,
    timeout: float = DEFAULT_TIMEOUT,
    offline: bool | None = None,
    **filters: Any,
) -> SearchResults:
    """Async twin of `search`."""
    unknown = set(filters) - set(_FILTERS)
    if unknown:
        raise TypeError(f"unknown search filters {sorted(unknown)}; expected some of {_FILTERS}")
    if limit < 1 or page < 1:
        raise ValueError(f"limit={limit} and page={page} must both be at least 1")
    filters = {k: v for k, v in filters.items() if v is not None}
    names = list(repositories or default_repositories())
    if offline or (offline is None and config.offline()):
        return _from_index(query, names, limit, page, filters, statuses=[])
    adapters = [get_repository(spec) for spec in names]
    wanted = limit * page
    outcomes = await asyncio.gather(
        *(_ask(adapter, query, wanted, filters, timeout) for adapter in adapters)
    )
    statuses = [status for status, _ in outcomes]
    if statuses and not any(s.ok for s in statuses) and offline is None and _index_exists():
        return _from_index(query, names, limit, page, filters, statuses=statuses)
    ranked = _rank([records for _, records in outcomes], query)
    selected = [r for r in dedupe(ranked) if matches_filters(r, **filters)]
    start = (page - 1) * limit
    return SearchResults(
        selected[start : start + limit],
        query=query,
        statuses=statuses,
        total=len(selected),
        page=page,
        limit=limit,
    )


async def _ask(
    adapter: Repository, query: str, limit: int, filters: dict[str, Any], timeout: float
) -> tuple[RepositoryStatus, list[DatasetRecord]]:
    name = adapter.name
    started = time.perf_counter()
    try:
        records = await asyncio.wait_for(adapter.asearch(query, limit=limit, **filters), timeout)
    except TimeoutError:
        elapsed = time.perf_counter() - started
        return RepositoryStatus(name, False, 0, elapsed, f"no answer within {timeout:g} s"), []
    except Exception as exc:  # one repository's failure never breaks the others
        elapsed = time.perf_counter() - started
        return RepositoryStatus(name, False, 0, elapsed, f"{type(exc).__name__}: {exc}"), []
    elapsed = time.perf_counter() - started
    return RepositoryStatus(name, True, len(records), elapsed), list(records)


def _rank(per_repository: list[list[DatasetRecord]], query: str) -> list[DatasetRecord]:
    """One ranking across repositories: relevance first, then each repository's own order."""
    query_tokens = tokens(query)
    scored = []
    for records in per_repository:
        for position, record in enumerate(records):
            score = relevance(record, query_tokens) + 1.0 / (2 + position)
            scored.append((score, position, replace(record, score=round(score, 3))))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [record for _, _, record in scored]


def _index_exists() -> bool:
    from bioshare.catalog.index import default_index_path

    return default_index_path().exists()


def _from_index(
    query: str,
    names: list[str | Repository],
    limit: int,
    page: int,
    filters: dict[str, Any],
    statuses: list[RepositoryStatus],
) -> SearchResults:
    from bioshare.catalog.index import RecordIndex

    repositories = [n if isinstance(n, str) else n.name for n in names]
    with RecordIndex() as index:
        total, records = index.search(
            query, repositories=repositories, limit=limit, offset=(page - 1) * limit, **filters
        )
    return SearchResults(
        records,
        query=query,
        statuses=statuses,
        total=total,
        page=page,
        limit=limit,
        offline=True,
    )
