"""The TCIA adapter against a local fake of TCIA's NBIA search API (real HTTP)."""

from __future__ import annotations

import asyncio
import io
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from fakes.tcia import FakeTCIA, TCIACollection, seed

from bioshare._http import ApiError
from bioshare.repositories import DatasetRecord, ImageRef, RecordNotFoundError, RepositoryError
from bioshare.repositories.registry import get_repository
from bioshare.repositories.tcia import TCIA, modality_term

FAST: dict[str, Any] = {"timeout": 2.0, "retries": 2, "backoff": 0.01}


@pytest.fixture(scope="module")
def collections(tmp_path_factory: pytest.TempPathFactory) -> list[TCIACollection]:
    return seed(tmp_path_factory.mktemp("tcia"))


@pytest.fixture(scope="module")
def server(collections: list[TCIACollection]) -> Iterator[FakeTCIA]:
    with FakeTCIA(collections) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeTCIA) -> Iterator[FakeTCIA]:
    server.clear_faults()
    server.clear_log()
    yield server
    server.clear_faults()


@pytest.fixture
def tcia(fake: FakeTCIA) -> TCIA:
    return TCIA(fake.api_url, **FAST)


def _query(request: Any) -> dict[str, list[str]]:
    return parse_qs(request.query)


# -- terms -------------------------------------------------------------------------------------


def test_modalities_map_to_bundled_terms_without_inventing_curies() -> None:
    ct = modality_term("ct")
    assert ct is not None
    assert ct.curie == "FBbi:00001002"
    assert ct.label == "X-ray computed tomography"
    radiography = modality_term("DX")
    assert radiography is not None
    assert radiography.curie == "FBbi:00001001"
    mr = modality_term("MR")
    assert mr is not None
    assert mr.label == "magnetic resonance imaging"
    assert mr.curie == ""
    assert modality_term("SEG") is None
    assert modality_term("RTSTRUCT") is None


# -- search ------------------------------------------------------------------------------------


def test_search_lists_every_collection_with_modalities_and_body_parts(tcia: TCIA) -> None:
    records = tcia.search("")
    assert {r.id for r in records} == {"Lung-CT-Demo", "Brain-MR-Demo", "Head-Neck-PET-CT-Demo"}
    assert all(isinstance(r, DatasetRecord) and r.repository == "tcia" for r in records)
    by_id = {r.id: r for r in records}
    lung = by_id["Lung-CT-Demo"]
    assert set(lung.keywords) == {"CT", "CHEST"}
    assert [t.curie for t in lung.imaging_methods] == ["FBbi:00001002"]
    assert lung.doi == "10.7937/TCIA.DEMO.LUNG"
    assert lung.url == "https://doi.org/10.7937/TCIA.DEMO.LUNG"
    assert lung.description.startswith("Thoracic CT scans")  # HTML tags removed
    assert not lung.has_ome_zarr
    labels = {t.label for t in by_id["Head-Neck-PET-CT-Demo"].imaging_methods}
    assert labels == {"X-ray computed tomography", "positron emission tomography"}


def test_search_matches_names_then_descriptions(tcia: TCIA) -> None:
    records = tcia.search("lung")
    assert [r.id for r in records] == ["Lung-CT-Demo"]
    assert 0 < records[0].score <= 1
    glioma = tcia.search("glioma")  # only in the description
    assert [r.id for r in glioma] == ["Brain-MR-Demo"]
    assert glioma[0].score < records[0].score
    assert tcia.search("xylophone") == []
    assert tcia.search("", limit=0) == []
    assert len(tcia.search("", limit=2)) == 2


