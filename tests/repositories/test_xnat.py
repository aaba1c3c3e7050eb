"""The XNAT adapter against a local fake XNAT (REST API, logins, alias tokens, files)."""

from __future__ import annotations

import asyncio
import io
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fakes.xnat import MOVED, FakeFront, FakeXNAT, XNATProject, seed

from bioshare._http import ApiError
from bioshare.errors import AccessDeniedError
from bioshare.repositories import DatasetRecord, ImageRef, RecordNotFoundError, RepositoryError
from bioshare.repositories.registry import default_repositories, get_repository
from bioshare.repositories.xnat import XNAT, session_modality

FAST: dict[str, Any] = {"timeout": 2.0, "retries": 2, "backoff": 0.01}
PASSWORD = "wonderland"


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> list[XNATProject]:
    return seed(tmp_path_factory.mktemp("xnat"))


@pytest.fixture(scope="module")
def server(projects: list[XNATProject]) -> Iterator[FakeXNAT]:
    with FakeXNAT(projects) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeXNAT, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeXNAT]:
    for name in ("XNAT_USER", "XNAT_PASSWORD", "XNAT_JSESSIONID", "BIOSHARE_XNAT_URL"):
        monkeypatch.delenv(name, raising=False)
    server.clear_faults()
    server.clear_log()
    server.require_login = False
    server.redirect_reads = False
    yield server
    server.clear_faults()
    server.redirect_reads = False


@pytest.fixture
def xnat(fake: FakeXNAT) -> XNAT:
    return XNAT(fake.url, **FAST)


@pytest.fixture
def alice(fake: FakeXNAT) -> XNAT:
    return XNAT(fake.url, user="alice", password=PASSWORD, **FAST)


def _download(url: str, options: dict[str, Any] | None = None) -> bytes:
    with httpx.Client(cookies=(options or {}).get("cookies"), timeout=5) as client:
        response = client.get(url)
    response.raise_for_status()
    return response.content


def _session_of(fake: FakeXNAT) -> str:
    alias, secret = fake.issue_token("alice")
    return httpx.post(f"{fake.url}/data/JSESSION", auth=(alias, secret)).text


def test_session_types_map_to_modalities() -> None:
    assert session_modality("xnat:mrSessionData") == "MR"
    assert session_modality("xnat:ctSessionData") == "CT"
    assert session_modality("xnat:petSessionData") == "PT"
    assert session_modality("xnat:ctScanData") == "CT"
    assert session_modality("xnat:subjectData") is None


# -- anonymous ---------------------------------------------------------------------------------


def test_anonymous_search_sees_public_projects_with_methods(xnat: XNAT) -> None:
    records = xnat.search("")
    assert {r.id for r in records} == {"BRAINMR", "CHESTCT"}
    assert all(isinstance(r, DatasetRecord) and r.repository == "xnat" for r in records)
    by_id = {r.id: r for r in records}
    assert [t.label for t in by_id["BRAINMR"].imaging_methods] == ["magnetic resonance imaging"]
    assert [t.curie for t in by_id["CHESTCT"].imaging_methods] == ["FBbi:00001002"]
    assert by_id["CHESTCT"].authors == ("Hopper, Grace",)
    assert not by_id["BRAINMR"].has_ome_zarr


def test_search_ranks_and_filters(xnat: XNAT) -> None:
    records = xnat.search("brain volunteers")
    assert [r.id for r in records] == ["BRAINMR"]
    assert 0 < records[0].score <= 1
    assert [r.id for r in xnat.search("thoracic")] == ["CHESTCT"]  # description only
    assert xnat.search("xylophone") == []
    assert [r.id for r in xnat.search("", modality="ct")] == ["CHESTCT"]
    assert [r.id for r in xnat.search("", imaging_method="computed tomography")] == ["CHESTCT"]
    mri = xnat.search("", imaging_method="magnetic resonance imaging")
    assert [r.id for r in mri] == ["BRAINMR"]
    assert xnat.search("", has_ome_zarr=True) == []
    with pytest.raises(TypeError, match="colour"):
        xnat.search("", colour="red")


def test_requests_ask_for_json(xnat: XNAT, fake: FakeXNAT) -> None:
    xnat.search("brain")
    assert fake.log
    assert all("format=json" in r.query for r in fake.log)
    assert all("Authorization" not in r.headers for r in fake.log)


