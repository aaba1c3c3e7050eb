"""Federated search: concurrency, timeouts, partial failures, ranking, dedupe, filters."""

from __future__ import annotations

import asyncio
import time

import pytest

import bioshare
from bioshare.catalog import RecordIndex, search
from bioshare.catalog.matching import normalize_license
from bioshare.repositories import DatasetRecord, Repository, Term

HUMAN = Term("NCBITaxon:9606", "Homo sapiens", "http://purl.obolibrary.org/obo/NCBITaxon_9606")
MOUSE = Term("NCBITaxon:10090", "Mus musculus")
CONFOCAL = Term("FBbi:00000251", "confocal microscopy")
LIGHTSHEET = Term("FBbi:00000369", "light sheet fluorescence microscopy")


class Scripted(Repository):
    """An in-process adapter answering from a list after a delay, or failing."""

    def __init__(
        self, name: str, records=(), *, delay: float = 0.0, error: Exception | None = None
    ):
        self.name = name
        self.records = list(records)
        self.delay = delay
        self.error = error
        self.calls: list[tuple[str, int, dict]] = []

    async def asearch(self, query, *, limit=20, **filters):
        self.calls.append((query, limit, filters))
        await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        words = query.lower().split()
        found = [
            r for r in self.records if all(w in (r.title + r.description).lower() for w in words)
        ]
        return found[:limit]


def record(repository, id, title, **kwargs) -> DatasetRecord:
    return DatasetRecord(repository=repository, id=id, title=title, **kwargs)


@pytest.fixture
def repos():
    idr = Scripted(
        "idr",
        [
            record(
                "idr",
                "project:1",
                "Mitosis in HeLa cells",
                organisms=(HUMAN,),
                imaging_methods=(CONFOCAL,),
                license="CC-BY-4.0",
                has_ome_zarr=True,
                doi="10.17867/10000101",
                accessions=("idr0101",),
            ),
            record(
                "idr",
                "project:2",
                "Mouse embryo lightsheet",
                organisms=(MOUSE,),
                imaging_methods=(LIGHTSHEET,),
                has_ome_zarr=True,
                accessions=("idr0044",),
            ),
        ],
        delay=0.05,
    )
    bia = Scripted(
        "bia",
        [
            record(
                "bia",
                "S-BIAD101",
                "Mitosis in HeLa cells (IDR re-hosted)",
                organisms=(HUMAN,),
                doi="https://doi.org/10.17867/10000101",
                accessions=("S-BIAD101", "idr0101"),
            ),
            record(
                "bia",
                "S-BIAD7",
                "Cell cycle mitosis atlas",
                description="mitosis stages",
                organisms=(HUMAN,),
                license="https://creativecommons.org/licenses/by/4.0/",
            ),
        ],
        delay=0.05,
    )
    zenodo = Scripted(
        "zenodo",
        [
            record(
                "zenodo",
                "123",
                "Segmentation masks",
                description="mitosis nuclei",
                license="CC0-1.0",
                has_ome_zarr=True,
            ),
        ],
        delay=0.05,
    )
    return idr, bia, zenodo


def test_merges_ranks_and_reports_each_repository(repos):
    results = search("mitosis", repositories=list(repos))
    titles = [r.title for r in results]
    # title and description beat title alone, which beats description alone
    assert titles == ["Cell cycle mitosis atlas", "Mitosis in HeLa cells", "Segmentation masks"]
    assert [(s.repository, s.ok, s.count) for s in results.statuses] == [
        ("idr", True, 1),
        ("bia", True, 2),
        ("zenodo", True, 1),
    ]
    assert results.errors == []
    assert "idr: 1 in" in results.summary()


def test_duplicates_are_merged_by_doi_or_accession(repos):
    results = search("mitosis hela", repositories=list(repos))
    assert len(results) == 1
    merged = results[0]
    assert merged.repository == "idr"  # the copy with OME-Zarr
    assert merged.also_in == ("bia:S-BIAD101",)
    assert set(merged.accessions) == {"idr0101", "S-BIAD101"}


def test_repositories_are_queried_concurrently(repos):
    for repo in repos:
        repo.delay = 0.3
    started = time.perf_counter()
    search("mitosis", repositories=list(repos))
    assert time.perf_counter() - started < 0.3 * len(repos) * 0.8


