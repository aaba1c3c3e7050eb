"""`capture`: run a notebook once and keep everything needed to run it again and check it."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bioshare.errors import BioshareError
from bioshare.reproduce.crate import ANALYSIS_FILE, Analysis, write_crate
from bioshare.reproduce.execution import run_notebook
from bioshare.reproduce.inputs import find_inputs, local_path
from bioshare.reproduce.outputs import OutputSpec, read_manifest
from bioshare.reproduce.recording import DIR_VARIABLE
from bioshare.reproduce.safety import check_files, check_parameters

__all__ = ["capture"]

MAX_INPUT_BYTES = 512 * 1024**2


def capture(
    notebook: str | os.PathLike[str],
    parameters: dict[str, Any] | None = None,
    outputs: Iterable[str] | dict[str, dict[str, float]] | None = None,
    *,
    dest: str | os.PathLike[str] | None = None,
    title: str | None = None,
    description: str = "",
    agent: str | None = None,
    license: str | None = None,
    include_inputs: bool = True,
    max_input_bytes: int = MAX_INPUT_BYTES,
    timeout: float = 600,
    kernel_name: str = "python3",
    overwrite: bool = False,
) -> Analysis:
    """Execute ``notebook`` and capture the run as a Process Run Crate.

    The notebook declares its outputs with `bioshare.reproduce.record` (values, arrays,
    tables, figures). It is executed with papermill in a fresh kernel and an empty working
    folder; the crate keeps the notebook, the parameters, the inputs (local files copied with
    their sha256; URLs by reference), every recorded output with its sha256, the executed
    notebook, and the Python, platform and package versions the kernel used.

    Parameters
    ----------
    notebook
        The ``.ipynb`` to run; parameters go to its cell tagged ``parameters``.
    parameters
        Values for the notebook's parameters (JSON-serialisable). Those naming a local file
        or folder, or a URL, are recorded as inputs. Never pass tokens: they are refused.
    outputs
        Which recorded outputs to keep (names), or per-output comparison settings
        (``{"mean_area": {"rtol": 1e-3}, "overview": {"threshold": 0.9}}``, which also
        selects them). None keeps every recorded output with the notebook's own settings.
    dest
        The crate to write: a folder, or a ``.zip``. Default ``<notebook>.crate`` beside it.
    title, description, agent
        For the crate; ``agent`` is a name or an ORCID URL of who ran the analysis.
    license
        The licence of the notebook and its outputs: an SPDX id (``"CC-BY-4.0"``) or a URL.
        Without one the crate says that none was given.
    include_inputs
        Copy local input files into the crate (up to ``max_input_bytes`` each), so that the
        analysis re-runs elsewhere.
    timeout
        Seconds allowed per cell.
    kernel_name
        The Jupyter kernel to run.
    overwrite
        Replace an existing ``dest``.

    Returns
    -------
    Analysis
        What was captured, with ``path`` set to the crate.
    """
    from bioshare import __version__

    source = Path(notebook).expanduser().resolve()
    if not source.is_file() or source.suffix != ".ipynb":
        raise FileNotFoundError(f"{notebook}: no such notebook; expected an .ipynb file")
    values = dict(parameters or {})
    check_parameters(values)
    _check_json(values)
    target = Path(dest).expanduser() if dest else source.with_name(f"{source.stem}.crate")
    if (target.exists() or target.is_symlink()) and not overwrite:
        raise BioshareError(f"{target} already exists; pass overwrite=True to replace it")
    inputs, copies = find_inputs(values, include=include_inputs, max_bytes=max_input_bytes)
    # The kernel works in an empty folder: relative paths must be made absolute for it.
    run_values = {k: str(p) if (p := local_path(v)) else v for k, v in values.items()}
    folder = Path(tempfile.mkdtemp(prefix="bioshare-capture-"))
    try:
        result = run_notebook(source, run_values, folder, timeout=timeout, kernel_name=kernel_name)
        if result.error:
            raise BioshareError(
                f"{source.name} failed while being captured: {result.error}; nothing was "
                f"captured{_keep(result.executed)}"
            )
        specs = _select(read_manifest(result.outputs), outputs, source.name)
        if result.environment is None:
            raise BioshareError(
                f"{source.name} ran, but its kernel did not report its environment (did the "
                f"notebook unset {DIR_VARIABLE}?); nothing was captured"
            )
        executed = f"{source.stem}.executed.ipynb"
        analysis = Analysis(
            title=title or f"Analysis: {source.stem}",
            notebook=source.name,
            parameters=values,
            inputs=inputs,
            outputs=specs,
            environment=result.environment,
            start=result.start.isoformat(timespec="seconds"),
            end=result.end.isoformat(timespec="seconds"),
            executed=executed,
            agent=agent,
            description=description,
            license=license,
            bioshare_version=__version__,
        )
        described = folder / ANALYSIS_FILE
        described.write_text(json.dumps(analysis.to_dict(), indent=1))
        files = {
            source.name: source,
            executed: result.executed,
            ANALYSIS_FILE: described,
            **{f"outputs/{s.file}": result.outputs / s.file for s in specs},
            **copies,
        }
        check_files(files.values())
        write_crate(analysis, files, target, overwrite=overwrite)
        return analysis
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _select(
    recorded: list[OutputSpec],
    wanted: Iterable[str] | dict[str, dict[str, float]] | None,
    notebook: str,
) -> list[OutputSpec]:
    if not recorded:
        raise BioshareError(
            f"{notebook} recorded no outputs, so a re-run would have nothing to check: declare "
            "them in the notebook with bioshare.reproduce.record(name, value)"
        )
    if wanted is None:
        return recorded
    settings = wanted if isinstance(wanted, dict) else {name: {} for name in wanted}
    by_name = {s.name: s for s in recorded}
    missing = sorted(set(settings) - set(by_name))
    if missing:
        raise BioshareError(
            f"{notebook} did not record {', '.join(map(repr, missing))}; it recorded "
            f"{', '.join(sorted(by_name))}"
        )
    return [by_name[name].with_settings(dict(options)) for name, options in settings.items()]


def _check_json(parameters: dict[str, Any]) -> None:
    for name, value in parameters.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise TypeError(
                f"parameter {name!r} is a {type(value).__name__}; notebook parameters must be "
                "JSON values (str, number, bool, None, list, dict)"
            ) from None


def _keep(executed: Path) -> str:
    """Copy a failed run's notebook where the user can open it, since the rest is removed."""
    if not executed.is_file():
        return ""
    kept = Path(tempfile.mkdtemp(prefix="bioshare-failed-")) / executed.name
    shutil.copyfile(executed, kept)
    return f" (the executed notebook is kept in {kept})"
