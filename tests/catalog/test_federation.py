"""`bioshare.search` across the fakes of every public repository, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fakes.federation import Federation, public_fakes

import bioshare
from bioshare.cli import main
from bioshare.repositories.registry import get_repository


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    with public_fakes(tmp_path_factory.mktemp("federation")) as federation:
        yield federation


@pytest.fixture
def federation(running: Federation, monkeypatch: pytest.MonkeyPatch) -> Iterator[Federation]:
    running.clear()
    for key, value in running.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("BIOSHARE_RETRIES", "1")
    monkeypatch.delenv("BIOSHARE_LOCAL_URL", raising=False)
    yield running
    running.clear()


def test_every_repository_answers_and_contributes(federation: Federation) -> None:
    results = bioshare.search("", limit=50)
    assert {s.repository: s.ok for s in results.statuses} == {
        "idr": True,
        "bia": True,
        "zenodo": True,
        "ssbd": True,
        "empiar": True,
        "tcia": True,
    }
    assert all(s.count > 0 for s in results.statuses)
    assert {r.repository for r in results} == {"idr", "bia", "zenodo", "ssbd", "empiar", "tcia"}
    assert results.errors == []


def test_rehosted_studies_are_merged(federation: Federation) -> None:
    results = bioshare.search("segmentation")
    by_id = {f"{r.repository}:{r.id}": r for r in results}
    # IDR's idr0062 is S-BIAD9062 in the BioImage Archive (same DOI and accession)
    assert "bia:S-BIAD9062" not in by_id
    assert by_id["idr:project:101"].also_in == ("bia:S-BIAD9062",)
    assert "S-BIAD9062" in by_id["idr:project:101"].accessions
    # a Zenodo record that says it is identical to S-BIAD634
    results = bioshare.search("HeLa nuclei")
    ids = [f"{r.repository}:{r.id}" for r in results]
    assert ids.count("bia:S-BIAD634") + ids.count("zenodo:7654321") == 1


def test_filters_apply_across_repositories(federation: Federation) -> None:
    human = bioshare.search("", organism="human", limit=50)
    assert len(human) > 0
    assert all(any(t.curie == "NCBITaxon:9606" for t in r.organisms) for r in human)
    assert {r.repository for r in human} >= {"idr", "bia", "ssbd"}
    zarr = bioshare.search("", has_ome_zarr=True, limit=50)
    assert all(r.has_ome_zarr for r in zarr)
    assert len(zarr) < len(bioshare.search("", limit=50))
    em = bioshare.search("", imaging_method="electron microscopy", limit=50)
    assert {r.repository for r in em} == {"empiar"}


def test_one_broken_and_one_hanging_repository(federation: Federation) -> None:
    federation.fakes["zenodo"].inject("status", status=500)
    federation.fakes["ssbd"].inject("hang")
    started = time.monotonic()
    results = bioshare.search("", timeout=1.5, limit=50)
    elapsed = time.monotonic() - started
    assert elapsed < 1.5 + 1.0  # the hanging repository costs its timeout, no more
    failed = {s.repository: s.error for s in results.errors}
    assert set(failed) == {"zenodo", "ssbd"}
    assert "HTTP 500" in str(failed["zenodo"])
    assert failed["ssbd"] == "no answer within 1.5 s"
    assert {r.repository for r in results} == {"idr", "bia", "empiar", "tcia"}


def test_images_of_every_repository_stream(federation: Federation) -> None:
    examples = {
        "idr": "project:101",
        "bia": "S-BIAD1556",
        "zenodo": "7654321",
        "ssbd": "1",
        "empiar": "EMPIAR-12001",
    }
    for name, record_id in examples.items():
        images = [i for i in get_repository(name).images(record_id) if i.zarr_url]
        assert images, f"{name}:{record_id} has no OME-Zarr image"
        data = images[0].open()
        assert data.size > 0
        assert np.asarray(data.isel(dict.fromkeys(data.dims[:-2], 0))).ndim == 2


def test_the_command_line_says_what_each_repository_contributed(
    federation: Federation, capsys: pytest.CaptureFixture[str]
) -> None:
    federation.fakes["empiar"].inject("status", status=503)
    assert main(["search", "nuclear", "--timeout", "5"]) == 0
    out = capsys.readouterr().out
    assert "idr: 1 result(s)" in out
    assert "bia: 2 result(s)" in out
    assert "empiar: failed: " in out
    assert "503" in out


def test_offline_index_harvested_from_the_fakes(
    federation: Federation, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["index", "update"]) == 0
    capsys.readouterr()
    for fake in federation.fakes.values():
        fake.inject("drop")
    results = bioshare.search("zebrafish", timeout=2)
    assert results.offline
    assert {r.repository for r in results} >= {"bia", "zenodo"}
