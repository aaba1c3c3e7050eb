"""notebooks/06-biomedical.ipynb runs under papermill against fake TCIA and XNAT servers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import papermill
import pytest
from fakes.tcia import FakeTCIA
from fakes.tcia import seed as tcia_seed
from fakes.xnat import FakeXNAT
from fakes.xnat import seed as xnat_seed

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "06-biomedical.ipynb"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeTCIA, FakeXNAT]]:
    root = tmp_path_factory.mktemp("biomedical")
    with FakeTCIA(tcia_seed(root / "tcia")) as tcia, FakeXNAT(xnat_seed(root / "xnat")) as xnat:
        yield tcia, xnat


def _run(tmp_path: Path, parameters: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    output = tmp_path / "06-biomedical.ipynb"
    papermill.execute_notebook(
        NOTEBOOK,
        output,
        parameters={"work_dir": str(tmp_path / "work"), **parameters},
        kernel_name="python3",
        cwd=str(tmp_path),
        execution_timeout=180,
        progress_bar=False,
    )
    notebook = json.loads(output.read_text())
    outputs = [o for cell in notebook["cells"] for o in cell.get("outputs", [])]
    text = "".join("".join(o.get("text", "")) for o in outputs)
    text += "".join("".join(o.get("data", {}).get("text/plain", "")) for o in outputs)
    return outputs, text


@pytest.mark.slow
def test_biomedical_notebook(servers: tuple[FakeTCIA, FakeXNAT], tmp_path: Path) -> None:
    tcia, xnat = servers
    outputs, text = _run(tmp_path, {"tcia_url": tcia.api_url, "xnat_url": xnat.url})
    assert not any(o.get("output_type") == "error" for o in outputs)
    assert "tcia: 1 in" in text
    assert "xnat: 1 in" in text
    assert "Lung-CT-Demo: 3 CT series" in text
    assert "(0010,0010) PatientName" in text  # the fake patient data was found...
    assert "Doe^Jane" not in text
    assert "PID-0042-FAKE" not in text
    assert "no identifying data found" in text  # after de-identification
    assert "round trip identical: True" in text
    assert "CHESTCT: 1 image resources" in text
    assert len([o for o in outputs if "image/png" in o.get("data", {})]) == 1  # the slice
    assert (tmp_path / "work" / "series.ome.zarr").is_dir()
    assert xnat.requests_to("/data/experiments/*/files")  # the XNAT scan was downloaded


@pytest.mark.slow
def test_without_xnat_the_part_is_skipped(
    servers: tuple[FakeTCIA, FakeXNAT], tmp_path: Path
) -> None:
    tcia, _ = servers
    outputs, text = _run(tmp_path, {"tcia_url": tcia.api_url, "xnat_url": ""})
    assert not any(o.get("output_type") == "error" for o in outputs)
    assert "XNAT part skipped" in text
    assert "round trip identical: True" in text
