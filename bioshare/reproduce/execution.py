"""Run a notebook with papermill in a fresh kernel, in a working folder of its own."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bioshare.reproduce.recording import DIR_VARIABLE, ENVIRONMENT
from bioshare.reproduce.safety import is_secret_name

__all__ = ["RunResult", "run_notebook"]

FINISH_TAG = "bioshare-reproduce"
_ENV_LOCK = threading.Lock()  # the kernel inherits os.environ when it starts


@dataclass(frozen=True)
class RunResult:
    """What one execution gave: the executed notebook, times, error, environment."""

    executed: Path
    outputs: Path  # the folder `record` wrote into
    start: dt.datetime
    end: dt.datetime
    error: str | None = None
    environment: dict[str, Any] | None = None

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def run_notebook(
    notebook: Path,
    parameters: dict[str, Any],
    folder: Path,
    *,
    timeout: float = 600,
    kernel_name: str = "python3",
) -> RunResult:
    """Execute ``notebook`` with ``parameters``; everything it writes stays in ``folder``.

    The kernel runs in ``folder/work``, without the environment variables that hold
    tokens or passwords; recorded outputs go to ``folder/outputs``; the executed notebook
    is ``folder/executed.ipynb``. ``timeout`` bounds each cell (seconds).
    A failing cell does not raise: the result carries the error.
    """
    import nbformat
    import papermill

    workdir, outputs = folder / "work", folder / "outputs"
    workdir.mkdir(parents=True, exist_ok=True)
    outputs.mkdir(parents=True, exist_ok=True)
    prepared = folder / "input.ipynb"
    document = nbformat.read(str(notebook), as_version=4)
    finish = nbformat.v4.new_code_cell(
        "import bioshare.reproduce.recording\nbioshare.reproduce.recording.finish()"
    )
    finish.metadata["tags"] = [FINISH_TAG]
    document.cells.append(finish)
    nbformat.write(document, str(prepared))
    executed = folder / "executed.ipynb"
    start = dt.datetime.now(dt.UTC)
    error = None
    with _ENV_LOCK:
        previous = os.environ.get(DIR_VARIABLE)
        os.environ[DIR_VARIABLE] = str(outputs)
        # the notebook's code is not ours to trust: its kernel gets no tokens or passwords
        hidden = {name: os.environ.pop(name) for name in list(os.environ) if is_secret_name(name)}
        try:
            papermill.execute_notebook(
                str(prepared),
                str(executed),
                parameters=parameters,
                kernel_name=kernel_name,
                language="python",
                cwd=str(workdir),
                execution_timeout=timeout,
                progress_bar=False,
                log_output=False,
            )
        except Exception as exc:  # papermill raises its own and nbclient's errors
            error = _describe(exc)
        finally:
            os.environ.update(hidden)
            if previous is None:
                os.environ.pop(DIR_VARIABLE, None)
            else:
                os.environ[DIR_VARIABLE] = previous
    end = dt.datetime.now(dt.UTC)
    environment = None
    if (outputs / ENVIRONMENT).is_file():
        environment = json.loads((outputs / ENVIRONMENT).read_text())
        (outputs / ENVIRONMENT).unlink()
    return RunResult(executed, outputs, start, end, error, environment)


def _describe(exc: Exception) -> str:
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    cell = getattr(exc, "exec_count", None)
    if ename:
        where = f" in cell [{cell}]" if cell is not None else ""
        return f"{ename}{where}: {evalue}"
    return f"{type(exc).__name__}: {exc}"
