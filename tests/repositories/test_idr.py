"""The IDR adapter against a local fake IDR (JSON API, webclient, search engine, OME-Zarr)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numpy as np
import pytest
from fakes.idr import FakeIDR, build_zarr_tree

from bioshare._http import ApiError
from bioshare.repositories import DatasetRecord, RecordNotFoundError, RepositoryError, Term
from bioshare.repositories.idr import IDR, idr_study, normalize_idr_zarr_url
from bioshare.repositories.registry import get_repository

FAST: dict[str, Any] = {"timeout": 2.0, "retries": 2, "backoff": 0.01}


@pytest.fixture(scope="module")
def zarr_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_zarr_tree(tmp_path_factory.mktemp("idr-zarr"))


@pytest.fixture(scope="module")
def server(zarr_root: Path) -> Iterator[FakeIDR]:
    with FakeIDR(zarr_root) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeIDR) -> Iterator[FakeIDR]:
    server.clear_faults()
    server.clear_log()
    yield server
    server.clear_faults()


@pytest.fixture
def idr(fake: FakeIDR) -> IDR:
    return IDR(fake.url, zarr_url=fake.url, **FAST)


def _query(request: object) -> dict[str, list[str]]:
    return parse_qs(request.query)  # type: ignore[attr-defined]


# -- search ------------------------------------------------------------------------------------


def test_search_ranks_name_before_annotations_before_description(idr: IDR) -> None:
    records = idr.search("yeast")
    assert [r.id for r in records] == ["project:102", "screen:3"]
    assert records[0].score > records[1].score > 0
    assert all(isinstance(r, DatasetRecord) and r.repository == "idr" for r in records)


def test_search_matches_every_query_word_best(idr: IDR) -> None:
    records = idr.search("nuclear segmentation human")
    assert records[0].id == "project:101"
    assert 0 < records[0].score <= 1


def test_search_honours_limit_and_returns_nothing_unmatched(idr: IDR) -> None:
    assert len(idr.search("", limit=2)) == 2
    assert len(idr.search("")) == 4  # 3 projects + 1 screen
    assert idr.search("xylophone") == []
    assert idr.search("yeast", limit=0) == []


def test_search_pages_through_listings_never_above_max_limit(zarr_root: Path) -> None:
    with FakeIDR(zarr_root, max_limit=2, extra_projects=5) as fake:
        idr = IDR(fake.url, zarr_url=fake.url, **FAST)
        records = idr.search("filler", limit=10)
        assert len(records) == 5
        pages = [_query(r) for r in fake.requests_to("/api/v0/m/projects/")]
        assert [p["offset"] for p in pages] == [["0"], ["2"], ["4"], ["6"]]
        assert all(int(p["limit"][0]) <= 2 for p in pages[1:])  # learnt from meta.maxLimit
        fake.clear_log()
        assert len(idr.search("", limit=3)) == 3
        later = [_query(r) for r in fake.requests_to("/api/v0/m/*")]
        assert later
        assert all(int(p["limit"][0]) <= 2 for p in later)


def test_search_rejects_unknown_filters(idr: IDR) -> None:
    with pytest.raises(TypeError, match="unknown search filters"):
        idr.search("x", year=2020)


# -- search engine -----------------------------------------------------------------------------


def test_organism_filter_uses_the_search_engine_with_the_scientific_name(
    idr: IDR, fake: FakeIDR
) -> None:
    records = idr.search("", organism="human")
    assert [r.id for r in records] == ["project:101"]
    calls = [_query(r) for r in fake.requests_to("/searchengine/api/v1/resources/*/search/")]
    assert {c["key"][0] for c in calls} == {"Organism"}
    assert {c["value"][0] for c in calls} == {"Homo sapiens"}
    assert {c["operator"][0] for c in calls} == {"contains"}
    assert len(fake.requests_to("/searchengine/api/v1/resources/project/search/")) == 1
    assert len(fake.requests_to("/searchengine/api/v1/resources/screen/search/")) == 1


def test_imaging_method_filter_combines_with_query(idr: IDR) -> None:
    hits = idr.search("", imaging_method="fluorescence microscopy")  # "contains"
    assert {r.id for r in hits} == {"project:102", "project:103", "screen:3"}
    assert [r.id for r in idr.search("autophagy", imaging_method="fluorescence")] == ["project:102"]
    both = idr.search("", organism="Mus musculus", imaging_method="light sheet")
    assert [r.id for r in both] == ["project:103"]


def test_search_engine_pages_with_bookmark(zarr_root: Path) -> None:
    with FakeIDR(zarr_root, search_page_size=2, extra_projects=5) as fake:
        idr = IDR(fake.url, zarr_url=fake.url, **FAST)
        records = idr.search("", organism="zebrafish", limit=50)
        assert len(records) == 5
        calls = [_query(r) for r in fake.requests_to("/searchengine/*/project/search/")]
        assert len(calls) == 3
        assert "bookmark" not in calls[0]
        assert calls[1]["bookmark"] == ["1002"]
        assert calls[2]["bookmark"] == ["1004"]


def test_search_engine_failure_falls_back_to_annotations(idr: IDR, fake: FakeIDR) -> None:
    fake.inject("status", path="/searchengine/*", status=503)
    records = idr.search("", organism="human")
    assert [r.id for r in records] == ["project:101"]


def test_search_engine_error_body_is_a_repository_error(idr: IDR, fake: FakeIDR) -> None:
    with pytest.raises(RepositoryError, match=r"search engine: .* answered an error: key and"):
        asyncio.run(idr.search_engine("project", "", "x"))


# -- get ---------------------------------------------------------------------------------------


def test_get_maps_the_study_annotations(idr: IDR, fake: FakeIDR) -> None:
    record = idr.get("project:101")
    assert record.repository == "idr"
    assert record.id == "project:101"
    assert record.title == "Nuclear segmentation in 3D confocal images of human cells"
    assert record.description.startswith("3D nuclear segmentation of human cells")
    assert record.url == f"{fake.url}/webclient/?show=project-101"
    assert record.doi == "10.17867/10000130"  # Data DOI before Publication DOI
    assert record.license == "CC-BY-4.0"
    assert record.authors[:2] == ("Blin G", "Sadurska D")
    assert record.release_date == "2019-06-24"
    assert record.organisms == (
        Term("NCBITaxon:9606", "Homo sapiens", "http://purl.obolibrary.org/obo/NCBITaxon_9606"),
    )
    assert record.imaging_methods == (
        Term(
            "FBbi:00000251", "confocal microscopy", "http://purl.obolibrary.org/obo/FBbi_00000251"
        ),
    )
    assert record.keywords == ("3D nuclear segmentation",)
    assert record.accessions == ("idr0062", "idr0062A", "S-BIAD9062")
    assert record.has_ome_zarr is True
    assert record.image_count == 3
    assert record.thumbnail_url == f"{fake.url}/webclient/render_thumbnail/6001240/"
    assert DatasetRecord.from_dict(record.to_dict()) == record


def test_get_other_studies(idr: IDR, fake: FakeIDR) -> None:
    mouse = idr.get("project:103")
    assert mouse.organisms[0].curie == "NCBITaxon:10090"
    assert mouse.imaging_methods[0].curie == "FBbi:00000369"
    assert mouse.license == "CC0-1.0"
    assert mouse.accessions[:2] == ("idr0150", "idr0150B")
    yeast = idr.get("project:102")
    assert yeast.title == "Autophagy dynamics in budding yeast"  # no Study Title
    assert yeast.doi == "10.5555/idr0145.paper"
    screen = idr.get("screen:3")
    assert screen.url == f"{fake.url}/webclient/?show=screen-3"
    assert screen.organisms[0] == Term(
        "NCBITaxon:4896",
        "Schizosaccharomyces pombe",
        "http://purl.obolibrary.org/obo/NCBITaxon_4896",
    )
    assert screen.thumbnail_url == f"{fake.url}/webclient/render_thumbnail/1230001/"


def test_get_by_accession(idr: IDR) -> None:
    assert idr.get("idr0062").id == "project:101"
    assert idr.get("IDR0001A").id == "screen:3"
    with pytest.raises(RecordNotFoundError, match="IDR has no study idr9999"):
        idr.get("idr9999")


def test_get_unknown_ids(idr: IDR) -> None:
    with pytest.raises(RecordNotFoundError, match="IDR has no project 999") as info:
        idr.get("project:999")
    assert isinstance(info.value, KeyError)
    with pytest.raises(RecordNotFoundError, match="project:<id>"):
        idr.get("dataset-12")
    with pytest.raises(RecordNotFoundError, match="IDR has no screen 77"):
        idr.images("screen:77")


# -- images ------------------------------------------------------------------------------------


def test_images_of_a_project(idr: IDR, fake: FakeIDR) -> None:
    images = idr.images("project:101")
    assert [i.id for i in images] == ["6001240", "6001241", "6001247"]
    first = images[0]
    assert first.repository == "idr"
    assert first.name == "B4_C3.tif"
    assert first.shape == (1, 2, 4, 32, 30)
    assert first.dims == ("t", "c", "z", "y", "x")
    assert first.dtype == "uint16"
    assert first.dataset_id == "project:101"
    assert first.zarr_url == f"{fake.url}/idr/zarr/v0.4/idr0062A/6001240.zarr"
    assert first.thumbnail_url == f"{fake.url}/webclient/render_thumbnail/6001240/"


def test_image_streams_from_the_zarr_store(idr: IDR, fake: FakeIDR) -> None:
    image = idr.images("project:101")[0].open()
    assert image.shape == (2, 4, 32, 30)  # IDR's OME-Zarr drops the singleton t
    expected = np.arange(2 * 4 * 32 * 30, dtype="uint16").reshape(2, 4, 32, 30)
    np.testing.assert_array_equal(image.isel(z=1).values, expected[:, 1])
    assert fake.requests_to("/idr/zarr/v0.4/idr0062A/6001240.zarr/*")


def test_images_of_a_screen_are_its_plates(idr: IDR, fake: FakeIDR) -> None:
    (plate,) = idr.images("screen:3")
    assert plate.id == "plate:2551"
    assert plate.name == "JL_120731_S6A"
    assert plate.zarr_url == f"{fake.url}/idr/zarr/v0.4/idr0001A/2551.zarr"
    assert plate.dataset_id == "screen:3"


def test_images_of_a_dataset(idr: IDR) -> None:
    images = idr.images("dataset:202")
    assert [i.id for i in images] == ["6001247"]
    assert images[0].zarr_url is None  # a dataset alone does not say which study it is in


def test_async_twins(idr: IDR) -> None:
    async def main() -> tuple[list[DatasetRecord], DatasetRecord, int]:
        found, record, images = await asyncio.gather(
            idr.asearch("mouse embryo"), idr.aget("project:103"), idr.aimages("project:103")
        )
        return found, record, len(images)

    found, record, count = asyncio.run(main())
    assert found[0].id == "project:103"
    assert record.title == "Whole mouse embryo light sheet atlas"
    assert count == 1


# -- configuration and hosts -------------------------------------------------------------------


def test_configured_from_the_environment(fake: FakeIDR, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIOSHARE_IDR_URL", fake.url)
    monkeypatch.setenv("BIOSHARE_IDR_ZARR_URL", fake.url + "/")
    idr = get_repository("idr", **FAST)
    assert isinstance(idr, IDR)
    assert idr.base_url == fake.url
    assert idr.zarr_url == fake.url
    assert idr.images("project:101")[0].open().shape == (2, 4, 32, 30)


@pytest.mark.parametrize(
    "url",
    [
        "https://uk1s3.embassy.ebi.ac.uk/idr/zarr/v0.5/idr0062A/6001240.zarr",
        "https://livingobjects.ebi.ac.uk/idr/zarr/v0.5/idr0062A/6001240.zarr",
        "s3://idr/zarr/v0.5/idr0062A/6001240.zarr",
    ],
)
def test_old_and_current_hosts_are_rewritten(url: str, fake: FakeIDR) -> None:
    local = normalize_idr_zarr_url(url, fake.url)
    assert local == f"{fake.url}/idr/zarr/v0.5/idr0062A/6001240.zarr"
    import bioshare

    assert bioshare.open_image(local).shape == (2, 4, 32, 30)  # the Zarr v3 copy


def test_rewrite_uses_the_configured_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BIOSHARE_IDR_ZARR_URL", raising=False)
    old = "https://uk1s3.embassy.ebi.ac.uk/idr/zarr/v0.4/idr0052A/5514375.zarr"
    assert normalize_idr_zarr_url(old) == (
        "https://livingobjects.ebi.ac.uk/idr/zarr/v0.4/idr0052A/5514375.zarr"
    )
    other = "https://example.org/idr/zarr/v0.4/x.zarr"
    assert normalize_idr_zarr_url(other) == other


def test_study_ids_from_names() -> None:
    assert idr_study("idr0062-blin-nuclearsegmentation/experimentA") == "idr0062A"
    assert idr_study("idr0150-demo-mouseembryo/experimentB") == "idr0150B"
    assert idr_study("idr0001-graml-sysgro/screenA") == "idr0001A"
    assert idr_study("idr0090-x") == "idr0090"
    assert idr_study("my project") is None


# -- faults ------------------------------------------------------------------------------------


def test_5xx_burst_is_retried(idr: IDR, fake: FakeIDR) -> None:
    fake.inject("status", path="/api/v0/m/projects/101/", status=503, times=2)
    assert idr.get("project:101").id == "project:101"
    statuses = [r.status for r in fake.requests_to("/api/v0/m/projects/101/")]
    assert statuses == [503, 503, 200]


def test_429_retry_after_is_honoured(idr: IDR, fake: FakeIDR) -> None:
    fake.inject(
        "status", path="/api/v0/m/screens/", status=429, headers={"Retry-After": "1"}, times=1
    )
    assert idr.search("fission")[0].id == "screen:3"
    first, second = fake.requests_to("/api/v0/m/screens/")
    assert first.status == 429
    assert second.status == 200
    assert second.t_arrival - first.t_arrival >= 0.9


def test_dropped_connection_is_retried(idr: IDR, fake: FakeIDR) -> None:
    fake.inject("drop", path="/webclient/api/annotations/", times=1)
    assert idr.get("project:102").organisms[0].label == "Saccharomyces cerevisiae"
    assert len(fake.requests_to("/webclient/api/annotations/")) == 2


def test_malformed_json_names_the_url(idr: IDR, fake: FakeIDR) -> None:
    fake.inject("malformed", path="/api/v0/m/projects/101/", times=1)
    with pytest.raises(RepositoryError, match=r"/api/v0/m/projects/101/.*invalid JSON"):
        idr.get("project:101")


def test_missing_fields_name_url_and_field(idr: IDR, fake: FakeIDR) -> None:
    fake.inject("status", path="/api/v0/m/screens/", status=200, body={"meta": {}}, times=1)
    with pytest.raises(
        RepositoryError, match=r"/api/v0/m/screens/ answered without the field 'data'"
    ):
        idr.search("yeast")
    fake.inject(
        "status",
        path="/searchengine/*",
        status=200,
        body={"results": {"size": 1}},
        times=2,
    )
    with pytest.raises(RepositoryError, match=r"results\.results"):
        asyncio.run(idr.search_engine("project", "Organism", "x"))


def test_persistent_503_names_idr_and_url(idr: IDR, fake: FakeIDR) -> None:
    fake.inject("status", path="/api/v0/m/projects/101/", status=503)
    with pytest.raises(ApiError) as info:
        idr.get("project:101")
    message = str(info.value)
    assert message.startswith("IDR: HTTP 503")
    assert f"{fake.url}/api/v0/m/projects/101/" in message
    assert info.value.status == 503
    assert len(fake.requests_to("/api/v0/m/projects/101/")) == 3  # 1 + 2 retries


def test_400_message_is_reported_without_retrying(idr: IDR, fake: FakeIDR) -> None:
    fake.inject(
        "status", path="/api/v0/m/projects/101/", status=400, body={"message": "Bad id"}, times=1
    )
    with pytest.raises(ApiError, match=r"HTTP 400.*Bad id"):
        idr.get("project:101")
    assert len(fake.requests_to("/api/v0/m/projects/101/")) == 1


def test_hang_times_out(fake: FakeIDR) -> None:
    idr = IDR(fake.url, zarr_url=fake.url, timeout=0.3, retries=1, backoff=0.01)
    fake.inject("hang", path="/api/v0/m/projects/103/")
    started = time.monotonic()
    with pytest.raises(ApiError, match=r"IDR: could not reach .*/projects/103/ after 2 attempt"):
        idr.get("project:103")
    assert time.monotonic() - started < 3
