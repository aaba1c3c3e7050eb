"""Request counts and sequential round trips: deterministic, so they are asserted exactly.

This is the regression gate of the I/O planner: it fails when a change adds a request, a
404 probe or a round. Times are measured in ``benchmarks/open_read.py``, not here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import bioshare
from bioshare.ngff.write import write_group_metadata

LATENCY = 0.1  # long enough that rounds are unambiguous on a busy 2-core machine


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rounds")
    image = xr.DataArray(
        np.random.default_rng(1).integers(0, 999, (1, 2, 4, 256, 256), dtype=np.uint16),
        dims=("t", "c", "z", "y", "x"),
    )
    for version in ("0.4", "0.5"):
        bioshare.write_image(
            image,
            root / f"img-{version}.zarr",
            ngff_version=version,
            levels=3,
            chunks={"z": 1, "y": 128, "x": 128},
        )
        _plate(root / f"plate-{version}.zarr", version)
    return root


def _plate(root: Path, version: str) -> None:
    field = xr.DataArray(np.ones((2, 64, 64), dtype=np.uint8), dims=("c", "y", "x"))
    wells = []
    for r, row in enumerate("AB"):
        for c, column in enumerate("123"):
            bioshare.write_image(field, root / row / column / "0", ngff_version=version)
            write_group_metadata(
                root / row / column, {"well": {"images": [{"path": "0"}]}}, version
            )
            wells.append({"path": f"{row}/{column}", "rowIndex": r, "columnIndex": c})
    plate = {
        "rows": [{"name": "A"}, {"name": "B"}],
        "columns": [{"name": c} for c in "123"],
        "wells": wells,
    }
    write_group_metadata(root, {"plate": plate}, version)


@pytest.fixture(scope="module")
def server(data):
    from fakes.objectstore import ObjectStoreServer

    with ObjectStoreServer(data, latency=LATENCY) as server:
        yield server


def counted(server, action):
    server.clear_log()
    result = action()
    log = server.requests()
    return result, log, server.count_rounds(log)


def paths(log) -> list[str]:
    return sorted(entry.path.split(".zarr/", 1)[-1] for entry in log)


@pytest.mark.parametrize(
    ("version", "hint", "requests", "missing"),
    [("0.5", None, 5, 1), ("0.5", "0.5", 4, 0), ("0.4", None, 5, 1), ("0.4", "0.4", 4, 0)],
)
def test_open_multiscales(server, version, hint, requests, missing):
    url = f"{server.url}/img-{version}.zarr"
    tree, log, rounds = counted(server, lambda: bioshare.open_multiscales(url, version=hint))
    assert list(tree.children) == ["0", "1", "2"]
    assert len(log) == requests  # the root document(s), then each level's array metadata
    assert sum(e.status == 404 for e in log) == missing
    assert rounds == 2
    assert not any("labels" in e.path for e in log)  # never probed unless asked


def test_open_image_fetches_one_level(server):
    url = f"{server.url}/img-0.5.zarr"
    _, log, rounds = counted(server, lambda: bioshare.open_image(url, version="0.5", level=1))
    assert paths(log) == ["1/zarr.json", "zarr.json"]
    assert rounds == 2


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_plane_is_one_round(server, version):
    image = bioshare.open_image(f"{server.url}/img-{version}.zarr")
    plane, log, rounds = counted(server, lambda: image.isel(t=0, c=1, z=2).values)
    assert plane.shape == (256, 256)
    assert len(log) == 4  # the four chunks of the plane, nothing else
    assert rounds == 1


def test_labels_cost_no_extra_round(server, data):
    url = f"{server.url}/img-0.5.zarr"
    _, log, rounds = counted(server, lambda: bioshare.open_multiscales(url, labels=True))
    assert rounds == 2  # the labels group is asked for beside the level metadata
    assert [e.status for e in log if e.path.endswith("labels/zarr.json")] == [404]


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_plate_opens_in_four_rounds(server, version):
    url = f"{server.url}/plate-{version}.zarr"
    tree, log, rounds = counted(server, lambda: bioshare.open_plate(url, version=version))
    assert tree["B/3/0"]["image"].shape == (2, 64, 64)
    assert len(log) == 1 + 6 + 6 + 6  # plate, wells, fields, arrays
    assert sum(e.status == 404 for e in log) == 0
    assert rounds == 4
    _, log, rounds = counted(
        server, lambda: bioshare.open_plate(url, wells=["A/1"], version=version)
    )
    assert len(log) == 4
    assert rounds == 4


def test_dask_reads_the_same_values(server):
    url = f"{server.url}/img-0.4.zarr"
    lazy = bioshare.open_image(url, chunks="auto")
    eager = bioshare.open_image(url)
    np.testing.assert_array_equal(lazy.isel(z=1).values, eager.isel(z=1).values)
