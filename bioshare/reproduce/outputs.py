"""Declared outputs and how an expected one is compared with a re-run's.

Strings, integers, booleans and JSON structure compare exactly; floats, arrays and numeric
table columns within ``rtol``/``atol`` (``|got - expected| <= atol + rtol * |expected|``);
figures by structural similarity (SSIM of the grey-level images, 1.0 when identical) against
a threshold. Every comparison keeps its numbers: expected, got and the difference.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_ATOL",
    "DEFAULT_RTOL",
    "DEFAULT_THRESHOLD",
    "OutputComparison",
    "OutputSpec",
    "compare",
    "file_sha256",
    "read_manifest",
]

DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-9
DEFAULT_THRESHOLD = 0.99
KINDS = ("value", "array", "table", "figure")
MEDIA_TYPES = {
    "value": "application/json",
    "array": "application/x-npy",
    "table": "text/csv",
    "figure": "image/png",
}


@dataclass(frozen=True)
class OutputSpec:
    """One declared output: its kind, file, checksum and comparison settings."""

    name: str
    kind: str
    file: str
    sha256: str = ""
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL
    threshold: float = DEFAULT_THRESHOLD

    def with_settings(self, settings: dict[str, Any]) -> OutputSpec:
        """A copy with ``rtol``/``atol``/``threshold`` overridden by ``settings``."""
        unknown = set(settings) - {"rtol", "atol", "threshold"}
        if unknown:
            raise ValueError(
                f"output {self.name!r}: unknown setting(s) {sorted(unknown)}; expected "
                "rtol, atol or threshold"
            )
        changes: dict[str, Any] = {k: float(v) for k, v in settings.items()}
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutputSpec:
        if data.get("kind") not in KINDS:
            raise ValueError(
                f"output {data.get('name')!r}: kind {data.get('kind')!r}; expected one of {KINDS}"
            )
        names = ("name", "kind", "file", "sha256", "rtol", "atol", "threshold")
        return cls(**{k: data[k] for k in names if k in data})


@dataclass(frozen=True)
class OutputComparison:
    """How one output of the re-run compares with the recorded one.

    ``status`` is ``match``, ``drift`` (different beyond tolerance), ``missing`` (not
    produced by the re-run) or ``new`` (produced, not recorded; informational).
    """

    name: str
    kind: str
    status: str
    summary: str
    expected: Any = None
    got: Any = None
    difference: Any = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in ("match", "new")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: Path) -> list[OutputSpec]:
    """The outputs a run recorded in ``folder`` (``outputs.json``), with checksums."""
    from bioshare.reproduce.recording import MANIFEST

    path = folder / MANIFEST
    if not path.is_file():
        return []
    manifest = json.loads(path.read_text())
    specs = []
    for name, entry in sorted(manifest.items()):
        spec = OutputSpec.from_dict({"name": name, **entry})
        specs.append(replace(spec, sha256=file_sha256(folder / spec.file)))
    return specs


def compare(spec: OutputSpec, expected: Path, got: Path | None) -> OutputComparison:
    """Compare the recorded output file ``expected`` with the re-run's file ``got``."""
    if got is None or not got.is_file():
        return OutputComparison(
            spec.name, spec.kind, "missing", "not produced by the re-run", expected=spec.file
        )
    if file_sha256(got) == (spec.sha256 or file_sha256(expected)):
        value = _preview(spec, expected)
        return OutputComparison(
            spec.name, spec.kind, "match", "identical", expected=value, got=value, difference=0
        )
    try:
        if spec.kind == "value":
            return _compare_values(spec, expected, got)
        if spec.kind == "array":
            return _compare_arrays(spec, np.load(expected), np.load(got))
        if spec.kind == "table":
            return _compare_tables(spec, expected, got)
        return _compare_figures(spec, expected, got)
    except (OSError, ValueError) as exc:
        return OutputComparison(
            spec.name, spec.kind, "drift", f"cannot be compared: {exc}", expected=spec.file
        )


# -- values -------------------------------------------------------------------------------------


