"""Every notebook runs under papermill against the local demo repository."""

from __future__ import annotations

import json
from pathlib import Path

import papermill
import pytest

from bioshare.demo import build_demo
from bioshare.server import BackgroundServer

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    data = tmp_path_factory.mktemp("demo")
    build_demo(data)
    return data


@pytest.fixture(scope="module")
def demo_server(demo_data):
    with BackgroundServer(demo_data) as server:
        yield server


@pytest.mark.slow
def test_tour(demo_server, demo_data, tmp_path):
    output = tmp_path / "00-tour.ipynb"
    papermill.execute_notebook(
        NOTEBOOKS / "00-tour.ipynb",
        output,
        parameters={"repository_url": demo_server.url, "local_root": str(demo_data)},
        kernel_name="python3",
        cwd=str(tmp_path),
        execution_timeout=120,
        progress_bar=False,
    )
    notebook = json.loads(output.read_text())
    outputs = [o for cell in notebook["cells"] for o in cell.get("outputs", [])]
    assert any(o.get("output_type") == "error" for o in outputs) is False
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the plane and the labels overlay
    text = "".join("".join(o.get("text", "")) for o in outputs)
    text += "".join("".join(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "v0.5/mitosis.ome.zarr" in text
    assert "Tour Reader (" in text  # the publication's citation
    published = [p for p in demo_data.iterdir() if p.name.startswith("published-")]
    assert len(published) == 1
    assert "published-" in text  # found again by search


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.rglob("*.ipynb")), ids=lambda p: p.name)
def test_committed_notebooks_have_no_outputs(path):
    notebook = json.loads(path.read_text())
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name} cell {index} has outputs"
            assert cell.get("execution_count") is None, f"{path.name} cell {index} was run"
