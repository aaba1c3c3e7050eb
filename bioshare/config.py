"""Configuration read from the environment, in one place.

Tests, the demo and real use all run the same code; only these values differ.
``BIOSHARE_<NAME>_URL`` overrides a service's base URL, ``BIOSHARE_CACHE_DIR`` the
cache folder, ``BIOSHARE_TIMEOUT`` the network timeout in seconds and
``BIOSHARE_OFFLINE=1`` answers from caches only, ``BIOSHARE_DATA_MIRROR`` names a mirror of
the course data (`bioshare.datasets`). A running ``bioshare demo`` or
``bioshare serve`` registers its URL (`register_service`) so that other processes of the
same user find it without being told.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "DEFAULT_URLS",
    "cache_dir",
    "data_mirror",
    "local_root",
    "offline",
    "register_service",
    "registered_service",
    "registered_services",
    "retries",
    "service_url",
    "timeout",
    "unregister_service",
]

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
    "datacite_test": "https://api.test.datacite.org",
    "doi": "https://doi.org",  # the DOI resolver `bioshare.rerun` asks where a DOI points
    # The Cancer Imaging Archive's public NBIA search API (no account needed)
    "tcia": "https://services.cancerimagingarchive.net/nbia-api/services/v1",
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
    registered = registered_services().get(key)
    if registered:
        return registered
    try:
        return DEFAULT_URLS[key]
    except KeyError:
        known = ", ".join(sorted(DEFAULT_URLS))
        raise KeyError(f"unknown service {name!r}; expected one of: {known}") from None


def _registry_path() -> Path:
    return cache_dir() / "services.json"


def registered_services() -> dict[str, str]:
    """Services registered by running bioshare servers: name -> base URL."""
    try:
        data = json.loads(_registry_path().read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def register_service(name: str, url: str) -> None:
    """Record ``url`` as service ``name`` for this user's other processes (atomically)."""
    _write_registry(registered_services() | {name.lower(): url.rstrip("/")})


def unregister_service(name: str, url: str | None = None) -> None:
    """Forget service ``name`` (only if it still points at ``url``, when given)."""
    services = registered_services()
    key = name.lower()
    if key in services and (url is None or url.rstrip("/") == services[key]):
        del services[key]
        _write_registry(services)


@contextlib.contextmanager
def registered_service(name: str, url: str) -> Iterator[None]:
    """Register ``url`` as service ``name`` for the duration of a ``with`` block."""
    register_service(name, url)
    try:
        yield
    finally:
        unregister_service(name, url)


def _write_registry(services: dict[str, str]) -> None:
    path = _registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".services-", suffix=".json")
    with os.fdopen(fd, "w") as handle:
        json.dump(services, handle, indent=2)
    os.replace(tmp, path)


def timeout() -> float:
    """Network timeout in seconds (``BIOSHARE_TIMEOUT``, default 30)."""
    return _float_env("BIOSHARE_TIMEOUT", 30.0)


def retries() -> int:
    """How often a transient network failure is retried (``BIOSHARE_RETRIES``, default 4)."""
    return int(_float_env("BIOSHARE_RETRIES", 4))


def offline() -> bool:
    """True when ``BIOSHARE_OFFLINE`` asks for answers from caches only."""
    return os.environ.get("BIOSHARE_OFFLINE", "").lower() in {"1", "true", "yes"}


def data_mirror() -> str | None:
    """Base URL of a course data mirror (``BIOSHARE_DATA_MIRROR``), or None."""
    return os.environ.get("BIOSHARE_DATA_MIRROR", "").rstrip("/") or None


def local_root(value: str | os.PathLike[str] | None = None) -> Path | None:
    """The folder the local repository serves, or None when none is known.

    ``value`` when given, else the folder a running ``bioshare demo``/``serve`` registered,
    else ``BIOSHARE_LOCAL_ROOT``.
    """
    chosen = (
        value or registered_services().get("local_root") or os.environ.get("BIOSHARE_LOCAL_ROOT")
    )
    return Path(chosen).expanduser().resolve() if chosen else None


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
