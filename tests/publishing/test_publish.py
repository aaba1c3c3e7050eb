"""`bioshare.publish` end to end: local, Zenodo, InvenioRDM and DataCite, against fakes."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.datacite_api import FakeDataCite
from fakes.invenio import FakeInvenio

import bioshare
from bioshare._http import ApiClient, ApiError
from bioshare.errors import AccessDeniedError, MetadataError
from bioshare.metadata import Study
from bioshare.publishing.invenio import ChecksumError
from bioshare.publishing.publication import Publication, PublishPlan
from bioshare.server import BackgroundServer

TOKEN = "secret-token"
REPO = Path(__file__).resolve().parents[2]


def make_study(**changes: object) -> Study:
    values: dict[str, object] = {
        "title": "Dividing nuclei in 3D",
        "description": "Synthetic time-lapse of dividing nuclei with labels.",
        "licence": "CC BY 4.0",
        "release_date": "2025-01-15",
        "keyword": ["mitosis"],
        "author": [
            {
                "display_name": "Ada Lovelace",
                "contact_email": "ada@example.org",
                "orcid": "0000-0002-1825-0097",
            }
        ],
    }
    return Study(**(values | changes))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bioshare.demo import build_demo

    root = tmp_path_factory.mktemp("publish-demo")
    build_demo(root)
    return root


@pytest.fixture
def dataset(demo: Path, tmp_path: Path) -> Path:
    """A folder with two small OME-Zarr images, private to the test."""
    folder = tmp_path / "dataset"
    folder.mkdir()
    shutil.copytree(demo / "v0.5" / "cells.ome.zarr", folder / "cells.ome.zarr")
    shutil.copytree(demo / "v0.4" / "ihc.ome.zarr", folder / "ihc.ome.zarr")
    return folder


@pytest.fixture
def zenodo(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeInvenio]:
    with FakeInvenio(flavour="zenodo", token=TOKEN) as fake:
        monkeypatch.setenv("BIOSHARE_ZENODO_SANDBOX_URL", fake.url)
        monkeypatch.setenv("BIOSHARE_RETRIES", "3")
        monkeypatch.delenv("ZENODO_SANDBOX_TOKEN", raising=False)
        yield fake
        fake.clear_faults()


def content_puts(fake: FakeInvenio, name: str) -> int:
    return sum(
        1 for r in fake.log if r.method == "PUT" and r.path.endswith(f"/draft/files/{name}/content")
    )


# -- local ------------------------------------------------------------------------------------


def test_local_publication_is_served_searchable_and_streams(demo, tmp_path, monkeypatch):
    root = tmp_path / "served"
    root.mkdir()
    with BackgroundServer(root) as server:
        monkeypatch.setenv("BIOSHARE_LOCAL_URL", server.url)
        source = demo / "v0.5" / "mitosis.ome.zarr"
        publication = bioshare.publish(source, make_study(), local_root=root, progress=False)
        assert isinstance(publication, Publication)
        assert publication.target == "local"
        assert publication.doi is None
        assert publication.record_id.startswith("local:published-dividing-nuclei-in-3d-")
        assert (Path(publication.path) / "ro-crate-metadata.json").is_file()
        assert [f.name for f in publication.files] == ["mitosis.ome.zarr"]
        image = bioshare.open_image(publication.url)
        assert image.shape == bioshare.open_image(source).shape
        assert "Ada Lovelace (2025). Dividing nuclei in 3D." in publication.citation()

        def found() -> list[str]:
            results = bioshare.search("dividing nuclei 3D", repositories=["local"])
            return [r.id for r in results if r.id.startswith("published-")]

        deadline = time.monotonic() + 10
        while not found() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert found() == [f"{publication.record_id.removeprefix('local:')}/mitosis.ome.zarr"]
        again = bioshare.publish(source, make_study(), local_root=root, progress=False)
        assert again == publication
        assert len([p for p in root.iterdir() if p.name.startswith("published-")]) == 1


def test_local_needs_a_folder(demo, monkeypatch):
    monkeypatch.delenv("BIOSHARE_LOCAL_ROOT", raising=False)
    with pytest.raises(Exception, match="no local repository to publish to"):
        bioshare.publish(demo / "v0.5" / "cells.ome.zarr", make_study(), progress=False)


# -- Zenodo -------------------------------------------------------------------------------------


def test_zenodo_end_to_end_and_stream_back(dataset, zenodo):
    publication = bioshare.publish(
        dataset, make_study(), target="zenodo", token=TOKEN, progress=False
    )
    assert publication.target == "zenodo"
    assert publication.doi == f"10.5072/zenodo.{publication.record_id}"
    assert publication.concept_doi
    names = sorted(f.name for f in publication.files)
    assert names == ["cells.ome.zarr.zip", "ihc.ome.zarr.zip", "ro-crate-metadata.json"]
    assert zenodo.drafts_created == 1
    assert all(
        r.headers.get("Content-Type") == "application/octet-stream"
        for r in zenodo.log
        if r.method == "PUT" and r.path.endswith("/content")
    )
    url = f"{zenodo.url}/api/records/{publication.record_id}/files/cells.ome.zarr.zip/content"
    streamed = bioshare.open_image(url)
    local = bioshare.open_image(dataset / "cells.ome.zarr")
    assert (streamed.values == local.values).all()
    crate = zenodo.stored_path(publication.record_id, "ro-crate-metadata.json").read_text()
    assert publication.doi in crate  # the DOI was reserved before the crate was written


def test_publishing_twice_is_idempotent(dataset, zenodo):
    first = bioshare.publish(dataset, make_study(), target="zenodo", token=TOKEN, progress=False)
    second = bioshare.publish(dataset, make_study(), target="zenodo", token=TOKEN, progress=False)
    assert second.doi == first.doi
    assert zenodo.drafts_created == 1
    assert len(zenodo.records) == 1
    (dataset / "cells.ome.zarr" / "zarr.json").touch()  # changed data: said, not re-published
    (dataset / "notes.txt").write_text("new")
    with pytest.raises(Exception, match="new_version_of="):
        bioshare.publish(dataset, make_study(), target="zenodo", token=TOKEN, progress=False)


def test_new_version_carries_unchanged_files_over(dataset, zenodo):
    first = bioshare.publish(dataset, make_study(), target="zenodo", token=TOKEN, progress=False)
    (dataset / "README.txt").write_text("second version")
    second = bioshare.publish(
        dataset,
        make_study(),
        target="zenodo",
        token=TOKEN,
        progress=False,
        new_version_of=first.doi,
    )
    assert second.record_id != first.record_id
    assert second.concept_doi == first.concept_doi
    assert "README.txt" in {f.name for f in second.files}
    assert content_puts(zenodo, "cells.ome.zarr.zip") == 1  # imported, not uploaded again
    assert content_puts(zenodo, "README.txt") == 1


def test_dry_run_touches_no_network(dataset, zenodo):
    plan = bioshare.publish(dataset, make_study(), target="zenodo", dry_run=True, progress=False)
    assert isinstance(plan, PublishPlan)
    assert zenodo.log == []
    assert [f.name for f in plan.files] == ["cells.ome.zarr.zip", "ihc.ome.zarr.zip"]
    assert plan.metadata["metadata"]["title"] == "Dividing nuclei in 3D"
    assert "cells.ome.zarr.zip" in str(plan)
    published = bioshare.publish(
        dataset, make_study(), target="zenodo", token=TOKEN, progress=False
    )
    md5 = {f.name: f.md5 for f in published.files}
    assert all(md5[f.name] == f.md5 for f in plan.files)


def test_faults_are_retried(dataset, zenodo):
    zenodo.throttle(times=1, retry_after=0)
    zenodo.inject("status", status=503, times=2)
    zenodo.drop_mid_upload(times=1)
    zenodo.corrupt_checksum(times=1)
    publication = bioshare.publish(
        dataset, make_study(), target="zenodo", token=TOKEN, progress=False
    )
    stored = zenodo.stored_path(publication.record_id, "cells.ome.zarr.zip").read_bytes()
    import hashlib

    expected = {f.name: f.md5 for f in publication.files}["cells.ome.zarr.zip"]
    assert hashlib.md5(stored).hexdigest() == expected


def test_a_checksum_that_never_matches_is_a_clear_error(dataset, zenodo):
    zenodo.corrupt_checksum(times=10)
    with pytest.raises(
        ChecksumError, match=r"stored cells\.ome\.zarr\.zip with md5 \w+, but .*\(tried 2 times\)"
    ):
        bioshare.publish(dataset, make_study(), target="zenodo", token=TOKEN, progress=False)
    assert zenodo.records == {}


def test_resume_after_the_process_was_killed(dataset, zenodo, tmp_path):
    """Kill a publish while it uploads the second file; the next call finishes the job."""
    zenodo.inject("hang", path="*/draft/files/ihc.ome.zarr.zip/content")
    script = (
        "import bioshare, sys\n"
        "from bioshare.metadata import Study\n"
        f"study = Study.model_validate_json({make_study().model_dump_json()!r})\n"
        f"bioshare.publish({str(dataset)!r}, study, target='zenodo', progress=False)\n"
    )
    env = os.environ | {"ZENODO_SANDBOX_TOKEN": TOKEN}
    log = tmp_path / "child.log"
    with log.open("w") as out:
        child = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 120
        while zenodo.faults_triggered == 0:  # the upload of the second file is hanging
            assert child.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the upload never started"
            time.sleep(0.1)
    finally:
        child.kill()
        child.wait(timeout=30)
    zenodo.clear_faults()
    publication = bioshare.publish(
        dataset, make_study(), target="zenodo", token=TOKEN, progress=False
    )
    assert zenodo.drafts_created == 1
    assert len(zenodo.records) == 1
    assert content_puts(zenodo, "cells.ome.zarr.zip") == 1  # finished before the kill
    assert publication.doi


# -- other InvenioRDM instances and DataCite -----------------------------------------------------


def test_any_invenio_instance(dataset, monkeypatch):
    with FakeInvenio(flavour="invenio", token=TOKEN) as fake:
        monkeypatch.setenv("INVENIO_TOKEN", TOKEN)
        publication = bioshare.publish(
            dataset, make_study(), target=f"invenio:{fake.url}", progress=False
        )
        assert publication.target == f"invenio:{fake.url}"
        assert publication.doi.startswith("10.1234/")
        assert fake.records[publication.record_id]


def test_datacite_registers_a_findable_doi(dataset, monkeypatch):
    with FakeDataCite(username="BIOSHARE.TEST", password="pw-123", prefix="10.80001") as fake:
        monkeypatch.setenv("BIOSHARE_DATACITE_TEST_URL", fake.url)
        monkeypatch.setenv("DATACITE_USERNAME", "BIOSHARE.TEST")
        monkeypatch.setenv("DATACITE_PASSWORD", "pw-123")
        monkeypatch.setenv("DATACITE_PREFIX", "10.80001")
        landing = "http://127.0.0.1:8765/cells.ome.zarr"
        publication = bioshare.publish(
            dataset, make_study(), target="datacite", url=landing, progress=False
        )
        assert publication.doi.startswith("10.80001/")
        assert fake.state(publication.doi) == "findable"
        again = bioshare.publish(
            dataset, make_study(), target="datacite", url=landing, progress=False
        )
        assert again.doi == publication.doi
        assert len(fake.records) == 1
        with pytest.raises(ValueError, match="pass url="):
            bioshare.publish(dataset, make_study(), target="datacite", progress=False)


# -- inputs and secrets --------------------------------------------------------------------------


def test_missing_metadata_and_token_are_clear(dataset, zenodo):
    with pytest.raises(MetadataError, match="needs metadata that is missing: description"):
        bioshare.publish(
            dataset, make_study(description=None), target="zenodo", token=TOKEN, progress=False
        )
    with pytest.raises(AccessDeniedError, match="set ZENODO_SANDBOX_TOKEN"):
        bioshare.publish(dataset, make_study(), target="zenodo", progress=False)
    with pytest.raises(ValueError, match="unknown publishing target 'figshare'"):
        bioshare.publish(dataset, make_study(), target="figshare", progress=False)


def test_metadata_from_a_spreadsheet(dataset, zenodo, tmp_path):
    sheet = make_study().to_spreadsheet(tmp_path / "meta.xlsx")
    publication = bioshare.publish(dataset, sheet, target="zenodo", token=TOKEN, progress=False)
    assert publication.title == "Dividing nuclei in 3D"


def test_the_token_appears_nowhere(dataset, zenodo, caplog, capsys, tmp_path):
    from bioshare import config

    caplog.set_level(logging.DEBUG)
    errors = []
    zenodo.inject("status", status=500, path="*/actions/publish")  # a failing run first
    try:
        bioshare.publish(dataset, make_study(), target="zenodo", token=TOKEN, progress=True)
    except Exception as exc:
        errors.append(f"{exc!s} {exc!r}")
    zenodo.clear_faults()
    publication = bioshare.publish(
        dataset, make_study(), target="zenodo", token=TOKEN, progress=True
    )
    out, err = capsys.readouterr()
    texts = [out, err, caplog.text, repr(publication), str(publication), *errors]
    for path in config.cache_dir().rglob("*"):
        if path.is_file():
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    record = publication.record_id
    for key in ("cells.ome.zarr.zip", "ro-crate-metadata.json"):
        texts.append(zenodo.stored_path(record, key).read_bytes().decode("utf-8", "replace"))
    assert errors, "the first run should have failed"
    assert not [t for t in texts if TOKEN in t]
    assert all("access_token" not in r.query for r in zenodo.log)


def test_credentials_are_dropped_on_a_redirect_to_another_host(dataset, zenodo):
    with FakeInvenio(flavour="zenodo", token=TOKEN) as other:
        zenodo.redirect_to(other.url)
        with pytest.raises(ApiError, match=r"redirected POST .* to http://127\.0\.0\.1:\d+/api/"):
            bioshare.publish(dataset, make_study(), target="zenodo", token=TOKEN, progress=False)
        assert other.log == []  # a write is never sent on to another host
        client = ApiClient(zenodo.url, headers={"Authorization": f"Bearer {TOKEN}"})
        client.get_json("/api/records")  # a read follows the redirect, without the token
        assert other.log
        assert all("Authorization" not in r.headers for r in other.log)


def test_progress_can_be_a_callback(dataset, zenodo):
    seen: list[dict] = []
    bioshare.publish(dataset, make_study(), target="zenodo", token=TOKEN, progress=seen.append)
    uploads = [s for s in seen if s["stage"].startswith("uploading")]
    assert {s["file"] for s in uploads} >= {"cells.ome.zarr.zip", "ihc.ome.zarr.zip"}
    last = uploads[-1]
    assert last["done"] == last["total"]
    assert all(0 < s["file_done"] <= s["file_total"] for s in uploads)
