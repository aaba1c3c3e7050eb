"""Fixtures for running notebooks: the demo repository, and no way out of 127.0.0.1.

The network guard of `tests/conftest.py` lives in the test process; papermill's kernels are
other processes that inherit its environment. So every service bioshare knows is pointed
at a closed port on 127.0.0.1 for every notebook test; each test then points the services
it uses at its fakes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bioshare.config import DEFAULT_URLS
from bioshare.demo import build_demo
from bioshare.server import BackgroundServer

CLOSED = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def closed_services(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every service URL at a closed local port, and no tokens, for the kernels."""
    for name in DEFAULT_URLS:
        monkeypatch.setenv(f"BIOSHARE_{name.upper()}_URL", f"{CLOSED}/{name}")
    for token in ("ZENODO_TOKEN", "ZENODO_SANDBOX_TOKEN", "INVENIO_TOKEN"):
        monkeypatch.delenv(token, raising=False)
    for name in ("XNAT_USER", "XNAT_PASSWORD", "XNAT_JSESSIONID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("demo")
    build_demo(data)
    return data


@pytest.fixture(scope="module")
def demo_server(demo_data: Path) -> Iterator[BackgroundServer]:
    with BackgroundServer(demo_data) as server:
        yield server
