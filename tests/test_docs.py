"""The worked examples in the documentation run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def python_blocks(page: Path) -> str:
    return "\n".join(re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S))


@pytest.mark.parametrize("page", ["metadata.md"])
def test_worked_example_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(python_blocks(DOCS / page), str(DOCS / page), "exec"), namespace)
    study = namespace["study"]
    assert namespace["report"].ok, str(namespace["report"])
    same = namespace["same"]
    for component in (*same.study_component, *study.study_component):
        component.image_data = []  # harvested from the image, not kept in spreadsheets
    assert same == study
    assert (tmp_path / "mitosis-crate" / "ro-crate-metadata.json").is_file()
    assert namespace["publication"].citation().startswith("Josiah Carberry (2025).")
