"""`rerun`: fetch a captured analysis, run it again in a fresh kernel and compare."""

from __future__ import annotations

import base64
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bioshare.reproduce.crate import Analysis, open_crate
from bioshare.reproduce.environment import current, diff
from bioshare.reproduce.execution import run_notebook
from bioshare.reproduce.inputs import content_sha256, is_url, local_path
from bioshare.reproduce.outputs import OutputComparison, compare, read_manifest
from bioshare.reproduce.report import InputCheck, RerunReport
from bioshare.reproduce.safety import EXECUTION_WARNING, check_parameters
from bioshare.reproduce.sources import locate

__all__ = ["rerun"]


def rerun(
    source: Any,
    *,
    parameters: dict[str, Any] | None = None,
    timeout: float = 600,
    kernel_name: str = "python3",
    keep: str | os.PathLike[str] | None = None,
    quiet: bool = False,
) -> RerunReport:
    """Re-run a captured analysis and compare every output with the recorded one.

    Re-running executes the notebook's code on this machine: only re-run analyses you
    trust. It runs in a fresh kernel (``kernel_name``), in an empty working folder, with
    ``timeout`` seconds per cell.

    Parameters
    ----------
    source
        A DOI, a Zenodo/InvenioRDM record URL, a local publication (``local:...`` record id,
        its folder, or the `Publication` itself), a served publication URL, a crate folder or
        zip, or the `Analysis` that `capture` returned.
    parameters
        Override recorded parameters (for instance another input image); the report shows
        them as changed, and the outputs they move as drift.
    timeout
        Seconds allowed per cell.
    kernel_name
        The Jupyter kernel to run.
    keep
        A folder to keep the fetched crate, the working folder and the executed notebook in
        (in a new subfolder for each re-run); by default they are removed.
    quiet
        Do not print the warning that the notebook's code is about to run.

    Returns
    -------
    RerunReport
        What matched, what drifted (expected, got, difference), input and environment changes.
    """
    if not quiet:
        print(f"bioshare: warning: {EXECUTION_WARNING}", file=sys.stderr)
    overrides = dict(parameters or {})
    check_parameters(overrides)
    parent = Path(keep).expanduser() if keep else None
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    # a fresh folder every time: outputs of an earlier run must never be compared
    folder = Path(tempfile.mkdtemp(prefix="bioshare-rerun-", dir=parent))
    try:
        analysis = open_crate(locate(source, folder / "fetched"), folder / "fetched")
        assert analysis.path is not None
        values, checks, changed = _inputs(analysis, overrides)
        result = run_notebook(
            analysis.path / analysis.notebook,
            values,
            folder / "run",
            timeout=timeout,
            kernel_name=kernel_name,
        )
        comparisons = _compare(analysis, result.outputs)
        return RerunReport(
            source=_describe(source),
            title=analysis.title,
            notebook=analysis.notebook,
            outputs=tuple(comparisons),
            inputs=tuple(checks),
            parameters=changed,
            environment=diff(
                analysis.environment, result.environment or current(analysis.environment)
            ),
            seconds=result.seconds,
            error=result.error,
            warning=EXECUTION_WARNING,
            captured=analysis.end,
            workdir=str(folder) if keep else None,
            executed=str(result.executed) if keep else None,
            figures=_drifted_figures(analysis, comparisons, result.outputs),
        )
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def _describe(source: Any) -> str:
    """How the report names the source: a path, a DOI, a URL or a record id."""
    if isinstance(source, Analysis):
        return str(source.path)
    if hasattr(source, "record_id") and hasattr(source, "target"):  # a Publication
        return str(source.doi or source.record_id)
    return str(source)


def _inputs(
    analysis: Analysis, overrides: dict[str, Any]
) -> tuple[dict[str, Any], list[InputCheck], dict[str, tuple[Any, Any]]]:
    """Parameter values for the run, the input checks, and the changed parameters."""
    assert analysis.path is not None
    values = dict(analysis.parameters)
    changed = {
        name: (analysis.parameters.get(name), value)
        for name, value in overrides.items()
        if analysis.parameters.get(name) != value
    }
    values.update(overrides)
    checks = []
    by_parameter = {i.parameter: i for i in analysis.inputs}
    for name, value in list(values.items()):
        item = by_parameter.get(name)
        if item is None:
            path = local_path(value)
            if path is not None:
                values[name] = str(path)
            continue
        if name in overrides or item.path is None:
            used = value
            path = local_path(used)
        else:
            path = analysis.path / item.path
            used = str(path)
        if is_url(used):
            status = "unchecked" if used == item.value else "changed"
            checks.append(InputCheck(name, item.value, used, status))
            continue
        if path is None or not path.exists():
            checks.append(InputCheck(name, item.value, str(used), "missing", item.sha256))
            continue
        sha = content_sha256(path)[0]
        status = "same" if sha == item.sha256 else "changed"
        checks.append(InputCheck(name, item.value, str(path), status, item.sha256, sha))
        values[name] = str(path)
    return values, checks, changed


def _drifted_figures(
    analysis: Analysis, comparisons: list[OutputComparison], produced: Path
) -> dict[str, tuple[str, str]]:
    """Expected and re-run PNGs of the figures that drifted, base64-encoded for HTML."""
    assert analysis.path is not None
    drifted = {c.name for c in comparisons if c.kind == "figure" and c.status == "drift"}
    figures = {}
    for spec in analysis.outputs:
        new = produced / spec.file
        if spec.name in drifted and new.is_file():
            old = analysis.path / "outputs" / spec.file
            figures[spec.name] = (_base64(old), _base64(new))
    return figures


def _base64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _compare(analysis: Analysis, produced: Path) -> list[OutputComparison]:
    assert analysis.path is not None
    results = [
        compare(spec, analysis.path / "outputs" / spec.file, produced / spec.file)
        for spec in analysis.outputs
    ]
    recorded = {s.name for s in analysis.outputs}
    for spec in read_manifest(produced):
        if spec.name not in recorded:
            results.append(
                OutputComparison(spec.name, spec.kind, "new", "recorded by the re-run only")
            )
    return results
