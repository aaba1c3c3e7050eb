"""Notebook 05 runs under papermill: it captures and publishes an example, then re-runs it."""

from __future__ import annotations

import json
from pathlib import Path

import papermill
import pytest

NOTEBOOK = (
    Path(__file__).resolve().parents[2] / "notebooks" / "05-reproduce-a-published-analysis.ipynb"
)


def text_of(notebook: dict) -> str:
    outputs = [o for cell in notebook["cells"] for o in cell.get("outputs", [])]
    text = "".join("".join(o.get("text", "")) for o in outputs)
    for o in outputs:
        for kind in ("text/plain", "text/html"):
            text += "".join(o.get("data", {}).get(kind, ""))
    return text


@pytest.mark.slow
def test_reproduce_notebook_reruns_a_published_analysis(demo_server, demo_data, tmp_path):
    output = tmp_path / "05.ipynb"
    papermill.execute_notebook(
        NOTEBOOK,
        output,
        parameters={"repository_url": demo_server.url, "local_root": str(demo_data)},
        kernel_name="python3",
        cwd=str(tmp_path),
        execution_timeout=240,
        progress_bar=False,
    )
    notebook = json.loads(output.read_text())
    outputs = [o for cell in notebook["cells"] for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = text_of(notebook)
    assert "Reproduced: all 4 recorded output(s) match." in text
    assert "executes the code of the captured notebook" in text  # the warning, in the report
    assert "Not reproduced:" in text  # the run with a changed threshold
    assert "mean_area" in text
    [published] = [p for p in demo_data.iterdir() if p.name.startswith("published-")]
    assert (published / "analysis.crate.zip").is_file()
    assert (tmp_path / "author" / "count-nuclei.crate" / "ro-crate-metadata.json").is_file()


@pytest.mark.slow
def test_without_source_or_repository_the_notebook_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOSHARE_CACHE_DIR", str(tmp_path / "cache"))  # no registered demo
    with pytest.raises(papermill.PapermillExecutionError, match="Nothing to review"):
        papermill.execute_notebook(
            NOTEBOOK,
            tmp_path / "05.ipynb",
            kernel_name="python3",
            cwd=str(tmp_path),
            execution_timeout=60,
            progress_bar=False,
        )
