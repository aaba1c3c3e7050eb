"""`bioshare serve` over real HTTP: objects, ranges, ETags, CORS, traversal, the JSON API."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

import bioshare
from bioshare.server import BackgroundServer, create_app
from bioshare.server.app import CATALOG_KEY


def _image(channels=("DAPI", "GFP")) -> xr.DataArray:
    return xr.DataArray(
        np.arange(len(channels) * 32 * 48, dtype=np.uint16).reshape(len(channels), 32, 48),
        dims=("c", "y", "x"),
        coords={
            "c": list(channels),
            "y": ("y", 0.5 * np.arange(32), {"units": "micrometer"}),
            "x": ("x", 0.5 * np.arange(48), {"units": "micrometer"}),
        },
    )


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("served")
    bioshare.write_image(
        _image(),
        root / "v0.4" / "cells.ome.zarr",
        ngff_version="0.4",
        metadata={"title": "Cells", "description": "HeLa nuclei stained"},
    )
    bioshare.write_image(_image(("actin",)), root / "v0.5" / "actin.ome.zarr")
    source = root / "v0.5" / "actin.ome.zarr"
    with zipfile.ZipFile(root / "packed.ome.zarr.zip", "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(source).as_posix())
    plain = zarr.open_group(root / "not-ngff.zarr", mode="w")
    plain.attrs["hello"] = "world"
    (root / "secret.txt").write_text("top secret")  # at the root, but not a dataset
    (root.parent / "outside.txt").write_text("outside the served folder")
    os.symlink(root.parent / "outside.txt", root / "escape.txt")
    return root


@pytest.fixture(scope="module")
def server(root):
    with BackgroundServer(root) as server:
        yield server


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def raw(server, path: str, method: str = "GET") -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    connection.putrequest(method, path, skip_accept_encoding=True)
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body


def test_streams_images(server):
    image = bioshare.open_image(f"{server.url}/v0.4/cells.ome.zarr")
    np.testing.assert_array_equal(image.values, _image().values)
    packed = bioshare.open_image(f"{server.url}/packed.ome.zarr.zip")
    assert list(packed.c.values) == ["actin"]


def test_json_content_types(server):
    status, headers, body = get(f"{server.url}/v0.4/cells.ome.zarr/.zattrs")
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert "multiscales" in json.loads(body)
    status, headers, _ = get(f"{server.url}/v0.5/actin.ome.zarr/zarr.json")
    assert headers["Content-Type"].startswith("application/json")


def test_range_requests(server, root):
    data = (root / "packed.ome.zarr.zip").read_bytes()
    url = f"{server.url}/packed.ome.zarr.zip"
    status, headers, body = get(url, {"Range": "bytes=10-29"})
    assert (status, body) == (206, data[10:30])
    assert headers["Content-Range"] == f"bytes 10-29/{len(data)}"
    status, _, body = get(url, {"Range": "bytes=-16"})
    assert (status, body) == (206, data[-16:])
    status, _, body = get(url, {"Range": f"bytes={len(data) - 5}-"})
    assert (status, body) == (206, data[-5:])
    status, _, _ = get(url, {"Range": f"bytes={len(data) + 10}-{len(data) + 20}"})
    assert status == 416


def test_head_etag_and_conditional_requests(server):
    url = f"{server.url}/v0.4/cells.ome.zarr/.zattrs"
    request = urllib.request.Request(url, method="HEAD")
    with urllib.request.urlopen(request) as response:
        etag = response.headers["ETag"]
        assert int(response.headers["Content-Length"]) > 0
        assert response.read() == b""
    assert etag
    status, _, body = get(url, {"If-None-Match": etag})
    assert (status, body) == (304, b"")


def test_cors(server):
    _, headers, _ = get(f"{server.url}/v0.4/cells.ome.zarr/.zattrs")
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "Content-Range" in headers["Access-Control-Expose-Headers"]
    request = urllib.request.Request(
        f"{server.url}/v0.4/cells.ome.zarr/0/.zarray", method="OPTIONS"
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 204
        assert "GET" in response.headers["Access-Control-Allow-Methods"]
        assert "Range" in response.headers["Access-Control-Allow-Headers"]


@pytest.mark.parametrize("path", ["/v0.4", "/v0.4/cells.ome.zarr", "/v0.4/cells.ome.zarr/0", "/"])
def test_folders_are_never_listed(server, path):
    status, _, _ = get(f"{server.url}{path}")
    assert status == 404


def test_absent_keys(server):
    assert get(f"{server.url}/v0.4/cells.ome.zarr/zarr.json")[0] == 404


@pytest.mark.parametrize(
    "path",
    [
        "/../outside.txt",
        "/v0.4/../../outside.txt",
        "/%2e%2e/outside.txt",
        "/v0.4/%2E%2E/%2e%2e/outside.txt",
        "/..%2foutside.txt",
        "//etc/passwd",
        "/escape.txt",
        "/v0.4/cells.ome.zarr/%00.zattrs",
    ],
)
def test_no_path_traversal(server, path):
    status, body = raw(server, path)
    assert status in (400, 404)
    assert b"outside the served folder" not in body


def test_api_lists_datasets(server):
    status, _, body = get(f"{server.url}/api/datasets")
    document = json.loads(body)
    assert status == 200
    names = [d["name"] for d in document["results"]]
    assert names == ["packed.ome.zarr.zip", "v0.4/cells.ome.zarr", "v0.5/actin.ome.zarr"]
    assert document["total"] == 3
    cells = document["results"][1]
    assert cells["url"] == f"{server.url}/v0.4/cells.ome.zarr"
    assert cells["title"] == "Cells"
    assert cells["kind"] == "image"
    assert cells["ngff_version"] == "0.4"
    assert cells["dims"] == ["c", "y", "x"]
    assert cells["shape"] == [2, 32, 48]
    assert cells["dtype"] == "uint16"
    assert cells["scale"]["x"] == {"value": 0.5, "unit": "micrometer"}
    assert cells["channels"] == ["DAPI", "GFP"]
    assert cells["levels"] == 1
    assert cells["size_bytes"] > 0


def test_api_search_and_pages(server):
    found = json.loads(get(f"{server.url}/api/datasets?q=hela+dapi")[2])
    assert [d["name"] for d in found["results"]] == ["v0.4/cells.ome.zarr"]
    page = json.loads(get(f"{server.url}/api/datasets?limit=1&offset=1")[2])
    assert (page["total"], page["limit"], page["offset"]) == (3, 1, 1)
    assert [d["name"] for d in page["results"]] == ["v0.4/cells.ome.zarr"]
    assert json.loads(get(f"{server.url}/api/health")[2]) == {"status": "ok", "datasets": 3}


@pytest.mark.parametrize("query", ["limit=0", "limit=5000", "limit=abc", "offset=-1"])
def test_api_rejects_bad_parameters(server, query):
    status, _, body = get(f"{server.url}/api/datasets?{query}")
    assert status == 400
    message = json.loads(body)["error"]["message"]
    assert query.split("=")[0] in message
    assert "expected an integer" in message


def test_api_one_dataset(server):
    status, _, body = get(f"{server.url}/api/datasets/v0.5/actin.ome.zarr")
    assert status == 200
    assert json.loads(body)["channels"] == ["actin"]
    status, _, body = get(f"{server.url}/api/datasets/v0.5/nothing.zarr")
    assert status == 404
    assert (
        json.loads(body)["error"]["message"]
        == "no dataset named 'v0.5/nothing.zarr' in this repository"
    )


def test_new_datasets_appear(tmp_path):
    bioshare.write_image(_image(), tmp_path / "first.ome.zarr")
    with BackgroundServer(tmp_path) as server:
        assert json.loads(get(f"{server.url}/api/health")[2])["datasets"] == 1
        shutil.copytree(tmp_path / "first.ome.zarr", tmp_path / "second.ome.zarr")
        server.app[CATALOG_KEY]._checked = 0.0  # as if the rescan interval had passed
        assert json.loads(get(f"{server.url}/api/health")[2])["datasets"] == 2


def test_plates_are_summarised(tmp_path):
    from bioshare.demo import build_demo

    build_demo(tmp_path, versions=("0.5",))
    with BackgroundServer(tmp_path) as server:
        plate = json.loads(get(f"{server.url}/api/datasets/v0.5/plate.ome.zarr")[2])
    assert plate["kind"] == "plate"
    assert plate["rows"] == ["A", "B"]
    assert plate["wells"] == 6


def test_bad_roots(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder to serve"):
        create_app(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        create_app(tmp_path / "file")
