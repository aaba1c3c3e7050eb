"""What a notebook calls to declare the outputs a re-run is checked against.

A notebook author writes, anywhere in the notebook::

    from bioshare.reproduce import record
    record("nuclei_count", int(labels.max()))
    record("areas", table)                      # a pandas DataFrame
    record("overview", fig, threshold=0.95)     # a matplotlib Figure

When `bioshare.reproduce.capture` or `bioshare.rerun` executes the notebook, they set
``BIOSHARE_REPRODUCE_DIR`` and each call writes the value there (JSON, ``.npy``, CSV or
PNG) with an entry in ``outputs.json``. In a notebook run by hand the variable is unset and
`record` does nothing but hand the value back. This module imports nothing heavy: the
kernel under test pays only for what it records.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "DIR_VARIABLE",
    "MANIFEST",
    "finish",
    "record",
    "record_figure",
    "record_table",
    "recording_dir",
]

DIR_VARIABLE = "BIOSHARE_REPRODUCE_DIR"
MANIFEST = "outputs.json"
ENVIRONMENT = "environment.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def recording_dir() -> Path | None:
    """The folder outputs are recorded into, or None outside a capture or re-run."""
    value = os.environ.get(DIR_VARIABLE)
    return Path(value) if value else None


def record(
    name: str,
    value: Any,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    threshold: float | None = None,
) -> Any:
    """Declare an output of the analysis; returns ``value`` unchanged.

    Parameters
    ----------
    name
        A short name (letters, digits, ``_ . -``), unique in the notebook.
    value
        A JSON value (str, int, float, bool, None, list, dict), a numpy array or scalar, a
        pandas DataFrame/Series (a table) or a matplotlib Figure (a figure).
    rtol, atol
        Tolerances for numbers, arrays and numeric table columns (defaults 1e-6 and 1e-9).
    threshold
        Figures: the least structural similarity (SSIM of the colour images, 0-1) that
        still matches (default 0.99); at most ``(1 - threshold)**2`` of the pixels may
        change visibly (0.01 % by default).
    """
    kind = _kind(value)
    if kind == "figure":
        return record_figure(name, value, threshold=threshold)
    if kind == "table":
        return record_table(name, value, rtol=rtol, atol=atol)
    folder = _folder(name)
    if folder is None:
        return value
    if kind == "array":
        import numpy as np

        file = f"{name}.npy"
        np.save(folder / file, np.asarray(value), allow_pickle=False)
    else:
        file = f"{name}.json"
        _write_text(folder / file, json.dumps(_jsonable(value, name), indent=1, sort_keys=True))
    _declare(folder, name, kind, file, rtol=rtol, atol=atol)
    return value


def record_table(
    name: str, table: Any, *, rtol: float | None = None, atol: float | None = None
) -> Any:
    """Declare a table output (a pandas DataFrame or Series), kept as CSV; returns it."""
    folder = _folder(name)
    if folder is None:
        return table
    frame = table.to_frame() if hasattr(table, "to_frame") and table.ndim == 1 else table
    if not hasattr(frame, "to_csv"):
        raise TypeError(f"record_table({name!r}): expected a pandas DataFrame, not {type(table)}")
    import pandas as pd

    keep_index = not isinstance(frame.index, pd.RangeIndex)
    file = f"{name}.csv"
    frame.to_csv(folder / file, index=keep_index)
    _declare(folder, name, "table", file, rtol=rtol, atol=atol)
    return table


def record_figure(name: str, figure: Any, *, threshold: float | None = None, dpi: int = 80) -> Any:
    """Declare a figure output (a matplotlib Figure), kept as PNG; returns it."""
    folder = _folder(name)
    if folder is None:
        return figure
    if not hasattr(figure, "savefig"):
        raise TypeError(
            f"record_figure({name!r}): expected a matplotlib Figure, not {type(figure)}"
        )
    file = f"{name}.png"
    # No timestamps or software tags in the PNG: equal figures are equal bytes.
    figure.savefig(folder / file, format="png", dpi=dpi, metadata={"Software": None})
    _declare(folder, name, "figure", file, threshold=threshold)
    return figure


def finish() -> None:
    """Record the kernel's environment (Python, platform, imported packages).

    Appended as the last cell of every notebook that capture and rerun execute.
    """
    folder = recording_dir()
    if folder is None:
        return
    from bioshare.reproduce.environment import snapshot

    modules = {name.partition(".")[0] for name in list(sys.modules)}
    _write_text(folder / ENVIRONMENT, json.dumps(snapshot(modules), indent=1, sort_keys=True))


# -- helpers ----------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    module = type(value).__module__.partition(".")[0]
    if hasattr(value, "savefig"):
        return "figure"
    if module == "pandas" and hasattr(value, "to_csv"):
        return "table"
    if module == "numpy":
        return "array" if getattr(value, "ndim", 0) > 0 else "value"
    return "value"


def _folder(name: str) -> Path | None:
    if not _NAME.match(str(name)):
        raise ValueError(
            f"output name {name!r}: use letters, digits, '_', '.' or '-' (at most 100), "
            "starting with a letter or digit"
        )
    folder = recording_dir()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def _jsonable(value: Any, name: str) -> Any:
    """``value`` as plain JSON types; numpy scalars become Python numbers."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return {"float": repr(value)}  # JSON has no nan/inf
        return value
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return _jsonable(value.item(), name)
    if isinstance(value, list | tuple):
        return [_jsonable(v, name) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v, name) for k, v in value.items()}
    raise TypeError(
        f"record({name!r}): cannot record a {type(value).__name__}; expected a JSON value, "
        "a numpy array, a pandas DataFrame or a matplotlib Figure"
    )


def _declare(folder: Path, name: str, kind: str, file: str, **settings: float | None) -> None:
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        manifest = {}
    entry: dict[str, Any] = {"kind": kind, "file": file}
    entry.update({k: float(v) for k, v in settings.items() if v is not None})
    manifest[name] = entry
    _write_text(path, json.dumps(manifest, indent=1, sort_keys=True))


def _write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)