def test_search_filters_by_modality_body_part_and_imaging_method(tcia: TCIA) -> None:
    assert {r.id for r in tcia.search("", modality="CT")} == {
        "Lung-CT-Demo",
        "Head-Neck-PET-CT-Demo",
    }
    assert [r.id for r in tcia.search("", modality="mr")] == ["Brain-MR-Demo"]
    assert [r.id for r in tcia.search("", body_part="brain")] == ["Brain-MR-Demo"]
    assert [r.id for r in tcia.search("", imaging_method="positron emission tomography")] == [
        "Head-Neck-PET-CT-Demo"
    ]
    ct = tcia.search("", imaging_method="FBbi:00001002")
    assert {r.id for r in ct} == {"Lung-CT-Demo", "Head-Neck-PET-CT-Demo"}
    assert tcia.search("", has_ome_zarr=True) == []
    with pytest.raises(TypeError, match="colour"):
        tcia.search("", colour="red")


def test_search_asks_collection_details_only_for_candidates(tcia: TCIA, fake: FakeTCIA) -> None:
    tcia.search("lung")
    asked = [_query(r)["Collection"] for r in fake.requests_to("*/getModalityValues")]
    assert asked == [["Lung-CT-Demo"]]
    limited = TCIA(fake.api_url, enrich=1, **FAST)
    fake.clear_log()
    assert len(limited.search("")) == 1
    assert len(fake.requests_to("*/getBodyPartValues")) == 1


def test_refused_descriptions_are_asked_once_without_retries(fake: FakeTCIA) -> None:
    fake.inject("status", path="*/getCollectionDescriptions", status=500)
    tcia = TCIA(fake.api_url, **FAST)
    records = tcia.search("lung")
    assert [r.id for r in records] == ["Lung-CT-Demo"]
    assert records[0].description == ""
    assert tcia.get("Lung-CT-Demo").doi == "10.7937/TCIA.DEMO.LUNG"  # from the series
    assert len(fake.requests_to("*/getCollectionDescriptions")) == 1


# -- get and images ----------------------------------------------------------------------------


def test_get_summarises_a_collection(tcia: TCIA, fake: FakeTCIA) -> None:
    record = tcia.get("lung-ct-demo")  # any case
    assert record.id == "Lung-CT-Demo"
    assert record.image_count == 3  # series
    lung = fake.collections[0]
    assert record.size_bytes == sum(f.stat().st_size for s in lung.all_series() for f in s.files)
    assert record.license == "CC-BY-4.0"
    assert record.doi == "10.7937/TCIA.DEMO.LUNG"
    assert set(record.keywords) == {"CT", "CHEST"}
    brain = tcia.get("Brain-MR-Demo")
    assert brain.license == "CC-BY-NC-4.0"
    assert brain.imaging_methods[0].label == "magnetic resonance imaging"


def test_get_unknown_collection(tcia: TCIA) -> None:
    with pytest.raises(RecordNotFoundError, match="TCIA has no collection 'Nope'"):
        tcia.get("Nope")
    with pytest.raises(RecordNotFoundError):
        tcia.images("Nope")


def test_images_are_series_with_dicom_zip_urls(tcia: TCIA, fake: FakeTCIA) -> None:
    images = tcia.images("Lung-CT-Demo")
    lung = fake.collections[0]
    assert {i.id for i in images} == {s.uid for s in lung.all_series()}
    first = next(i for i in images if i.id == lung.patients[0].series[0].uid)
    assert isinstance(first, ImageRef)
    assert first.format == "dicom"
    assert first.zarr_url is None
    assert first.dataset_id == "Lung-CT-Demo"
    assert first.name == "LUNG-001 / CT / Chest CT"
    assert first.download_url == f"{fake.api_url}/getImage?SeriesInstanceUID={first.id}"


def test_image_zip_holds_the_series_dicom_files(tcia: TCIA, fake: FakeTCIA) -> None:
    import pydicom

    series = fake.collections[1].patients[0].series[0]
    ref = tcia.images("Brain-MR-Demo")[0]
    assert ref.download_url is not None
    response = httpx.get(ref.download_url, timeout=5)
    response.raise_for_status()
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        names = zf.namelist()
        assert len(names) == len(series.files)
        headers = [pydicom.dcmread(io.BytesIO(zf.read(n))) for n in names]
    assert {h.SeriesInstanceUID for h in headers} == {series.uid}
    assert {h.Modality for h in headers} == {"MR"}
    assert sorted(h.SOPInstanceUID for h in headers) == sorted(series.dicom.sop_uids)


