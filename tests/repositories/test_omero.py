"""The generic OMERO adapter (any server's JSON API), against the fake IDR as a plain OMERO."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from fakes.idr import FakeIDR

from bioshare._http import ApiError
from bioshare.repositories import RecordNotFoundError, RepositoryError, Term
from bioshare.repositories.omero import (
    OMERO,
    Annotations,
    imaging_method_term,
    organism_term,
    score_text,
)
from bioshare.repositories.registry import get_repository

FAST: dict[str, Any] = {"timeout": 2.0, "retries": 1, "backoff": 0.01}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeIDR]:
    with FakeIDR() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeIDR) -> Iterator[FakeIDR]:
    server.clear_faults()
    server.clear_log()
    yield server
    server.clear_faults()


@pytest.fixture
def lab(fake: FakeIDR) -> OMERO:
    return OMERO(fake.url, name="omero:lab", **FAST)


def test_name_and_records(lab: OMERO, fake: FakeIDR) -> None:
    assert OMERO.name == "omero"
    assert lab.name == "omero:lab"
    record = lab.get("project:101")
    assert record.repository == "omero:lab"
    assert record.url == f"{fake.url}/webclient/?show=project-101"
    assert record.organisms[0].curie == "NCBITaxon:9606"
    assert record.has_ome_zarr is False
    assert record.accessions == ()  # IDR accessions are the IDR adapter's business


def test_default_name() -> None:
    assert OMERO("https://omero.example.org").name == "omero"


def test_registry_names_servers_by_url(fake: FakeIDR) -> None:
    repo = get_repository(f"omero:{fake.url}", **FAST)
    assert isinstance(repo, OMERO)
    assert repo.name == f"omero:{fake.url}"
    assert repo.search("confocal")[0].id == "project:101"


def test_images_without_zarr(lab: OMERO) -> None:
    images = lab.images("project:103")
    assert [i.id for i in images] == ["8000001"]
    assert images[0].shape == (1, 3, 8, 48, 40)
    assert images[0].zarr_url is None
    assert images[0].repository == "omero:lab"
    with pytest.raises(RepositoryError, match="has no OME-Zarr URL"):
        images[0].open()


def test_zarr_url_template(fake: FakeIDR) -> None:
    lab = OMERO(fake.url, zarr_url_template="https://s3.lab.org/zarr/{kind}s/{id}.zarr", **FAST)
    assert lab.images("project:102")[0].zarr_url == "https://s3.lab.org/zarr/images/7000001.zarr"
    assert lab.images("screen:3")[0].zarr_url == "https://s3.lab.org/zarr/plates/2551.zarr"
    assert lab.get("project:102").has_ome_zarr is True
    broken = OMERO(fake.url, zarr_url_template="{nope}", **FAST)
    with pytest.raises(RepositoryError, match="zarr_url_template"):
        broken.images("project:102")


def test_search_filters_on_annotations(lab: OMERO, fake: FakeIDR) -> None:
    assert [r.id for r in lab.search("", organism="mouse")] == ["project:103"]
    assert [r.id for r in lab.search("", organism="NCBITaxon:4896")] == ["screen:3"]
    assert [r.id for r in lab.search("", imaging_method="SPIM")] == ["project:103"]
    assert {r.id for r in lab.search("", license="cc-by-4.0")} == {
        "project:101",
        "project:102",
        "screen:3",
    }
    assert lab.search("", has_ome_zarr=True) == []
    assert not fake.requests_to("/searchengine/*")  # a plain OMERO has no search engine


def test_annotations_are_fetched_in_one_request_per_kind(lab: OMERO, fake: FakeIDR) -> None:
    lab.search("embryo")
    calls = [parse_qs(r.query) for r in fake.requests_to("/webclient/api/annotations/")]
    assert all(c["type"] == ["map"] for c in calls)
    assert sorted((sorted(c.get("project", [])), c.get("screen")) for c in calls) == [
        ([], ["3"]),
        (["101", "102", "103"], None),
    ]


def test_first_page_size_is_configurable(fake: FakeIDR) -> None:
    lab = OMERO(fake.url, page_size=1, **FAST)
    assert len(lab.search("")) == 4
    offsets = [parse_qs(r.query)["offset"] for r in fake.requests_to("/api/v0/m/projects/")]
    assert offsets == [["0"], ["1"], ["2"]]


def test_unknown_records(lab: OMERO, fake: FakeIDR) -> None:
    with pytest.raises(RecordNotFoundError, match=f"OMERO server {fake.url} has no project 5"):
        lab.get("project:5")
    with pytest.raises(RecordNotFoundError, match="has no dataset 999"):
        lab.images("dataset:999")


def test_malformed_shapes_are_repository_errors(lab: OMERO, fake: FakeIDR) -> None:
    fake.inject("status", path="/api/v0/m/projects/101/", status=200, body={"data": [1]}, times=1)
    with pytest.raises(RepositoryError, match=r"field 'data' is list; expected dict"):
        lab.get("project:101")
    fake.inject(
        "status",
        path="/api/v0/m/datasets/204/images/",
        status=200,
        body={"data": [{"@id": 1, "Pixels": {"SizeX": "big"}}], "meta": {"totalCount": 1}},
        times=1,
    )
    with pytest.raises(RepositoryError, match=r"image 1: Pixels.SizeT is None"):
        lab.images("project:103")
    fake.inject(
        "status",
        path="/webclient/api/annotations/",
        status=200,
        body={"annotations": [{"values": "Organism=human"}]},
        times=1,
    )
    with pytest.raises(RepositoryError, match=r"annotations\[0\]\.values"):
        lab.get("project:101")
    fake.inject("status", path="/api/v0/m/screens/", status=200, body={"data": [{}]}, times=1)
    with pytest.raises(RepositoryError, match="without an integer '@id'"):
        lab.search("x")


def test_server_errors_name_the_server(lab: OMERO, fake: FakeIDR) -> None:
    fake.inject("status", path="/api/v0/m/projects/", status=500)
    with pytest.raises(ApiError, match=f"OMERO server {fake.url}: HTTP 500 from GET"):
        asyncio.run(lab.asearch("x"))


def test_invalid_base_url() -> None:
    with pytest.raises(ValueError, match="http"):
        OMERO("omero.lab.org")


# -- vocabularies and scoring ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "curie", "label"),
    [
        ("Homo sapiens", "NCBITaxon:9606", "Homo sapiens"),
        ("human", "NCBITaxon:9606", "Homo sapiens"),
        ("mouse", "NCBITaxon:10090", "Mus musculus"),
        ("Saccharomyces cerevisiae", "NCBITaxon:4932", "Saccharomyces cerevisiae"),
        ("Drosophila melanogaster", "NCBITaxon:7227", "Drosophila melanogaster"),
        ("zebrafish", "NCBITaxon:7955", "Danio rerio"),
        ("Arabidopsis thaliana", "NCBITaxon:3702", "Arabidopsis thaliana"),
        ("E. coli", "NCBITaxon:562", "Escherichia coli"),
        ("Caenorhabditis elegans", "NCBITaxon:6239", "Caenorhabditis elegans"),
        ("Plasmodium berghei (NCBITaxon:5821)", "NCBITaxon:5821", "Plasmodium berghei"),
        ("NCBITaxon_9606", "NCBITaxon:9606", "Homo sapiens"),
        ("Plasmodium berghei", "", "Plasmodium berghei"),
    ],
)
def test_organism_terms(value: str, curie: str, label: str) -> None:
    term = organism_term(value)
    assert (term.curie, term.label) == (curie, label)
    if curie:
        assert term.iri == f"http://purl.obolibrary.org/obo/NCBITaxon_{curie.split(':')[1]}"


@pytest.mark.parametrize(
    ("value", "curie"),
    [
        ("fluorescence microscopy", "FBbi:00000246"),
        ("Confocal microscopy", "FBbi:00000251"),
        ("spinning disk confocal microscopy", "FBbi:00000253"),
        ("light sheet fluorescence microscopy", "FBbi:00000369"),
        ("electron microscopy", "FBbi:00000256"),
        ("transmission electron microscopy", "FBbi:00000258"),
        ("bright-field microscopy", "FBbi:00000243"),
        ("phase contrast microscopy", "FBbi:00000247"),
        ("holography", ""),
    ],
)
def test_imaging_method_terms(value: str, curie: str) -> None:
    assert imaging_method_term(value).curie == curie


def test_imaging_method_labels_are_fbbi_labels() -> None:
    assert imaging_method_term("light sheet fluorescence microscopy") == Term(
        "FBbi:00000369", "SPIM", "http://purl.obolibrary.org/obo/FBbi_00000369"
    )


def test_score_text() -> None:
    assert score_text("nuclear", "idr0062-nuclearsegmentation") == 1.0
    assert score_text("nuclear", "x", "nuclear masks") == pytest.approx(2 / 3)
    assert score_text("nuclear", "x", "", "nuclear masks") == pytest.approx(1 / 3)
    assert score_text("nuclear mouse", "nuclear", "mouse") == pytest.approx(5 / 6)
    assert score_text("", "anything") == 0.0
    assert score_text("zebra", "nuclear") == 0.0


def test_annotations_lookup() -> None:
    notes = Annotations((("Organism", "Homo sapiens"), ("organism", "Mus musculus"), ("X", "")))
    assert notes.values("ORGANISM") == ["Homo sapiens", "Mus musculus"]
    assert notes.first("Missing", "Organism") == "Homo sapiens"
    assert notes.values("X") == []
