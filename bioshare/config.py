"""Configuration read from the environment, in one place.

Tests, the demo and real use all run the same code; only these values differ.
``BIOSHARE_<NAME>_URL`` overrides a service's base URL, ``BIOSHARE_CACHE_DIR`` the
cache folder, ``BIOSHARE_TIMEOUT`` the network timeout in seconds and
``BIOSHARE_OFFLINE=1`` answers from caches only.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DEFAULT_URLS", "cache_dir", "offline", "retries", "service_url", "timeout"]

DEFAULT_URLS: dict[str, str] = {
    "idr": "https://idr.openmicroscopy.org",
    # IDR's OME-Zarr moved here in April 2026 from https://uk1s3.embassy.ebi.ac.uk (same paths)
    "idr_zarr": "https://livingobjects.ebi.ac.uk",
    "bia": "https://www.ebi.ac.uk/bioimage-archive/api",
    # BIA's OME-Zarr bucket; formerly https://uk1s3.embassy.ebi.ac.uk/bia-integrator-data
    "bia_zarr": "https://livingobjects.ebi.ac.uk/bioimaging-integrator-data",
    "biostudies": "https://www.ebi.ac.uk/biostudies/api/v1",
    "zenodo": "https://zenodo.org",
    "zenodo_sandbox": "https://sandbox.zenodo.org",
    "ssbd": "https://ssbd.qbic.riken.jp/SSBD",
    "empiar": "https://www.ebi.ac.uk/empiar/api",
    "empiar_files": "https://ftp.ebi.ac.uk/empiar/world_availability",
    "ebisearch": "https://www.ebi.ac.uk/ebisearch/ws/rest",
    "ols": "https://www.ebi.ac.uk/ols4",
    "datacite": "https://api.datacite.org",
    "local": "http://127.0.0.1:8765",
}


def service_url(name: str) -> str:
    """Return the base URL of a service, honouring ``BIOSHARE_<NAME>_URL``.

    Parameters
    ----------
    name
        Service key, for example ``"idr"`` or ``"zenodo_sandbox"``.
    """
    key = name.lower()
    env = os.environ.get(f"BIOSHARE_{key.upper()}_URL")
    if env:
        return env.rstrip("/")
    try:
        return DEFAULT_URLS[key]
    except KeyError:
        known = ", ".join(sorted(DEFAULT_URLS))
        raise KeyError(f"unknown service {name!r}; expected one of: {known}") from None


def timeout() -> float:
    """Network timeout in seconds (``BIOSHARE_TIMEOUT``, default 30)."""
    return _float_env("BIOSHARE_TIMEOUT", 30.0)


def retries() -> int:
    """How often a transient network failure is retried (``BIOSHARE_RETRIES``, default 4)."""
    return int(_float_env("BIOSHARE_RETRIES", 4))


def offline() -> bool:
    """True when ``BIOSHARE_OFFLINE`` asks for answers from caches only."""
    return os.environ.get("BIOSHARE_OFFLINE", "").lower() in {"1", "true", "yes"}


def cache_dir() -> Path:
    """The cache folder (``BIOSHARE_CACHE_DIR``, else the platform's user cache)."""
    env = os.environ.get("BIOSHARE_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("bioshare"))


def _float_env(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a number") from None
