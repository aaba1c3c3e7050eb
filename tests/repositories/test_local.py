"""The local repository adapter against a real `bioshare serve` over the demo data."""

from __future__ import annotations

import pytest

import bioshare
from bioshare.cli import main
from bioshare.demo import build_demo
from bioshare.repositories import RecordNotFoundError
from bioshare.repositories.local import LocalRepository
from bioshare.server import BackgroundServer


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("local")
    build_demo(data)
    with BackgroundServer(data) as server:
        yield server


@pytest.fixture
def repo(server, monkeypatch):
    monkeypatch.setenv("BIOSHARE_LOCAL_URL", server.url)
    return LocalRepository(timeout=5, retries=1, backoff=0.01)


def test_search(repo):
    records = repo.search("mitosis")
    assert [r.id for r in records] == ["v0.4/mitosis.ome.zarr", "v0.5/mitosis.ome.zarr"]
    assert all(r.has_ome_zarr and r.repository == "local" for r in records)
    assert len(repo.search("", limit=5)) == 5
    assert len(repo.search("", limit=50)) == 8


def test_get_and_images(repo, server):
    record = repo.get("v0.5/plate.ome.zarr")
    assert record.image_count == 6
    assert record.license == "CC-BY-4.0"
    (image,) = repo.images("v0.5/cells.ome.zarr")
    assert image.zarr_url == f"{server.url}/v0.5/cells.ome.zarr"
    assert image.open().shape == image.shape


def test_missing_dataset(repo):
    with pytest.raises(RecordNotFoundError, match=r"has no dataset 'v0.5/none.zarr'"):
        repo.get("v0.5/none.zarr")


def test_federated_search_and_cli(server, monkeypatch, capsys):
    monkeypatch.setenv("BIOSHARE_LOCAL_URL", server.url)
    results = bioshare.search("cells", repositories=["local"])
    assert {r.id for r in results} >= {"v0.4/cells.ome.zarr", "v0.5/cells.ome.zarr"}
    assert main(["search", "ihc", "--repo", "local"]) == 0
    out = capsys.readouterr().out
    assert "local: 2 result(s)" in out
    assert "[zarr] local:v0.5/ihc.ome.zarr" in out
    assert main(["search", "ihc", "--repo", "local,nowhere"]) == 1
