"""Reading OME-Zarr over real HTTP and S3 servers on 127.0.0.1, with faults injected."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

import bioshare
from bioshare.errors import AccessDeniedError, MetadataError, NotOMEZarrError, RemoteAccessError

pytestmark = pytest.mark.usefixtures("fast_retries")


@pytest.fixture
def fast_retries(monkeypatch):
    """Keep the retry policy but make its back-off short, so fault tests stay quick."""
    from bioshare.ngff import store

    original = store.RetryingStore.__init__

    def init(self, inner, **kwargs):
        kwargs.setdefault("backoff", 0.01)
        original(self, inner, **kwargs)

    monkeypatch.setattr(store.RetryingStore, "__init__", init)
    store._cached_store.cache_clear()
    yield
    store._cached_store.cache_clear()


@pytest.fixture(scope="module")
def served_root(written) -> Path:
    """The folder holding both written versions (the `written` fixture's tmp folder)."""
    return written["0.4"].parent


@pytest.fixture
def server(objectstore, served_root):
    return objectstore(served_root)


def test_open_over_http(server, written, ngff_version, image):
    url = f"{server.url}/{written[ngff_version].name}"
    opened = bioshare.open_image(url)
    assert opened.attrs["source"] == url
    np.testing.assert_array_equal(opened.isel(t=1, c=0).values, image.isel(t=1, c=0).values)
    tree = bioshare.open_multiscales(url, labels=True)
    assert set(np.unique(tree["labels/nuclei/0/image"].values)) == {0, 7}


def test_headers_reach_the_server(objectstore, served_root, written, image):
    server = objectstore(served_root, require_token="s3cret")
    url = f"{server.url}/{written['0.5'].name}"
    with pytest.raises(AccessDeniedError, match=r"access denied to .*zarr\.json \(HTTP 401\)"):
        bioshare.open_image(url)
    opened = bioshare.open_image(
        url, storage_options={"headers": {"Authorization": "Bearer s3cret"}}
    )
    np.testing.assert_array_equal(opened.isel(t=0, c=1, z=0).values, image[0, 1, 0].values)


def test_forbidden(server, written):
    server.inject("status", path="*", status=403)
    with pytest.raises(AccessDeniedError, match="HTTP 403"):
        bioshare.open_image(f"{server.url}/{written['0.5'].name}")


def test_missing_dataset_over_http(server):
    with pytest.raises(
        NotOMEZarrError, match=r"no OME-Zarr metadata at http://127\.0\.0\.1:\d+/nope"
    ):
        bioshare.open_image(f"{server.url}/nope.zarr")


def test_missing_level_metadata_over_http(server, written):
    server.inject("status", path="*/1/.zarray", status=404)
    with pytest.raises(MetadataError, match=r"1/\.zarray not found"):
        bioshare.open_image(f"{server.url}/{written['0.4'].name}", level=1)


def test_missing_chunk_reads_as_fill_value(server, written, image):
    url = f"{server.url}/{written['0.5'].name}"
    opened = bioshare.open_image(url)
    server.inject("status", path="*/0/c/0/0/0/0/0", status=404)
    plane = opened.isel(t=0, c=0, z=0).values
    assert (plane[:48, :64] == 0).all()  # the absent chunk: fill value, as the spec says
    np.testing.assert_array_equal(plane[48:], image[0, 0, 0, 48:].values)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_5xx_bursts_are_retried(server, written, image, status):
    url = f"{server.url}/{written['0.4'].name}"
    server.inject("status", path="*", status=status, times=2)
    opened = bioshare.open_image(url)
    server.inject("status", path="*/0/0/*", status=status, times=3)
    np.testing.assert_array_equal(opened.isel(t=0, c=1).values, image[0, 1].values)


def test_truncated_bodies_are_retried_never_returned(server, written, image):
    url = f"{server.url}/{written['0.5'].name}"
    server.inject("truncate", path="*/zarr.json", times=1)
    opened = bioshare.open_image(url)
    server.inject("truncate", path="*/0/c/*", times=2)
    np.testing.assert_array_equal(opened.isel(t=1).values, image.isel(t=1).values)
    assert server.faults_triggered >= 3


def test_dropped_connections_are_retried(server, written, image):
    url = f"{server.url}/{written['0.4'].name}"
    server.inject("drop", path="*/.zattrs", times=1)
    opened = bioshare.open_image(url)
    server.inject("drop", path="*/0/1/*", times=2)
    np.testing.assert_array_equal(opened.isel(t=0).values, image.isel(t=0).values)


def test_persistent_failure_is_a_clear_error(server, written):
    opened = bioshare.open_image(f"{server.url}/{written['0.4'].name}")
    server.inject("status", path="*/0/0/0/*", status=503)
    with pytest.raises(RemoteAccessError, match=r"could not read http://.*/0/0/0/.* HTTP 503"):
        opened.isel(t=0, c=0).values  # noqa: B018


def test_latency_does_not_change_values(objectstore, served_root, written, image):
    server = objectstore(served_root, latency=0.05)
    opened = bioshare.open_image(f"{server.url}/{written['0.5'].name}", level=1)
    assert opened.shape == (2, 2, 4, 48, 80)
    assert opened.isel(t=0, c=0, z=0).values.shape == (48, 80)


def test_zip_over_http_range_requests(objectstore, tmp_path, written, image):
    archive = tmp_path / "cells.ome.zarr.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        for path in sorted(written["0.5"].rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(written["0.5"]).as_posix())
    server = objectstore(tmp_path)
    opened = bioshare.open_image(f"{server.url}/cells.ome.zarr.zip")
    np.testing.assert_array_equal(opened.isel(t=0, c=1).values, image[0, 1].values)
    ranged = [entry for entry in server.log if entry.range]
    assert ranged, "a remote zip must be read with range requests"
    assert all(entry.status in (200, 206) for entry in server.log)


def test_zip_of_a_folder_over_http(objectstore, tmp_path, written, image):
    archive = tmp_path / "folder.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        for path in sorted(written["0.5"].rglob("*")):
            if path.is_file():
                zf.write(path, f"cells.ome.zarr/{path.relative_to(written['0.5']).as_posix()}")
    server = objectstore(tmp_path)
    opened = bioshare.open_image(f"{server.url}/folder.zip", chunks={"t": 1})
    np.testing.assert_array_equal(opened.isel(t=1, c=0).values, image[1, 0].values)


# -- S3 (moto in server mode) -------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_images(s3_server, written):
    s3_server.create_bucket("images")
    for version, path in written.items():
        s3_server.upload_dir(path, "images", f"v{version}/{path.name}")
    return {version: f"s3://images/v{version}/{path.name}" for version, path in written.items()}


def test_open_from_s3(s3_server, s3_images, ngff_version, image):
    url = s3_images[ngff_version]
    opened = bioshare.open_image(url, storage_options=s3_server.storage_options)
    np.testing.assert_array_equal(opened.isel(t=1, z=2).values, image.isel(t=1, z=2).values)
    plate_like = bioshare.open_multiscales(url, storage_options=s3_server.storage_options)
    assert list(plate_like.children) == ["0", "1", "2"]


def test_s3_missing_key_is_a_clear_error(s3_server, s3_images):
    with pytest.raises(NotOMEZarrError, match=r"no OME-Zarr metadata at s3://images/nothing"):
        bioshare.open_image("s3://images/nothing.zarr", storage_options=s3_server.storage_options)


# -- dask.distributed ------------------------------------------------------------------------------


@pytest.mark.slow
def test_distributed_reduction_over_http(server, written, image):
    from dask.distributed import Client, LocalCluster

    url = f"{server.url}/{written['0.5'].name}"
    lazy = bioshare.open_image(url, chunks={"z": 1})
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        per_channel = lazy.mean(dim=("t", "z", "y", "x")).compute()
        maximum = int(lazy.max().compute())
    np.testing.assert_allclose(per_channel.values, image.mean(dim=("t", "z", "y", "x")).values)
    assert maximum == int(image.max())
    assert list(per_channel.c.values) == ["DAPI", "GFP"]


def test_zip_behind_a_content_link(objectstore, tmp_path, written, image):
    """InvenioRDM and Zenodo serve a file at ``.../files/<key>/content``."""
    content = tmp_path / "api" / "records" / "7" / "files" / "cells.ome.zarr.zip" / "content"
    content.parent.mkdir(parents=True)
    with zipfile.ZipFile(content, "w", compression=zipfile.ZIP_STORED) as zf:
        for path in sorted(written["0.4"].rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(written["0.4"]).as_posix())
    server = objectstore(tmp_path)
    opened = bioshare.open_image(f"{server.url}/api/records/7/files/cells.ome.zarr.zip/content")
    np.testing.assert_array_equal(opened.isel(t=1, c=0).values, image[1, 0].values)
