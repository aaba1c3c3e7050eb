"""The Zenodo adapter against a local fake of Zenodo's records API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numpy as np
import pytest
from fakes.zenodo_records import FakeZenodoRecords, ZenodoFile, build_ome_zarr_zip, seed

from bioshare._http import ApiError
from bioshare.repositories import RecordNotFoundError, RepositoryError
from bioshare.repositories.registry import get_repository
from bioshare.repositories.zenodo import Zenodo, escape_query, is_ome_zarr_file

FAST: dict[str, Any] = {"timeout": 2.0, "retries": 2, "backoff": 0.01}


@pytest.fixture(scope="module")
def zarr_zip(tmp_path_factory: pytest.TempPathFactory) -> ZenodoFile:
    return build_ome_zarr_zip(tmp_path_factory.mktemp("zenodo-files"))


@pytest.fixture(scope="module")
def server(zarr_zip: ZenodoFile) -> Iterator[FakeZenodoRecords]:
    with FakeZenodoRecords(seed({zarr_zip.key: zarr_zip})) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeZenodoRecords) -> Iterator[FakeZenodoRecords]:
    server.clear_faults()
    server.clear_log()
    yield server
    server.clear_faults()


@pytest.fixture
def zenodo(fake: FakeZenodoRecords) -> Zenodo:
    return Zenodo(fake.url, **FAST)


def test_search_finds_datasets_only(zenodo: Zenodo, fake: FakeZenodoRecords) -> None:
    records = zenodo.search("nuclei")
    assert [r.id for r in records] == ["7654321"]  # the software record is not a dataset
    query = parse_qs(fake.log[-1].query)
    assert query["type"] == ["dataset"]
    assert query["sort"] == ["bestmatch"]
    assert query["size"] == ["20"]


def test_a_record_maps_every_field(zenodo: Zenodo, zarr_zip: ZenodoFile) -> None:
    record = zenodo.search("HeLa")[0]
    assert record.repository == "zenodo"
    assert record.title == "HeLa cells stained for nuclei and actin, OME-Zarr"
    assert record.description == "Two-channel fluorescence microscopy of HeLa cells, as OME-Zarr."
    assert record.doi == "10.5281/zenodo.7654321"
    assert record.url.endswith("/records/7654321")
    assert record.license == "cc-by-4.0"
    assert record.authors == ("Doe, Jane", "Khan, Ali")
    assert record.release_date == "2024-05-01"
    assert [t.curie for t in record.organisms] == ["NCBITaxon:9606"]
    assert [t.curie for t in record.imaging_methods] == ["FBbi:00000246"]
    assert record.keywords == ("OME-Zarr", "human", "fluorescence microscopy", "nuclei")
    assert record.has_ome_zarr
    assert record.image_count == 1
    assert record.size_bytes == zarr_zip.size
    assert record.accessions == ("S-BIAD634", "10.5281/zenodo.7654320")


def test_empty_query_lists_newest_first(zenodo: Zenodo, fake: FakeZenodoRecords) -> None:
    records = zenodo.search("")
    assert [r.id for r in records] == ["7654321", "8000002"]
    assert parse_qs(fake.log[-1].query)["sort"] == ["mostrecent"]


def test_operators_in_free_text_are_escaped(zenodo: Zenodo) -> None:
    assert zenodo.search("fin/regeneration (TIFF)")[0].id == "8000002"
    assert escape_query('a:b "c"') == 'a\\:b \\"c\\"'


def test_search_pages_at_25_anonymously_and_100_with_a_token() -> None:
    with FakeZenodoRecords(extra_records=60) as fake:
        records = Zenodo(fake.url, **FAST).search("filler", limit=55)
        assert len(records) == 55
        assert len({r.id for r in records}) == 55
        pages = [parse_qs(r.query) for r in fake.requests_to("/api/records")]
        assert [p["page"] for p in pages] == [["1"], ["2"], ["3"]]
        assert all(p["size"] == ["25"] for p in pages)
        fake.clear_log()
        records = Zenodo(fake.url, token="secret-token", **FAST).search("filler", limit=60)
        assert len(records) == 60
        assert len(fake.requests_to("/api/records")) == 1
        assert fake.log[0].headers["Authorization"] == "Bearer secret-token"


def test_the_token_is_never_shown() -> None:
    zenodo = Zenodo("http://127.0.0.1:9", token="secret-token")
    assert "secret" not in repr(zenodo)
    assert "secret" not in repr(zenodo.client)


def test_get_by_id_and_doi(zenodo: Zenodo) -> None:
    assert zenodo.get("8000002").title.startswith("Zebrafish fin")
    assert zenodo.get("10.5281/zenodo.8000002").id == "8000002"
    assert zenodo.get("https://doi.org/10.5281/zenodo.8000002").id == "8000002"
    tiff = zenodo.get("8000002")
    assert not tiff.has_ome_zarr
    assert tiff.license == "cc0-1.0"
    assert [t.label for t in tiff.organisms] == ["Danio rerio"]


def test_unknown_deleted_and_malformed_ids(zenodo: Zenodo) -> None:
    with pytest.raises(RecordNotFoundError, match="record 1 does not exist"):
        zenodo.get("1")
    with pytest.raises(RecordNotFoundError, match="record 8000006 was deleted"):
        zenodo.get("8000006")
    with pytest.raises(RecordNotFoundError, match="expected a record id"):
        zenodo.get("S-BIAD634")


def test_images_are_the_ome_zarr_files_and_stream(zenodo: Zenodo, fake: FakeZenodoRecords) -> None:
    images = zenodo.images("7654321")
    assert [i.name for i in images] == ["cells.ome.zarr.zip"]
    image = images[0]
    assert image.zarr_url == f"{fake.url}/api/records/7654321/files/cells.ome.zarr.zip/content"
    data = image.open()
    assert dict(data.sizes) == {"c": 2, "y": 16, "x": 20}
    expected = np.arange(2 * 16 * 20, dtype="uint8").reshape(2, 16, 20)
    np.testing.assert_array_equal(data.values, expected)
    ranged = [r for r in fake.requests_to("*/content") if r.headers.get("Range")]
    assert ranged, "the zip is read with range requests, not downloaded whole"
    assert zenodo.images("8000002") == []


def test_ome_zarr_file_names() -> None:
    assert is_ome_zarr_file("a.ome.zarr.zip")
    assert is_ome_zarr_file("A.OZX")
    assert is_ome_zarr_file("plate.zarr.zip")
    assert not is_ome_zarr_file("a.zip")
    assert not is_ome_zarr_file("a.tif")


def test_faults_are_retried(zenodo: Zenodo, fake: FakeZenodoRecords) -> None:
    fake.inject("status", status=502, times=2)
    assert zenodo.get("8000002").id == "8000002"
    reset = str(int(time.time()))  # already passed: retry at once
    fake.inject(
        "status",
        status=429,
        times=1,
        headers={
            "X-RateLimit-Limit": "30",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset,
        },
    )
    assert zenodo.search("zebrafish")[0].id == "8000002"
    fake.inject("drop", times=1)
    assert zenodo.get("8000002").id == "8000002"
    assert [r.status for r in fake.log][:3] == [502, 502, 200]


def test_malformed_and_misshapen_answers_are_clear(zenodo: Zenodo, fake: FakeZenodoRecords) -> None:
    fake.inject("malformed", path="/api/records", times=1)
    with pytest.raises(ApiError, match=r"/api/records.*invalid JSON"):
        zenodo.search("zebrafish")
    fake.inject("status", path="/api/records", status=200, body={"records": []}, times=1)
    with pytest.raises(RepositoryError, match=r"hits\.hits"):
        zenodo.search("zebrafish")


def test_errors_carry_zenodo_messages(fake: FakeZenodoRecords) -> None:
    from bioshare._http import ApiClient

    client = ApiClient(fake.url, retries=0)
    with pytest.raises(ApiError, match=r"size: .*Page size cannot be greater than 25") as caught:
        client.get_json("/api/records", params={"size": 50})
    assert caught.value.status == 400


def test_a_hanging_service_times_out(fake: FakeZenodoRecords) -> None:
    fake.inject("hang", path="/api/records")
    started = time.monotonic()
    with pytest.raises(ApiError):
        Zenodo(fake.url, timeout=0.3, retries=0).search("zebrafish")
    assert time.monotonic() - started < 3


def test_registry_and_environment(monkeypatch, fake: FakeZenodoRecords) -> None:
    monkeypatch.setenv("BIOSHARE_ZENODO_URL", fake.url)
    zenodo = get_repository("zenodo", timeout=2.0)
    assert isinstance(zenodo, Zenodo)
    assert zenodo.search("zebrafish")[0].id == "8000002"
    monkeypatch.setenv("BIOSHARE_ZENODO_SANDBOX_URL", "http://127.0.0.1:9")
    assert Zenodo(sandbox=True).base_url == "http://127.0.0.1:9"


def test_a_path_is_never_a_zenodo_record(tmp_path: Path) -> None:
    with pytest.raises(RecordNotFoundError):
        Zenodo("http://127.0.0.1:9").get(str(tmp_path))