def test_patients_studies_series_and_sizes(tcia: TCIA, fake: FakeTCIA) -> None:
    patients = asyncio.run(tcia.patients("Lung-CT-Demo"))
    assert [p["PatientID"] for p in patients] == ["LUNG-001", "LUNG-002"]
    studies = asyncio.run(tcia.studies("Lung-CT-Demo", "LUNG-002"))
    assert [s["SeriesCount"] for s in studies] == [2]
    refs = tcia.series("Lung-CT-Demo", patient_id="LUNG-002")
    assert len(refs) == 2
    assert all(r.dataset_id == "Lung-CT-Demo" for r in refs)
    assert tcia.series("Lung-CT-Demo", modality="MR") == []  # HTTP 204, no body
    pet = tcia.series(modality="PT")
    assert [r.dataset_id for r in pet] == ["Head-Neck-PET-CT-Demo"]
    series = fake.collections[0].patients[1].series[1]
    size, count = asyncio.run(tcia.series_size(series.uid))
    assert count == len(series.files) == 4
    assert size == sum(f.stat().st_size for f in series.files)


def test_async_twins_and_registry(fake: FakeTCIA, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIOSHARE_TCIA_URL", fake.api_url)
    monkeypatch.setenv("BIOSHARE_RETRIES", "1")
    tcia = get_repository("tcia")
    assert isinstance(tcia, TCIA)
    assert tcia.base_url == fake.api_url
    assert repr(tcia) == f"TCIA({fake.api_url!r})"

    async def main() -> tuple[list[DatasetRecord], DatasetRecord, list[ImageRef]]:
        return await asyncio.gather(
            tcia.asearch("brain"), tcia.aget("Brain-MR-Demo"), tcia.aimages("Brain-MR-Demo")
        )

    found, record, images = asyncio.run(main())
    assert [r.id for r in found] == [record.id] == ["Brain-MR-Demo"]
    assert len(images) == 1


def test_default_url_is_the_public_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BIOSHARE_TCIA_URL", raising=False)
    assert TCIA().base_url == "https://services.cancerimagingarchive.net/nbia-api/services/v1"


# -- faults ------------------------------------------------------------------------------------


def test_5xx_burst_is_retried(tcia: TCIA, fake: FakeTCIA) -> None:
    fake.inject("status", path="*/getCollectionValues", status=503, times=2)
    assert [r.id for r in tcia.search("lung")] == ["Lung-CT-Demo"]
    statuses = [r.status for r in fake.requests_to("*/getCollectionValues")]
    assert statuses == [503, 503, 200]


def test_429_retry_after_is_honoured(tcia: TCIA, fake: FakeTCIA) -> None:
    fake.inject("status", path="*/getSeries", status=429, headers={"Retry-After": "1"}, times=1)
    assert len(tcia.images("Brain-MR-Demo")) == 1
    first, second = fake.requests_to("*/getSeries")
    assert (first.status, second.status) == (429, 200)
    assert second.t_arrival - first.t_arrival >= 0.9


def test_dropped_connection_is_retried(tcia: TCIA, fake: FakeTCIA) -> None:
    fake.inject("drop", path="*/getModalityValues", times=1)
    assert tcia.get("Brain-MR-Demo").keywords == ("MR", "BRAIN")
    assert len(fake.requests_to("*/getModalityValues")) == 2


def test_malformed_json_names_the_url(tcia: TCIA, fake: FakeTCIA) -> None:
    fake.inject("malformed", path="*/getSeries", times=1)
    with pytest.raises(RepositoryError, match=r"/nbia-api/services/v1/getSeries.*invalid JSON"):
        tcia.images("Lung-CT-Demo")


def test_unexpected_shapes_name_url_and_field(tcia: TCIA, fake: FakeTCIA) -> None:
    fake.inject("status", path="*/getCollectionValues", status=200, body={"a": 1}, times=1)
    with pytest.raises(RepositoryError, match=r"getCollectionValues answered dict; expected"):
        tcia.search("")
    fake.inject("status", path="*/getCollectionValues", status=200, body=[{"Name": 1}], times=1)
    with pytest.raises(
        RepositoryError, match=r"getCollectionValues \[0\] has no string 'Collection'"
    ):
        tcia.search("")


def test_persistent_503_names_tcia_and_url(tcia: TCIA, fake: FakeTCIA) -> None:
    fake.inject("status", path="*/getSeries", status=503)
    with pytest.raises(ApiError) as info:
        tcia.images("Lung-CT-Demo")
    assert str(info.value).startswith("TCIA: HTTP 503")
    assert f"{fake.api_url}/getSeries" in str(info.value)
    assert len(fake.requests_to("*/getSeries")) == 3


def test_403_is_access_denied_without_retrying(tcia: TCIA, fake: FakeTCIA) -> None:
    from bioshare.errors import AccessDeniedError

    fake.inject("status", path="*/getSeries", status=403, body={"message": "restricted"}, times=1)
    with pytest.raises(AccessDeniedError, match=r"HTTP 403.*restricted"):
        tcia.images("Lung-CT-Demo")
    assert len(fake.requests_to("*/getSeries")) == 1


def test_hang_times_out(fake: FakeTCIA) -> None:
    tcia = TCIA(fake.api_url, timeout=0.3, retries=1, backoff=0.01)
    fake.inject("hang", path="*/getSeries")
    started = time.monotonic()
    with pytest.raises(ApiError, match=r"TCIA: could not reach .*/getSeries after 2 attempt"):
        tcia.images("Lung-CT-Demo")
    assert time.monotonic() - started < 3


def test_search_in_the_federation(fake: FakeTCIA, tmp_path: Path) -> None:
    import bioshare

    results = bioshare.search("lung", repositories=[TCIA(fake.api_url, **FAST)])
    assert results.errors == []
    assert [r.id for r in results] == ["Lung-CT-Demo"]
    assert results.to_dataframe().loc[0, "imaging_methods"] == "X-ray computed tomography"


def test_a_series_opens_as_xarray_in_millimetres(tcia: TCIA, fake: FakeTCIA) -> None:
    import numpy as np

    series = fake.collections[0].patients[0].series[0]
    ref = next(i for i in tcia.images("Lung-CT-Demo") if i.id == series.uid)
    data = ref.open()
    assert data.dims == ("z", "y", "x")
    assert data.attrs["modality"] == "CT"
    assert data.attrs["series_uid"] == series.uid
    np.testing.assert_allclose(np.asarray(data, dtype=float), series.dicom.volume)
    np.testing.assert_allclose(data["z"].values, series.dicom.z)
    np.testing.assert_allclose(data["x"].values, series.dicom.x)


def test_the_browser_lists_and_opens_tcia_series(fake: FakeTCIA) -> None:
    from bioshare.widgets import Browser

    shown: list[Any] = []
    tcia = TCIA(fake.api_url, **FAST)
    widget = Browser([tcia], viewer=lambda data: shown.append(data) or "viewer")
    widget.search("brain")
    assert widget.wait(10)
    assert [(r["repository"], r["id"]) for r in widget.results] == [("tcia", "Brain-MR-Demo")]
    ref = widget.open_image("tcia", "Brain-MR-Demo")
    assert widget.error == ""
    assert ref.format == "dicom"
    assert widget.selected == ref
    (data,) = shown
    assert data.dims == ("z", "y", "x")
    assert data.shape == (8, 16, 12)
