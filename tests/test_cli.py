"""The bioshare command line, run in-process through `bioshare.cli.main`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

import bioshare
from bioshare.cli import main


@pytest.fixture(scope="module")
def image_path(tmp_path_factory):
    image = xr.DataArray(
        np.zeros((2, 4, 64, 64), dtype=np.uint16),
        dims=("c", "z", "y", "x"),
        coords={
            "c": ["DAPI", "GFP"],
            "z": ("z", 2.0 * np.arange(4), {"units": "micrometer"}),
            "y": ("y", 0.5 * np.arange(64), {"units": "micrometer"}),
            "x": ("x", 0.5 * np.arange(64), {"units": "micrometer"}),
        },
    )
    path = tmp_path_factory.mktemp("cli") / "img.ome.zarr"
    return bioshare.write_image(image, path, chunks={"y": 32, "x": 32})


def test_info_text(image_path, capsys):
    assert main(["info", image_path]) == 0
    out = capsys.readouterr().out
    assert "dims:         c z y x" in out
    assert "shape:        2 x 4 x 64 x 64" in out
    assert "pixel size:   z=2 micrometer, y=0.5 micrometer, x=0.5 micrometer" in out
    assert "channels:     DAPI, GFP" in out
    assert "       0: 2 x 4 x 64 x 64  chunks 1 x 4 x 32 x 32" in out
    assert "on disk:" in out


def test_info_json(image_path, capsys):
    assert main(["info", image_path, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "image"
    assert info["dtype"] == "uint16"
    assert [level["shape"] for level in info["levels"]] == [[2, 4, 64, 64], [2, 4, 32, 32]]
    assert info["uncompressed_bytes"] == (2 * 4 * 64 * 64 + 2 * 4 * 32 * 32) * 2


def test_info_on_something_else_fails_with_a_message(tmp_path, capsys):
    assert main(["info", str(tmp_path / "missing.zarr")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bioshare: error: ")
    assert "missing.zarr: no such file or directory" in err


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "commands" in capsys.readouterr().out