def test_get_a_project(xnat: XNAT) -> None:
    record = xnat.get("BRAINMR")
    assert record.title == "Brain MRI of healthy volunteers"
    assert record.description.startswith("Structural T1-weighted")
    assert record.keywords == ("brain", "neuroimaging", "volunteers", "MR")
    assert record.authors == ("Lovelace, Ada",)
    assert record.url.endswith("/data/projects/BRAINMR")
    assert record.imaging_methods[0].label == "magnetic resonance imaging"


def test_unknown_and_private_projects(xnat: XNAT, fake: FakeXNAT) -> None:
    with pytest.raises(RecordNotFoundError, match=r"has no project 'NOPE'"):
        xnat.get("NOPE")
    with pytest.raises(AccessDeniedError, match=r"HTTP 403.*set XNAT_USER and XNAT_PASSWORD"):
        xnat.get("PRIVMR")
    with pytest.raises(RecordNotFoundError):
        xnat.images("a/b")


def test_images_are_the_dicom_and_nifti_resources(xnat: XNAT, projects: list[XNATProject]) -> None:
    images = xnat.images("BRAINMR")
    assert sorted(i.id for i in images) == [
        "XNAT_E00001/1/DICOM",
        "XNAT_E00001/2/DICOM",
        "XNAT_E00001/2/NIFTI",
    ]  # SNAPSHOTS are not images
    assert all(isinstance(i, ImageRef) and i.dataset_id == "BRAINMR" for i in images)
    t1 = next(i for i in images if i.id == "XNAT_E00001/1/DICOM")
    assert t1.format == "dicom"
    assert t1.zarr_url is None
    assert t1.name == "S01_MR1 scan 1 T1w MPRAGE (DICOM)"
    assert t1.download_url == (
        f"{xnat.base_url}/data/experiments/XNAT_E00001/scans/1/resources/DICOM/files?format=zip"
    )
    assert t1.storage_options is None  # anonymous


def test_dicom_zip_holds_the_scan_series(xnat: XNAT, projects: list[XNATProject]) -> None:
    import pydicom

    series = projects[0].experiments[0].scans[0].dicom
    assert series is not None
    ref = next(i for i in xnat.images("BRAINMR") if i.id == "XNAT_E00001/1/DICOM")
    assert ref.download_url is not None
    with zipfile.ZipFile(io.BytesIO(_download(ref.download_url))) as zf:
        headers = [pydicom.dcmread(io.BytesIO(zf.read(n))) for n in zf.namelist()]
    assert {h.SeriesInstanceUID for h in headers} == {series.series_uid}
    assert sorted(h.SOPInstanceUID for h in headers) == sorted(series.sop_uids)


def test_nifti_url_is_the_file(xnat: XNAT, projects: list[XNATProject]) -> None:
    nifti = projects[0].experiments[0].scans[1].nifti
    assert nifti is not None
    ref = next(i for i in xnat.images("BRAINMR") if i.format == "nifti")
    assert ref.download_url is not None
    assert ref.download_url.endswith("/files/flair.nii.gz")
    assert _download(ref.download_url) == nifti.path.read_bytes()


# -- authentication ----------------------------------------------------------------------------


def test_login_opens_one_session_and_sends_its_cookie(alice: XNAT, fake: FakeXNAT) -> None:
    before = fake.logins
    assert {r.id for r in alice.search("")} == {"BRAINMR", "CHESTCT", "PRIVMR"}
    assert alice.get("PRIVMR").title == "Private knee MRI"
    assert fake.logins == before + 1
    assert [r.method for r in fake.requests_to("/data/JSESSION")] == ["POST"]
    reads = [r for r in fake.log if r.method == "GET"]
    assert reads
    assert all("JSESSIONID=" in r.headers.get("Cookie", "") for r in reads)
    assert all("Authorization" not in r.headers for r in reads)
    assert alice.authenticated


