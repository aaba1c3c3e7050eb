"""`bioshare demo`, the main job: data built, repository served, JupyterLab on the tour."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bioshare.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_build_only(tmp_path, capsys):
    assert main(["demo", "--build-only", "--data", str(tmp_path)]) == 0
    assert f"Demo data ready in {tmp_path}" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "v0.5").iterdir()) == [
        "cells.ome.zarr",
        "ihc.ome.zarr",
        "mitosis.ome.zarr",
        "plate.ome.zarr",
    ]


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except (urllib.error.URLError, ConnectionError):
        return 0


@pytest.mark.slow
def test_demo_serves_the_repository_and_jupyterlab(tmp_path):
    log = tmp_path / "demo.log"
    env = {**os.environ, "BIOSHARE_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "bioshare.cli", "demo", "--port", "0", "--lab-port", "0"]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        lab = _wait_for(
            lambda: re.search(r"JupyterLab: (\S+)", log.read_text()), 120, "the JupyterLab URL"
        ).group(1)
        repository = re.search(r"Demo repository: (\S+)", log.read_text()).group(1)
        with urllib.request.urlopen(repository) as response:
            assert json.load(response)["total"] == 8
        assert "/lab/tree/00-tour.ipynb?token=" in lab
        _wait_for(lambda: _status(lab) == 200, 120, "JupyterLab to answer")
        search = _search_from_another_terminal(env, "mitosis")
        assert "local: 2 result(s)" in search
        assert "[zarr] local:v0.5/mitosis.ome.zarr" in search
        assert "idr: failed: " in search  # unreachable here, and said so
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert process.returncode is not None
    _wait_for(lambda: _status(lab) == 0, 60, "JupyterLab to stop with the demo")
    services = json.loads((tmp_path / "cache" / "services.json").read_text())
    assert "local" not in services  # the demo unregisters itself


def _search_from_another_terminal(env: dict[str, str], query: str) -> str:
    """`bioshare search` as a user would run it beside the demo: the public repositories
    are unreachable (a closed port here), the demo's local repository is registered."""
    closed = "http://127.0.0.1:9"
    public = ("IDR", "BIA", "BIOSTUDIES", "ZENODO", "SSBD", "EMPIAR", "EBISEARCH")
    env = env | {f"BIOSHARE_{name}_URL": closed for name in public} | {"BIOSHARE_RETRIES": "0"}
    env.pop("BIOSHARE_LOCAL_URL", None)
    command = [sys.executable, "-m", "bioshare.cli", "search", query, "--timeout", "10"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout
