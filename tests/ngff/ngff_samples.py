"""Sample images and small helpers shared by the ngff tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr


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


def write_json(path: Path, document: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