def _compare_values(spec: OutputSpec, expected: Path, got: Path) -> OutputComparison:
    old = json.loads(expected.read_text())
    new = json.loads(got.read_text())
    problems: list[tuple[str, str, Any, Any, float | None]] = []
    worst = _walk(old, new, "", spec, problems)
    if not problems:
        summary = "equal" if worst == 0 else f"within tolerance (largest difference {worst:.3g})"
        return OutputComparison(
            spec.name, spec.kind, "match", summary, expected=old, got=new, difference=worst
        )
    path, what, a, b, delta = problems[0]
    where = f" at {path}" if path else ""
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return OutputComparison(
        spec.name,
        spec.kind,
        "drift",
        f"{what}{where}: expected {_short(a)}, got {_short(b)}{more}",
        expected=old,
        got=new,
        difference=delta,
        details={"differences": [{"path": p, "what": w} for p, w, *_ in problems[:20]]},
    )


def _walk(
    old: Any,
    new: Any,
    path: str,
    spec: OutputSpec,
    problems: list[tuple[str, str, Any, Any, float | None]],
) -> float:
    """Collect differences between two JSON values; returns the largest numeric one."""
    if _is_number(old) and _is_number(new) and (isinstance(old, float) or isinstance(new, float)):
        delta = abs(float(new) - float(old))
        if delta > spec.atol + spec.rtol * abs(float(old)):
            relative = delta / abs(float(old)) if old else math.inf
            problems.append(
                (path, f"differs by {delta:.6g} ({relative:.3g} relative)", old, new, delta)
            )
        return delta
    if type(old) is not type(new):
        problems.append((path, "different type", old, new, None))
        return 0.0
    if isinstance(old, dict):
        worst = 0.0
        for key in sorted(set(old) | set(new)):
            if key not in old or key not in new:
                problems.append(
                    (f"{path}.{key}", "key only on one side", old.get(key), new.get(key), None)
                )
                continue
            worst = max(worst, _walk(old[key], new[key], f"{path}.{key}", spec, problems))
        return worst
    if isinstance(old, list):
        if len(old) != len(new):
            problems.append((path, f"length {len(old)} vs {len(new)}", len(old), len(new), None))
            return 0.0
        worst = 0.0
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            worst = max(worst, _walk(a, b, f"{path}[{i}]", spec, problems))
        return worst
    if old != new:
        gap: float | None = abs(new - old) if _is_number(old) and _is_number(new) else None
        problems.append((path, "different" if gap is None else f"differs by {gap}", old, new, gap))
    return 0.0


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- arrays and tables --------------------------------------------------------------------------


def _compare_arrays(spec: OutputSpec, old: np.ndarray, new: np.ndarray) -> OutputComparison:
    shapes = {"expected_shape": list(old.shape), "got_shape": list(new.shape)}
    if old.shape != new.shape:
        return OutputComparison(
            spec.name,
            spec.kind,
            "drift",
            f"shape {old.shape} expected, {new.shape} got",
            expected=list(old.shape),
            got=list(new.shape),
            details=shapes,
        )
    if old.dtype.kind in "biuf" and new.dtype.kind in "biuf":
        a, b = old.astype(np.float64), new.astype(np.float64)
        delta = np.abs(b - a)
        bad = ~np.isclose(b, a, rtol=spec.rtol, atol=spec.atol, equal_nan=True)
        largest = float(np.nanmax(delta)) if delta.size else 0.0
        where = np.unravel_index(int(np.nanargmax(delta)), delta.shape) if delta.size else ()
        details = {
            **shapes,
            "max_abs_difference": largest,
            "mean_abs_difference": float(np.nanmean(delta)) if delta.size else 0.0,
            "elements_differing": int(bad.sum()),
            "elements": int(delta.size),
        }
        status = "drift" if bad.any() else "match"
        summary = (
            f"{int(bad.sum())} of {delta.size} element(s) differ; largest difference "
            f"{largest:.6g} at {tuple(int(i) for i in where)}"
            if bad.any()
            else f"within tolerance (largest difference {largest:.3g})"
        )
        index = tuple(int(i) for i in where)
        return OutputComparison(
            spec.name,
            spec.kind,
            status,
            summary,
            expected=float(a[index]) if delta.size else None,
            got=float(b[index]) if delta.size else None,
            difference=largest,
            details=details,
        )
    equal = np.array_equal(old, new)
    return OutputComparison(
        spec.name,
        spec.kind,
        "match" if equal else "drift",
        "equal" if equal else f"{int((old != new).sum())} element(s) differ",
        details=shapes,
    )


