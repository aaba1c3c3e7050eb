"""Declared outputs and how an expected one is compared with a re-run's.

Strings, integers, booleans and JSON structure compare exactly, and so do integer arrays
and columns; floats, float arrays and columns within ``rtol``/``atol`` (``|got - expected|
<= atol + rtol * |expected|``; NaN matches only NaN);
figures by structural similarity (SSIM of the colour images, 1.0 when identical) against
a threshold, and by the share of visibly changed pixels. Every comparison keeps its numbers:
expected, got and the difference.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from bioshare.publishing.package import file_sha256

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
# A figure's pixel changed when a channel moved by more than this (0-1); a figure matches
# when its SSIM is at least ``threshold`` and at most (1 - threshold)**2 of its pixels
# changed (0.01 % by default: about 20 pixels of a 512 x 384 figure).
PIXEL_TOLERANCE = 0.1
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
        found = _differences(old.ravel(), new.ravel(), spec)
        index = np.unravel_index(found.index, old.shape) if old.size else ()
        where = tuple(int(i) for i in index)
        details = {
            **shapes,
            "max_abs_difference": max(found.largest, found.shown),
            "mean_abs_difference": found.mean,
            "elements_differing": found.count,
            "elements": int(old.size),
        }
        summary = (
            f"{found.count} of {old.size} element(s) differ; the worst, at {where}: expected "
            f"{found.expected}, got {found.got} (difference {found.shown:.6g})"
            if found.count
            else f"within tolerance (largest difference {found.largest:.3g})"
        )
        return OutputComparison(
            spec.name,
            spec.kind,
            "drift" if found.count else "match",
            summary,
            expected=found.expected,
            got=found.got,
            difference=found.shown if found.count else found.largest,
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


@dataclass(frozen=True)
class _Differences:
    """Numeric differences of two equally long vectors, and the element that shows them."""

    count: int  # elements beyond tolerance
    index: int  # the element reported: the worst failing one (else the largest difference)
    largest: float  # the largest finite absolute difference
    mean: float
    shown: float  # the difference at ``index`` (inf: NaN against a number)
    expected: float | int | bool | str | None
    got: float | int | bool | str | None


def _differences(old: np.ndarray, new: np.ndarray, spec: OutputSpec) -> _Differences:
    """Integers and booleans compare exactly, floats within tolerance; NaN equals only NaN."""
    if old.size == 0:
        return _Differences(0, 0, 0.0, 0.0, 0.0, None, None)
    exact = old.dtype.kind in "biu" and new.dtype.kind in "biu"
    if exact:
        bad = np.asarray(old != new, dtype=bool)
        delta = np.zeros(old.shape, dtype=np.float64)
        # exact gaps (int64 values beyond 2**53 are not exact as floats)
        delta[bad] = [abs(int(y) - int(x)) for x, y in zip(old[bad], new[bad], strict=True)]
        score = np.where(bad, delta, -np.inf)
    else:
        a, b = old.astype(np.float64), new.astype(np.float64)
        nan_a, nan_b = np.isnan(a), np.isnan(b)
        with np.errstate(invalid="ignore"):
            delta = np.abs(b - a)
            bound = spec.atol + spec.rtol * np.abs(a)
            bad = (nan_a != nan_b) | (~nan_a & ~nan_b & ~(delta <= bound))
            # how far beyond its own tolerance each element is; NaN against a number: worst
            ratio = np.where(nan_a | nan_b, np.inf, delta / np.where(bound > 0, bound, 1e-300))
        delta = np.where(nan_a | nan_b, np.where(nan_a == nan_b, 0.0, np.inf), delta)
        score = np.where(bad, ratio, -np.inf)
    finite = delta[np.isfinite(delta)]
    largest = float(finite.max()) if finite.size else 0.0
    mean = float(finite.mean()) if finite.size else 0.0
    count = int(bad.sum())
    if count:
        index = int(np.argmax(score))
    else:
        index = int(np.argmax(np.where(np.isfinite(delta), delta, -1.0)))
    return _Differences(
        count,
        index,
        largest,
        mean,
        float(delta[index]),
        _scalar(old[index]),
        _scalar(new[index]),
    )


def _scalar(value: Any) -> float | int | bool | str:
    item = value.item() if hasattr(value, "item") else value
    if isinstance(item, float) and math.isnan(item):
        return "nan"  # strict JSON has no NaN
    return item


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
            found = _differences(a.to_numpy(), b.to_numpy(), spec)
            if found.count:
                columns[str(column)] = {
                    "rows_differing": found.count,
                    "max_abs_difference": max(found.largest, found.shown),
                    "row": found.index,
                    "expected": found.expected,
                    "got": found.got,
                }
                if worst is None or found.shown > worst[1]:
                    worst = (str(column), found.shown, found.expected, found.got)
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
    before: Any = None
    after: Any = None
    difference: float | None = None
    if worst is not None:
        column, difference, before, after = worst
        summary += f"; worst difference {difference:.6g} in {column!r}"
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
    old, new = _rgb(expected), _rgb(got)
    if old.shape != new.shape:
        return OutputComparison(
            spec.name,
            spec.kind,
            "drift",
            f"size {old.shape[1]}x{old.shape[0]} px expected, {new.shape[1]}x{new.shape[0]} got",
            expected=list(old.shape[:2]),
            got=list(new.shape[:2]),
        )
    from skimage.metrics import structural_similarity

    similarity = float(structural_similarity(old, new, data_range=1.0, channel_axis=2))
    rms = float(np.sqrt(np.mean((old - new) ** 2)))
    # SSIM averages over the picture: a changed digit in a title or another colour of the
    # same lightness barely moves it, so the share of visibly changed pixels is bounded too.
    changed = float(np.mean(np.abs(old - new).max(axis=2) > PIXEL_TOLERANCE))
    allowed = (1.0 - spec.threshold) ** 2
    status = "match" if similarity >= spec.threshold and changed <= allowed else "drift"
    return OutputComparison(
        spec.name,
        spec.kind,
        status,
        f"similarity {similarity:.4f} (threshold {spec.threshold}), RMS difference {rms:.4f}, "
        f"{changed:.3%} of pixels changed (at most {allowed:.3%})",
        expected=1.0,
        got=similarity,
        difference=rms,
        details={
            "ssim": similarity,
            "rms": rms,
            "threshold": spec.threshold,
            "changed_pixels": changed,
            "allowed_changed_pixels": allowed,
        },
    )


def _rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        # transparent pixels as on a white page, so that their hidden colour does not count
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        flat = Image.alpha_composite(background, image.convert("RGBA")).convert("RGB")
    return np.asarray(flat, dtype=np.float64) / 255.0


# -- display ------------------------------------------------------------------------------------


def _preview(spec: OutputSpec, path: Path) -> Any:
    """A small stand-in of a matching output for reports: the value, else a description."""
    if spec.kind == "value" and path.stat().st_size <= 2000:
        return json.loads(path.read_text())
    return spec.file


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