def test_private_scans_download_with_the_session(alice: XNAT, projects: list[XNATProject]) -> None:
    (ref,) = alice.images("PRIVMR")
    assert ref.storage_options is not None
    assert set(ref.storage_options) == {"cookies"}  # a Cookie header is lost on redirects
    assert list(ref.storage_options["cookies"]) == ["JSESSIONID"]
    assert PASSWORD not in repr(ref)
    assert "JSESSIONID" not in repr(ref)
    assert ref.download_url is not None
    with pytest.raises(httpx.HTTPStatusError):
        _download(ref.download_url)  # anonymous: refused
    blob = _download(ref.download_url, ref.storage_options)
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        assert len(zf.namelist()) == 3


def test_the_session_is_not_given_to_another_host(alice: XNAT, fake: FakeXNAT) -> None:
    elsewhere = "http://files.example.org/flair.nii.gz"
    row = {"Name": "flair.nii.gz", "Size": "352", "URI": elsewhere}
    listing = {"ResultSet": {"Result": [row], "totalRecords": "1"}}
    fake.inject("status", path="*/resources/NIFTI/files", status=200, body=listing, times=1)
    images = {i.id: i for i in alice.images("BRAINMR")}
    assert images["XNAT_E00001/2/NIFTI"].download_url == elsewhere
    assert images["XNAT_E00001/2/NIFTI"].storage_options is None
    assert images["XNAT_E00001/1/DICOM"].storage_options is not None  # on the server


def test_alias_token_works_as_user_and_secret(fake: FakeXNAT) -> None:
    alias, secret = fake.issue_token("alice")
    xnat = XNAT(fake.url, user=alias, password=secret, **FAST)
    assert "PRIVMR" in {r.id for r in xnat.search("")}
    assert secret not in repr(xnat)


