"""OME-Zarr fixtures shared by the ngff tests: small images written once per session."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import bioshare


def sample_image() -> xr.DataArray:
    """A small t, c, z, y, x image with physical coordinates, units and channel names."""
    rng = np.random.default_rng(42)
    data = rng.integers(0, 4000, size=(2, 2, 4, 96, 160), dtype=np.uint16)
    image = xr.DataArray(
        data,
        dims=("t", "c", "z", "y", "x"),
        coords={
            "t": ("t", np.array([0.0, 30.0]), {"units": "second"}),
            "c": ["DAPI", "GFP"],
            "z": ("z", 2.0 * np.arange(4) + 1.0, {"units": "micrometer"}),
            "y": ("y", 0.5 * np.arange(96) + 10.0, {"units": "micrometer"}),
            "x": ("x", 0.5 * np.arange(160), {"units": "micrometer"}),
        },
        name="cells",
        attrs={"channel_colors": ["0000FF", "00FF00"]},
    )
    return image


def sample_labels(image: xr.DataArray) -> xr.DataArray:
    plane = image.isel(t=0, c=0).values
    return xr.DataArray((plane > 3000).astype(np.uint16) * 7, dims=("z", "y", "x"))


@pytest.fixture(scope="session")
def image() -> xr.DataArray:
    return sample_image()


@pytest.fixture(scope="session", params=["0.4", "0.5"])
def ngff_version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sample image with labels, written once in each NGFF version (3 levels)."""
    root = tmp_path_factory.mktemp("ngff")
    image = sample_image()
    paths = {}
    for version in ("0.4", "0.5"):
        paths[version] = Path(
            bioshare.write_image(
                image,
                root / f"cells-{version}.ome.zarr",
                ngff_version=version,
                chunks={"y": 48, "x": 64},
                labels={"nuclei": sample_labels(image)},
            )
        )
    return paths


def write_json(path: Path, document: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
