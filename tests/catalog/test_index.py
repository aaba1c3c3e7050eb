"""The offline index: build, update in place, query with filters, harvest."""

from __future__ import annotations

import asyncio

import pytest

from bioshare.catalog import RecordIndex
from bioshare.repositories import DatasetRecord, Repository, Term

HUMAN = Term("NCBITaxon:9606", "Homo sapiens")
YEAST = Term("NCBITaxon:4932", "Saccharomyces cerevisiae")
EM = Term("FBbi:00000258", "electron microscopy")


def make(i: int, **kwargs) -> DatasetRecord:
    base = {"repository": "idr", "id": f"project:{i}", "title": f"Study {i}"}
    return DatasetRecord(**{**base, **kwargs})


@pytest.fixture
def index(tmp_path):
    with RecordIndex(tmp_path / "index.sqlite") as index:
        index.add(
            [
                make(
                    1,
                    title="Nuclear segmentation of HeLa",
                    organisms=(HUMAN,),
                    has_ome_zarr=True,
                    license="CC-BY-4.0",
                    keywords=("nuclei",),
                ),
                make(2, title="Yeast membrane atlas", organisms=(YEAST,), imaging_methods=(EM,)),
                make(
                    3,
                    repository="bia",
                    id="S-BIAD3",
                    title="Segmentation benchmark",
                    description="nuclear segmentation ground truth",
                    accessions=("idr0099",),
                ),
            ]
        )
        yield index


def test_query_ranks_title_matches_first(index):
    index.add([make(4, title="Other study", description="about segmentation of cells")])
    total, records = index.search("segmentation")
    assert total == 3
    assert [r.id for r in records][-1] == "project:4"


def test_prefix_and_every_word(index):
    assert index.search("segment nucl")[0] == 2
    assert index.search("segmentation yeast")[0] == 0


def test_filters_and_repositories(index):
    assert [r.id for r in index.search("", organism="homo sapiens")[1]] == ["project:1"]
    assert [r.id for r in index.search("", organism="NCBITaxon:4932")[1]] == ["project:2"]
    assert [r.id for r in index.search("", imaging_method="electron")[1]] == ["project:2"]
    assert [r.id for r in index.search("", license="cc-by-4.0")[1]] == ["project:1"]
    assert [r.id for r in index.search("", has_ome_zarr=True)[1]] == ["project:1"]
    assert [r.id for r in index.search("", repositories=["bia"])[1]] == ["S-BIAD3"]
    assert [r.id for r in index.search("idr0099")[1]] == ["S-BIAD3"]


def test_several_repositories_and_all_of_them(index):
    index.add([make(7, repository="zenodo", id="7", title="Segmentation masks")])
    _, records = index.search("segmentation", repositories=["bia", "zenodo"])
    assert sorted(r.id for r in records) == ["7", "S-BIAD3"]
    total, _ = index.search("segmentation", repositories=["idr", "bia", "zenodo", "ssbd"])
    assert total == 3  # every indexed repository asked: no filter at all


def test_very_common_words_are_ranked_among_the_first_matches(tmp_path, monkeypatch):
    import bioshare.catalog.index as module

    monkeypatch.setattr(module, "RANKED", 10)
    with RecordIndex(tmp_path / "i.sqlite") as index:
        index.add(make(i, title=f"cells {i}") for i in range(30))
        total, page = index.search("cells", limit=5)
        _, later = index.search("cells", limit=5, offset=8)
        _, beyond = index.search("cells", limit=5, offset=10)
    assert total == 30  # the count is exact
    assert len(page) == 5
    assert len(later) == 2
    assert beyond == []  # pages beyond the ranked candidates are empty: narrow the query


def test_an_index_opens_without_writing(tmp_path):
    path = tmp_path / "i.sqlite"
    with RecordIndex(path) as index:
        index.add([make(1)])
    before = path.stat().st_mtime_ns
    with RecordIndex(path) as index:
        assert index.search("study")[0] == 1
    assert path.stat().st_mtime_ns == before


def test_update_in_place(index):
    index.add([make(2, title="Yeast vacuole atlas", organisms=(YEAST,))])
    assert len(index) == 3
    assert index.search("membrane")[0] == 0
    assert [r.title for r in index.search("vacuole")[1]] == ["Yeast vacuole atlas"]


def test_round_trip_of_records(index):
    (found,) = index.search("benchmark")[1]
    assert found == make(
        3,
        repository="bia",
        id="S-BIAD3",
        title="Segmentation benchmark",
        description="nuclear segmentation ground truth",
        accessions=("idr0099",),
    )


def test_pagination(tmp_path):
    with RecordIndex(tmp_path / "i.sqlite") as index:
        index.add(make(i, title=f"cells {i}") for i in range(25))
        total, first = index.search("cells", limit=10)
        _, third = index.search("cells", limit=10, offset=20)
    assert total == 25
    assert len(first) == 10
    assert len(third) == 5


def test_query_text_cannot_break_the_fts_syntax(index):
    for text in ['"', "AND OR NOT", "a*b", "col:umn", "(", "NEAR(x y)"]:
        index.search(text)


class Listing(Repository):
    def __init__(self, name, records, error=None):
        self.name, self.records, self.error = name, records, error

    async def asearch(self, query, *, limit=20, **filters):
        await asyncio.sleep(0)
        if self.error:
            raise self.error
        return self.records[:limit]


def test_harvest_is_incremental_and_reports_failures(tmp_path):
    with RecordIndex(tmp_path / "h.sqlite") as index:
        first = index.harvest(
            [Listing("idr", [make(1), make(2)]), Listing("bia", [], error=ConnectionError("down"))]
        )
        assert first == {"idr": 2, "bia": "ConnectionError: down"}
        index.harvest([Listing("idr", [make(2, title="renamed"), make(3)])])
        assert len(index) == 3
        assert [r.title for r in index.search("renamed")[1]] == ["renamed"]