def test_a_hanging_repository_costs_its_timeout_only(repos):
    hanging = Scripted("ssbd", delay=30)
    started = time.perf_counter()
    results = search("mitosis", repositories=[*repos, hanging], timeout=0.5)
    assert time.perf_counter() - started < 5
    assert [e.repository for e in results.errors] == ["ssbd"]
    assert results.errors[0].error == "no answer within 0.5 s"
    assert len(results) == 3


def test_a_broken_repository_never_breaks_the_others(repos):
    broken = Scripted("empiar", error=ConnectionError("connection refused"))
    results = search("mitosis", repositories=[*repos, broken])
    assert len(results) == 3
    (error,) = results.errors
    assert (error.repository, error.error) == ("empiar", "ConnectionError: connection refused")


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"organism": "homo sapiens"}, {"project:1", "S-BIAD7"}),
        ({"organism": "human"}, {"project:1", "S-BIAD7"}),  # a common name resolves
        ({"organism": "NCBITaxon:10090"}, {"project:2"}),
        ({"imaging_method": "light sheet"}, {"project:2"}),
        ({"license": "cc-by-4.0"}, {"project:1", "S-BIAD7"}),
        ({"has_ome_zarr": True}, {"project:1", "project:2", "123"}),
        ({"has_ome_zarr": False}, {"S-BIAD7"}),
    ],
)
def test_filters(repos, filters, expected):
    results = search("", repositories=list(repos), limit=50, **filters)
    assert {r.id for r in results} == expected
    for repo in repos:  # adapters see the filters too, to apply them server-side
        assert repo.calls[-1][2] == filters


def test_pagination(repos):
    first = search("", repositories=list(repos), limit=2, page=1)
    second = search("", repositories=list(repos), limit=2, page=2)
    assert first.total == second.total == 4  # five records, one duplicate merged
    assert len(first) == 2
    assert len(second) == 2
    assert not {r.id for r in first} & {r.id for r in second}
    assert all(call[1] == 4 for repo in repos for call in repo.calls[-1:])


def test_bad_arguments(repos):
    with pytest.raises(TypeError, match=r"unknown search filters \['colour'\]"):
        search("x", repositories=list(repos), colour="red")
    with pytest.raises(ValueError, match="limit=0 and page=1 must both be at least 1"):
        search("x", repositories=list(repos), limit=0)
    with pytest.raises(KeyError, match="unknown repository 'nowhere'"):
        search("x", repositories=["nowhere"])


def test_dataframe_and_html(repos):
    results = search("mitosis", repositories=list(repos))
    frame = results.to_dataframe()
    assert list(frame["repository"]) == [r.repository for r in results]
    assert "Homo sapiens" in frame.loc[0, "organisms"]
    html = results._repr_html_()
    assert "Mitosis in HeLa cells" in html
    assert "idr: 1 in" in html


def test_offline_fallback_when_nothing_answers(tmp_path, monkeypatch, repos):
    monkeypatch.setenv("BIOSHARE_CACHE_DIR", str(tmp_path))
    with RecordIndex() as index:
        index.add(r for repo in repos for r in repo.records)
    down = [Scripted(r.name, error=ConnectionError("network is unreachable")) for r in repos]
    results = search("mitosis", repositories=down)
    assert results.offline
    assert {r.id for r in results} >= {"project:1", "S-BIAD7", "123"}
    assert len(results.errors) == 3
    assert "answered from the offline index" in results.summary()


def test_offline_mode_never_touches_the_network(tmp_path, monkeypatch, repos):
    monkeypatch.setenv("BIOSHARE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("BIOSHARE_OFFLINE", "1")
    with RecordIndex() as index:
        index.add(repos[0].records)
    results = bioshare.search("lightsheet", repositories=["idr"])
    assert [r.id for r in results] == ["project:2"]
    assert results.offline
    assert results.statuses == []


def test_normalize_license():
    assert normalize_license("CC-BY-4.0") == "cc-by-4.0"
    assert normalize_license("https://creativecommons.org/licenses/by/4.0/") == "cc-by-4.0"
    assert normalize_license("https://creativecommons.org/publicdomain/zero/1.0/") == "cc0-1.0"
    assert normalize_license(None) == ""
