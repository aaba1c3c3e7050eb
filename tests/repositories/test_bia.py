"""The BioImage Archive adapter against a local fake (search, integrator v2, BioStudies)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numpy as np
import pytest
from fakes.bia import FakeBIA, build_bia_zarr, seed_studies

from bioshare._http import ApiError
from bioshare.repositories import RecordNotFoundError, RepositoryError
from bioshare.repositories.bia import BIA, normalize_bia_zarr_url
from bioshare.repositories.registry import get_repository

FAST: dict[str, Any] = {"timeout": 2.0, "retries": 2, "backoff": 0.01}


@pytest.fixture(scope="module")
def zarr_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bia_zarr(tmp_path_factory.mktemp("bia-zarr"), seed_studies())


@pytest.fixture(scope="module")
def server(zarr_root: Path) -> Iterator[FakeBIA]:
    with FakeBIA(zarr_root) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeBIA) -> Iterator[FakeBIA]:
    server.clear_faults()
    server.clear_log()
    yield server
    server.clear_faults()


def make_bia(fake: FakeBIA, **kwargs: Any) -> BIA:
    return BIA(
        f"{fake.url}/bioimage-archive/api",
        biostudies_url=f"{fake.url}/biostudies/api/v1",
        zarr_url=f"{fake.url}/bioimaging-integrator-data",
        **(FAST | kwargs),
    )


@pytest.fixture
def bia(fake: FakeBIA) -> BIA:
    return make_bia(fake)


# -- search ------------------------------------------------------------------------------------


def test_search_maps_the_study_documents(bia: BIA) -> None:
    records = bia.search("zebrafish heart")
    assert [r.id for r in records] == ["S-BIAD1556"]
    heart = records[0]
    assert heart.repository == "bia"
    assert heart.title == "Light sheet imaging of zebrafish heart development"
    assert heart.url == "https://www.ebi.ac.uk/biostudies/BioImages/studies/S-BIAD1556"
    assert heart.license == "https://creativecommons.org/publicdomain/zero/1.0/"
    assert heart.release_date == "2025-03-02"
    assert heart.authors == ("Maria Rossi",)
    assert heart.keywords == ("heart", "development")
    assert [t.curie for t in heart.organisms] == ["NCBITaxon:7955"]
    assert [t.curie for t in heart.imaging_methods] == ["FBbi:00000369"]
    assert heart.image_count == 1
    assert heart.size_bytes == 1000
    assert heart.has_ome_zarr
    assert str(heart.thumbnail_url).endswith(".png")
    assert heart.accessions == ("S-BIAD1556",)


def test_search_orders_by_the_service_score_and_honours_limit(bia: BIA) -> None:
    records = bia.search("nuclear segmentation human")
    assert [r.id for r in records][:2] == ["S-BIAD634", "S-BIAD9062"]
    assert len(bia.search("nuclear segmentation human", limit=1)) == 1
    assert bia.search("xylophone") == []
    assert bia.search("nuclei", limit=0) == []


def test_empty_query_lists_everything(bia: BIA, fake: FakeBIA) -> None:
    assert {r.id for r in bia.search("")} == {"S-BIAD634", "S-BIAD1556", "S-BIAD9062"}
    assert parse_qs(fake.requests_to("*/v1/search/fts")[-1].query)["query"] == ["*"]


def test_filters_go_to_the_service_as_scientific_names(bia: BIA, fake: FakeBIA) -> None:
    records = bia.search("", organism="human", imaging_method="laser scanning confocal microscopy")
    assert [r.id for r in records] == ["S-BIAD9062"]
    query = parse_qs(fake.requests_to("*/v1/search/fts")[-1].query)
    assert query["organism"] == ["Homo sapiens"]
    assert query["imaging_method"] == ["confocal microscopy"]
    # a wording that names no known term is left to bioshare.search (partial label match)
    records = bia.search("", organism="human", imaging_method="laser scanning")
    assert {r.id for r in records} == {"S-BIAD634", "S-BIAD9062"}
    assert "imaging_method" not in parse_qs(fake.requests_to("*/v1/search/fts")[-1].query)


def test_search_pages_past_the_largest_page(zarr_root: Path) -> None:
    with FakeBIA(zarr_root, extra_studies=130) as fake:
        bia = make_bia(fake)
        records = bia.search("filler tissue", limit=120)
        assert len(records) == 120
        assert len({r.id for r in records}) == 120
        pages = [parse_qs(r.query) for r in fake.requests_to("*/v1/search/fts")]
        assert [p["pagination.page"] for p in pages] == [["1"], ["2"]]
        assert all(p["pagination.page_size"] == ["100"] for p in pages)


# -- get -----------------------------------------------------------------------------------------


def test_get_by_accession_uses_the_search_document(bia: BIA) -> None:
    record = bia.get("s-biad634")
    assert record.id == "S-BIAD634"
    assert record.authors == ("Jane Doe", "Ali Khan")
    assert [t.label for t in record.organisms] == ["Homo sapiens"]
    assert record.image_count == 3


def test_get_falls_back_to_the_integrator_when_search_fails(bia: BIA, fake: FakeBIA) -> None:
    fake.inject("status", path="*/v1/search/fts", status=500, times=10)
    record = bia.get("S-BIAD9062")
    assert record.doi == "10.17867/10000130"
    assert record.title.startswith("3D nuclear segmentation")
    assert record.organisms == ()  # the integrator's Study has no organisms


def test_get_a_study_only_biostudies_knows(bia: BIA) -> None:
    record = bia.get("S-BSST999")
    assert record.title == "Mouse brain slices stained for astrocytes"
    assert record.authors == ("Tom Smith",)
    assert [t.curie for t in record.organisms] == ["NCBITaxon:10090"]
    assert [t.label for t in record.imaging_methods] == ["confocal microscopy"]
    assert record.keywords == ("brain", "astrocytes")
    assert record.release_date == "2023-06-30"
    assert not record.has_ome_zarr
    assert bia.images("S-BSST999") == []


def test_unknown_accessions_are_clear(bia: BIA) -> None:
    with pytest.raises(RecordNotFoundError, match="no study S-BIAD404"):
        bia.get("S-BIAD404")
    with pytest.raises(RecordNotFoundError, match="no study S-BIAD404"):
        bia.images("S-BIAD404")
    with pytest.raises(RecordNotFoundError, match=r"expected e\.g\. 'S-BIAD634'"):
        bia.get("project:1")


# -- images --------------------------------------------------------------------------------------


def test_images_follow_the_reverse_links_to_ome_zarr(bia: BIA, fake: FakeBIA) -> None:
    images = bia.images("S-BIAD634")
    by_name = {i.name: i for i in images}
    assert set(by_name) == {"hela-nuclei-01", "hela-nuclei-02", "hela-raw-tiff"}
    first = by_name["hela-nuclei-01"]
    assert first.zarr_url is not None
    assert first.zarr_url.startswith(f"{fake.url}/bioimaging-integrator-data/S-BIAD634/")
    assert first.zarr_url.endswith(".ome.zarr/0")
    assert first.shape == (1, 1, 1, 24, 32)
    assert first.dims == ("t", "c", "z", "y", "x")
    # the former storage host is rewritten too
    assert by_name["hela-nuclei-02"].zarr_url.startswith(fake.url)
    assert by_name["hela-raw-tiff"].zarr_url is None
    for path in ("*/dataset", "*/image", "*/image_representation"):
        assert all("page_size=" in r.query for r in fake.requests_to(path))


def test_an_image_streams_from_its_representation(bia: BIA) -> None:
    image = next(i for i in bia.images("S-BIAD1556") if i.zarr_url)
    data = image.open()
    assert dict(data.sizes) == {"c": 2, "z": 4, "y": 24, "x": 32}
    expected = np.arange(2 * 4 * 24 * 32, dtype="uint16").reshape(2, 4, 24, 32)
    np.testing.assert_array_equal(data.isel(c=1, z=2).values, expected[1, 2])
    raw = next(i for i in bia.images("S-BIAD634") if i.name == "hela-raw-tiff")
    with pytest.raises(RepositoryError, match="has no OME-Zarr URL"):
        raw.open()


def test_reverse_links_page_with_start_from_uuid(zarr_root: Path, monkeypatch) -> None:
    import bioshare.repositories.bia as module

    monkeypatch.setattr(module, "LINK_PAGE_SIZE", 2)
    with FakeBIA(zarr_root) as fake:
        images = make_bia(fake).images("S-BIAD634")
        assert len(images) == 3
        pages = [parse_qs(r.query) for r in fake.requests_to("*/dataset/*/image")]
        assert len(pages) == 2
        assert "start_from_uuid" in pages[1]


def test_normalize_bia_zarr_url() -> None:
    tail = "S-BIAD634/a/b.ome.zarr/0"
    base = "http://127.0.0.1:9/bucket"
    for host in (
        "https://livingobjects.ebi.ac.uk/bioimaging-integrator-data",
        "https://uk1s3.embassy.ebi.ac.uk/bia-integrator-data",
    ):
        assert normalize_bia_zarr_url(f"{host}/{tail}", base) == f"{base}/{tail}"
    assert (
        normalize_bia_zarr_url("https://example.org/x.zarr", base) == "https://example.org/x.zarr"
    )


# -- faults --------------------------------------------------------------------------------------


def test_a_5xx_burst_and_a_429_are_retried(bia: BIA, fake: FakeBIA) -> None:
    fake.inject("status", status=503, times=2)
    assert [r.id for r in bia.search("zebrafish")] == ["S-BIAD1556"]
    fake.inject("status", status=429, headers={"Retry-After": "0"}, times=1)
    assert [r.id for r in bia.search("zebrafish")] == ["S-BIAD1556"]
    assert [r.status for r in fake.log] == [503, 503, 200, 429, 200]


def test_a_dropped_connection_is_retried(bia: BIA, fake: FakeBIA) -> None:
    fake.inject("drop", path="*/image_representation", times=1)
    assert len(bia.images("S-BIAD1556")) == 1


def test_malformed_json_names_the_url(bia: BIA, fake: FakeBIA) -> None:
    fake.inject("malformed", path="*/v1/search/fts", times=1)
    with pytest.raises(ApiError, match=r"v1/search/fts.*invalid JSON"):
        bia.search("zebrafish")


def test_wrong_shapes_are_repository_errors(bia: BIA, fake: FakeBIA) -> None:
    fake.inject("status", path="*/v1/search/fts", status=200, body={"results": []}, times=1)
    with pytest.raises(RepositoryError, match=r"hits\.hits"):
        bia.search("zebrafish")


def test_validation_errors_carry_fastapi_details(fake: FakeBIA) -> None:
    from bioshare._http import ApiClient

    client = ApiClient(f"{fake.url}/bioimage-archive/api", retries=0)
    study = seed_studies()[0]
    with pytest.raises(ApiError, match=r"query.page_size: Field required") as caught:
        client.get_json(f"/v2/study/{study.uuid}/dataset")
    assert caught.value.status == 422


def test_a_hanging_service_times_out(fake: FakeBIA) -> None:
    fake.inject("hang", path="*/v1/search/fts")
    bia = make_bia(fake, timeout=0.3, retries=0)
    started = time.monotonic()
    with pytest.raises(ApiError):
        bia.search("zebrafish")
    assert time.monotonic() - started < 3


def test_registry_builds_it_from_the_environment(monkeypatch, fake: FakeBIA) -> None:
    monkeypatch.setenv("BIOSHARE_BIA_URL", f"{fake.url}/bioimage-archive/api")
    monkeypatch.setenv("BIOSHARE_BIA_ZARR_URL", f"{fake.url}/bioimaging-integrator-data")
    bia = get_repository("bia", timeout=2.0)
    assert isinstance(bia, BIA)
    assert [r.id for r in bia.search("zebrafish")] == ["S-BIAD1556"]