def test_credentials_from_the_environment(fake: FakeXNAT, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XNAT_USER", "alice")
    monkeypatch.setenv("XNAT_PASSWORD", PASSWORD)
    monkeypatch.setenv("BIOSHARE_XNAT_URL", fake.url)
    xnat = get_repository("xnat", retries=1)
    assert isinstance(xnat, XNAT)
    assert xnat.name == "xnat"
    assert xnat.base_url == fake.url
    assert PASSWORD not in repr(xnat)
    assert "PRIVMR" in {r.id for r in xnat.search("knee")}


def test_wrong_password_is_refused_without_showing_it(fake: FakeXNAT) -> None:
    xnat = XNAT(fake.url, user="alice", password="not-the-password", **FAST)
    with pytest.raises(AccessDeniedError) as info:
        xnat.search("")
    message = str(info.value)
    assert info.value.status == 401
    assert "refused the login of user 'alice'" in message
    assert "/data/JSESSION" in message
    assert "not-the-password" not in message
    assert len(fake.requests_to("/data/JSESSION")) == 1  # a 401 is not retried


def test_an_expired_session_is_renewed(alice: XNAT, fake: FakeXNAT) -> None:
    alice.get("PRIVMR")
    fake.expire_sessions()
    assert alice.get("PRIVMR").id == "PRIVMR"
    assert len(fake.requests_to("/data/JSESSION")) == 2


def test_an_expired_given_session_is_refused_with_its_status(fake: FakeXNAT) -> None:
    xnat = XNAT(fake.url, jsession=_session_of(fake), **FAST)
    xnat.get("PRIVMR")
    fake.expire_sessions()  # no credentials to renew it with
    with pytest.raises(AccessDeniedError, match=r"HTTP 401.*session has expired") as info:
        xnat.get("PRIVMR")
    assert info.value.status == 401
    assert len(fake.requests_to("/data/JSESSION")) == 1  # the test's own login only


def test_a_403_is_not_taken_for_an_expired_session(alice: XNAT, fake: FakeXNAT) -> None:
    alice.get("BRAINMR")
    fake.clear_log()
    fake.inject("status", path="/data/projects/PRIVMR", status=403, times=1)
    with pytest.raises(AccessDeniedError) as info:
        alice.get("PRIVMR")
    assert info.value.status == 403
    assert "HTTP 403" in str(info.value)
    assert not fake.requests_to("/data/JSESSION")  # no new login for a refusal


def test_a_given_session_is_used_as_is(fake: FakeXNAT) -> None:
    session = _session_of(fake)
    xnat = XNAT(fake.url, jsession=session, **FAST)
    assert xnat.get("PRIVMR").id == "PRIVMR"
    assert session not in repr(xnat)


def test_servers_that_require_a_login_say_so(xnat: XNAT, fake: FakeXNAT) -> None:
    fake.require_login = True
    with pytest.raises(AccessDeniedError, match=r"HTTP 401.*needs a login") as info:
        xnat.search("")
    assert info.value.status == 401


# -- redirects ---------------------------------------------------------------------------------


def test_the_session_follows_a_redirect_on_the_server(alice: XNAT, fake: FakeXNAT) -> None:
    fake.redirect_reads = True
    assert {r.id for r in alice.search("")} == {"BRAINMR", "CHESTCT", "PRIVMR"}
    assert alice.get("PRIVMR").title == "Private knee MRI"
    (knee,) = alice.images("PRIVMR")
    assert knee.download_url is not None
    assert knee.download_url.startswith(f"{fake.url}/data/")  # the address that redirects
    assert knee.open().shape == (3, 16, 12)  # the private zip, downloaded after a 302
    moved = [r for r in fake.log if r.method == "GET" and r.status == 302]
    assert {r.path for r in moved} >= {"/data/projects", "/data/projects/PRIVMR"}
    assert any(r.path.endswith("/DICOM/files") for r in moved)  # the download
    served = [r for r in fake.log if r.path.startswith(f"{MOVED}/data/")]
    assert len(served) == len(moved)
    assert all(r.status == 200 for r in served)
    assert all("JSESSIONID=" in r.headers.get("Cookie", "") for r in served)


def test_the_session_follows_an_http_front_to_the_server(fake: FakeXNAT) -> None:
    session = _session_of(fake)
    with FakeFront(fake.url) as front:
        xnat = XNAT(front.url, jsession=session, **FAST)
        assert "PRIVMR" in {r.id for r in xnat.search("")}  # anonymous would not see it
        (knee,) = xnat.images("PRIVMR")
        assert knee.download_url is not None
        assert knee.download_url.startswith(front.url)
        assert knee.open().shape == (3, 16, 12)
        assert front.log
        assert all(r.status == 301 for r in front.log)
    reads = [r for r in fake.log if r.method == "GET"]
    assert len(reads) == len(front.log)
    assert all(r.headers.get("Cookie") == f"JSESSIONID={session}" for r in reads)


def test_a_redirect_leaves_no_session_in_messages(fake: FakeXNAT) -> None:
    session = _session_of(fake)
    fake.redirect_reads = True
    xnat = XNAT(fake.url, jsession=session, **FAST)
    fake.inject("status", path=f"{MOVED}/data/projects/PRIVMR", status=500)
    with pytest.raises(ApiError) as info:
        xnat.get("PRIVMR")
    assert f"{MOVED}/data/projects/PRIVMR" in str(info.value)
    assert session not in str(info.value)
    assert session not in repr(xnat)


# -- registry ----------------------------------------------------------------------------------


def test_registry_names_servers_by_url(fake: FakeXNAT, monkeypatch: pytest.MonkeyPatch) -> None:
    xnat = get_repository(f"xnat:{fake.url}")
    assert isinstance(xnat, XNAT)
    assert xnat.name == f"xnat:{fake.url}"
    assert {r.repository for r in xnat.search("")} == {f"xnat:{fake.url}"}
    with pytest.raises(ValueError, match="BIOSHARE_XNAT_URL"):
        get_repository("xnat")
    assert "xnat" not in default_repositories()
    monkeypatch.setenv("BIOSHARE_XNAT_URL", fake.url)
    assert default_repositories()[-1] == "xnat"


def test_federated_search_with_a_configured_server(
    fake: FakeXNAT, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bioshare

    monkeypatch.setenv("BIOSHARE_XNAT_URL", fake.url)
    results = bioshare.search("brain", repositories=["xnat"])
    assert results.errors == []
    assert [(r.repository, r.id) for r in results] == [("xnat", "BRAINMR")]


def test_async_twins(xnat: XNAT) -> None:
    async def main() -> Any:
        return await asyncio.gather(
            xnat.asearch("chest"), xnat.aget("CHESTCT"), xnat.aimages("CHESTCT")
        )

    found, record, images = asyncio.run(main())
    assert [r.id for r in found] == [record.id] == ["CHESTCT"]
    assert [i.id for i in images] == ["XNAT_E00002/3/DICOM"]


# -- faults ------------------------------------------------------------------------------------


def test_5xx_burst_is_retried(xnat: XNAT, fake: FakeXNAT) -> None:
    fake.inject("status", path="/data/projects", status=502, times=2)
    assert len(xnat.search("")) == 2
    assert [r.status for r in fake.requests_to("/data/projects")] == [502, 502, 200]


def test_429_retry_after_is_honoured(xnat: XNAT, fake: FakeXNAT) -> None:
    fake.inject("status", path="*/scans", status=429, headers={"Retry-After": "1"}, times=1)
    assert len(xnat.images("CHESTCT")) == 1
    first, second = fake.requests_to("*/scans")
    assert (first.status, second.status) == (429, 200)
    assert second.t_arrival - first.t_arrival >= 0.9


def test_dropped_connection_is_retried(xnat: XNAT, fake: FakeXNAT) -> None:
    fake.inject("drop", path="*/resources", times=1)
    assert len(xnat.images("CHESTCT")) == 1
    assert len(fake.requests_to("*/resources")) == 2


def test_malformed_json_names_the_url(xnat: XNAT, fake: FakeXNAT) -> None:
    fake.inject("malformed", path="/data/projects/CHESTCT/experiments", times=1)
    with pytest.raises(RepositoryError, match=r"/data/projects/CHESTCT/experiments.*invalid JSON"):
        xnat.images("CHESTCT")


def test_missing_result_set_names_url_and_field(xnat: XNAT, fake: FakeXNAT) -> None:
    fake.inject("status", path="/data/projects", status=200, body={"items": []}, times=1)
    with pytest.raises(
        RepositoryError, match=r"/data/projects answered without 'ResultSet\.Result'"
    ):
        xnat.search("")
    fake.inject("status", path="/data/projects/BRAINMR", status=200, body={"x": 1}, times=1)
    with pytest.raises(RepositoryError, match=r"items\[0\]\.data_fields"):
        xnat.get("BRAINMR")


def test_persistent_503_names_the_server_and_url(xnat: XNAT, fake: FakeXNAT) -> None:
    fake.inject("status", path="/data/projects", status=503)
    with pytest.raises(ApiError) as info:
        xnat.search("")
    assert str(info.value).startswith(f"XNAT server {fake.url}: HTTP 503")
    assert f"{fake.url}/data/projects" in str(info.value)
    assert len(fake.requests_to("/data/projects")) == 3


def test_hang_times_out(fake: FakeXNAT) -> None:
    xnat = XNAT(fake.url, timeout=0.3, retries=1, backoff=0.01)
    fake.inject("hang", path="/data/projects")
    started = time.monotonic()
    with pytest.raises(ApiError, match=r"could not reach .*/data/projects after 2 attempt"):
        xnat.search("")
    assert time.monotonic() - started < 3


def test_scans_open_as_xarray(alice: XNAT, projects: list[XNATProject]) -> None:
    import numpy as np

    brain = projects[0].experiments[0].scans
    images = {i.id: i for i in alice.images("BRAINMR")}
    t1 = images["XNAT_E00001/1/DICOM"].open()
    assert brain[0].dicom is not None
    np.testing.assert_allclose(np.asarray(t1, dtype=float), brain[0].dicom.volume)
    np.testing.assert_allclose(t1["y"].values, brain[0].dicom.y)
    flair = images["XNAT_E00001/2/NIFTI"].open()
    assert brain[1].nifti is not None
    np.testing.assert_allclose(np.asarray(flair, dtype=float), brain[1].nifti.data)
    (knee,) = alice.images("PRIVMR")  # private: the session travels in storage_options
    assert knee.open().shape == (3, 16, 12)


def test_protected_projects_are_listed_without_their_sessions(xnat: XNAT, fake: FakeXNAT) -> None:
    private = fake.projects["PRIVMR"]
    private.protected = True
    try:
        records = {r.id: r for r in xnat.search("")}
        assert records["PRIVMR"].imaging_methods == ()  # its sessions answered 403
        assert records["BRAINMR"].imaging_methods  # the others are complete
        assert xnat.get("BRAINMR").id == "BRAINMR"
        with pytest.raises(AccessDeniedError, match="needs a login"):
            xnat.images("PRIVMR")
    finally:
        private.protected = False