def _compare_tables(spec: OutputSpec, expected: Path, got: Path) -> OutputComparison:
    import pandas as pd

    old, new = pd.read_csv(expected), pd.read_csv(got)
    shape = {"expected_shape": list(old.shape), "got_shape": list(new.shape)}
    if list(old.columns) != list(new.columns) or old.shape != new.shape:
        return OutputComparison(
            spec.name,
            spec.kind,
            "drift",
            f"{old.shape[0]} rows x columns {list(old.columns)} expected, "
            f"{new.shape[0]} rows x columns {list(new.columns)} got",
            expected=shape["expected_shape"],
            got=shape["got_shape"],
            details=shape,
        )
    columns: dict[str, dict[str, Any]] = {}
    worst: tuple[str, float, Any, Any] | None = None
    for column in old.columns:
        a, b = old[column], new[column]
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
            x, y = a.to_numpy(np.float64), b.to_numpy(np.float64)
            bad = ~np.isclose(y, x, rtol=spec.rtol, atol=spec.atol, equal_nan=True)
            delta = np.abs(y - x)
            largest = float(np.nanmax(delta)) if delta.size else 0.0
            if bad.any():
                row = int(np.nanargmax(delta))
                columns[str(column)] = {
                    "rows_differing": int(bad.sum()),
                    "max_abs_difference": largest,
                    "row": row,
                    "expected": float(x[row]),
                    "got": float(y[row]),
                }
                if worst is None or largest > worst[1]:
                    worst = (str(column), largest, float(x[row]), float(y[row]))
        else:
            bad = (a.astype(str) != b.astype(str)).to_numpy()
            if bad.any():
                row = int(np.argmax(bad))
                columns[str(column)] = {
                    "rows_differing": int(bad.sum()),
                    "row": row,
                    "expected": str(a.iloc[row]),
                    "got": str(b.iloc[row]),
                }
    if not columns:
        return OutputComparison(
            spec.name, spec.kind, "match", f"within tolerance ({old.shape[0]} rows)", details=shape
        )
    parts = [f"{c}: {d['rows_differing']} row(s)" for c, d in columns.items()]
    summary = "columns differ: " + ", ".join(parts)
    before: float | None = None
    after: float | None = None
    difference: float | None = None
    if worst is not None:
        column, difference, before, after = worst
        summary += f"; largest difference {difference:.6g} in {column!r}"
    return OutputComparison(
        spec.name,
        spec.kind,
        "drift",
        summary,
        expected=before,
        got=after,
        difference=difference,
        details={**shape, "columns": columns},
    )


# -- figures ------------------------------------------------------------------------------------


def _compare_figures(spec: OutputSpec, expected: Path, got: Path) -> OutputComparison:
    old, new = _grey(expected), _grey(got)
    if old.shape != new.shape:
        return OutputComparison(
            spec.name,
            spec.kind,
            "drift",
            f"size {old.shape[1]}x{old.shape[0]} px expected, {new.shape[1]}x{new.shape[0]} got",
            expected=list(old.shape),
            got=list(new.shape),
        )
    from skimage.metrics import structural_similarity

    similarity = float(structural_similarity(old, new, data_range=1.0))
    rms = float(np.sqrt(np.mean((old - new) ** 2)))
    status = "match" if similarity >= spec.threshold else "drift"
    return OutputComparison(
        spec.name,
        spec.kind,
        status,
        f"similarity {similarity:.4f} (threshold {spec.threshold}), RMS difference {rms:.4f}",
        expected=1.0,
        got=similarity,
        difference=rms,
        details={"ssim": similarity, "rms": rms, "threshold": spec.threshold},
    )


def _grey(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("L"), dtype=np.float64) / 255.0


# -- display ------------------------------------------------------------------------------------


def _preview(spec: OutputSpec, path: Path) -> Any:
    """A small stand-in of a matching output for reports: the value, else a description."""
    if spec.kind == "value" and path.stat().st_size <= 2000:
        return json.loads(path.read_text())
    return spec.file


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
