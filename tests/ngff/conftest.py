"""OME-Zarr fixtures shared by the ngff tests: small images written once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr
from ngff_samples import sample_image, sample_labels

import bioshare


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
