"""The demo repository, built once per test session (both NGFF versions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bioshare.demo import build_demo


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding ``v0.4/`` and ``v0.5/`` with every demo dataset."""
    root = tmp_path_factory.mktemp("demo")
    build_demo(root)
    return root
