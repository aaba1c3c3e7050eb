"""Pure numpy helpers that turn image windows into RGB(A) frames for the Viewer.

Nothing here knows about widgets, threads or xarray: every function takes arrays and
numbers and returns arrays and numbers, so each can be tested on its own.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "AxisPlan",
    "block_mean",
    "composite",
    "contrast_limits",
    "fit_viewport",
    "hex_to_rgb",
    "label_color",
    "overlay_labels",
    "plan_axis",
    "resample",
    "scale_bar",
    "unit_symbol",
]

Array = npt.NDArray[Any]
RGBA = tuple[int, int, int, int]

# NGFF space and time units -> short symbols.
_SYMBOLS = {
    "angstrom": "Å",
    "picometer": "pm",
    "nanometer": "nm",
    "micrometer": "µm",
    "millimeter": "mm",
    "centimeter": "cm",
    "decimeter": "dm",
    "meter": "m",
    "kilometer": "km",
    "inch": "in",
    "foot": "ft",
    "yard": "yd",
    "mile": "mi",
    "parsec": "pc",
    "attosecond": "as",
    "femtosecond": "fs",
    "picosecond": "ps",
    "nanosecond": "ns",
    "microsecond": "µs",
    "millisecond": "ms",
    "second": "s",
    "minute": "min",
    "hour": "h",
    "day": "d",
}
# Metric lengths in meters: a scale bar may switch between them (1000 µm -> 1 mm).
_METERS = {
    "femtometer": 1e-15,
    "picometer": 1e-12,
    "angstrom": 1e-10,
    "nanometer": 1e-9,
    "micrometer": 1e-6,
    "millimeter": 1e-3,
    "centimeter": 1e-2,
    "decimeter": 1e-1,
    "meter": 1.0,
    "kilometer": 1e3,
}
_BAR_UNITS = ("picometer", "nanometer", "micrometer", "millimeter", "meter", "kilometer")
_PERCENTILES = (0.5, 99.5)
_MAX_PERCENTILE_SAMPLES = 2**18


def unit_symbol(unit: str | None) -> str:
    """The short symbol of an NGFF unit name ("micrometer" -> "µm"); unknown names as given."""
    if not unit:
        return ""
    return _SYMBOLS.get(unit, unit)


def hex_to_rgb(color: str) -> tuple[float, float, float]:
    """Parse "#RRGGBB" or "RRGGBB" into floats in [0, 1]."""
    text = color.strip().lstrip("#")
    if len(text) != 6:
        raise ValueError(f"color {color!r} is not 6 hexadecimal digits such as 'FF00FF'")
    return tuple(int(text[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def contrast_limits(
    values: Array, percentiles: tuple[float, float] = _PERCENTILES
) -> tuple[float, float]:
    """Contrast limits from percentiles of the finite values (0.5 and 99.5 by default).

    Large arrays are strided down to about 260,000 samples first: the limits barely change
    and the cost stays flat. The upper limit is always above the lower one.
    """
    flat = np.asarray(values).ravel()
    if flat.size > _MAX_PERCENTILE_SAMPLES:
        flat = flat[:: math.ceil(flat.size / _MAX_PERCENTILE_SAMPLES)]
    if flat.dtype.kind == "f":
        flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(flat, percentiles))
    if hi <= lo:
        hi = lo + 1.0
    return lo, hi


def composite(
    channels: Sequence[Array] | Array,
    colors: Sequence[str | tuple[float, float, float]],
    limits: Sequence[tuple[float, float]],
) -> Array:
    """Additive color composite of channels as a (h, w, 3) uint8 RGB image.

    Each channel is scaled linearly so that its limits map to 0 and 1 (clipped), multiplied
    by its color and summed; the sum is clipped to 1.

    Parameters
    ----------
    channels
        2D arrays of equal shape, one per channel (or one (n, h, w) array).
    colors
        One color per channel: "#RRGGBB" or an RGB tuple of floats in [0, 1].
    limits
        One (low, high) pair per channel.
    """
    planes = [np.asarray(c) for c in channels]
    if not len(planes) == len(colors) == len(limits):
        raise ValueError(
            f"got {len(planes)} channels, {len(colors)} colors and {len(limits)} limits"
        )
    if not planes:
        raise ValueError("composite needs at least one channel")
    # Each channel adds a (value -> RGB) lookup table: one gather per channel instead of a
    # dozen float passes over the frame (a 768 x 768 x 4 frame: 60 -> 10 ms).
    acc = np.zeros((*planes[0].shape, 3), dtype=np.uint16)
    for plane, color, (lo, hi) in zip(planes, colors, limits, strict=True):
        rgb = hex_to_rgb(color) if isinstance(color, str) else color
        index, levels = _lookup_index(plane, float(lo), float(hi))
        ramp = np.linspace(0.0, 1.0, levels, dtype=np.float64) if levels else _direct(plane, lo, hi)
        table = (ramp[:, None] * np.asarray(rgb, dtype=np.float64) * 255 + 0.5).astype(np.uint16)
        acc += np.take(table, index, axis=0)  # 5x faster than table[index]
    np.minimum(acc, 255, out=acc)
    return acc.astype(np.uint8)


_QUANTA = 4096  # levels of a channel scaled to its limits when no direct table fits


def _lookup_index(plane: Array, lo: float, hi: float) -> tuple[Array, int]:
    """Indices into a channel's lookup table, and its length (0: the table is by value).

    8- and 16-bit unsigned integers index a table over every value of their type; other
    types are scaled to ``_QUANTA`` levels between the limits first.
    """
    if plane.dtype in (np.uint8, np.uint16):
        return plane, 0
    span = hi - lo if hi != lo else 1.0
    scaled = (plane.astype(np.float32) - np.float32(lo)) * np.float32((_QUANTA - 1) / span)
    np.clip(scaled, 0, _QUANTA - 1, out=scaled)
    scaled = np.nan_to_num(scaled, copy=False)
    return (scaled + 0.5).astype(np.uint16), _QUANTA


def _direct(plane: Array, lo: float, hi: float) -> Array:
    """Every value of an 8- or 16-bit type scaled to [0, 1] between the limits."""
    values = np.arange(np.iinfo(plane.dtype).max + 1, dtype=np.float64)
    span = hi - lo if hi != lo else 1.0
    return np.clip((values - lo) / span, 0.0, 1.0)


def label_color(value: int) -> RGBA:
    """A deterministic bright color for a label value (golden-ratio hues)."""
    hue = (int(value) * 0.618033988749895) % 1.0
    saturation = 0.65 + 0.35 * ((int(value) * 7) % 3) / 2
    r, g, b = colorsys.hsv_to_rgb(hue, saturation, 1.0)
    return round(r * 255), round(g * 255), round(b * 255), 255


def overlay_labels(
    rgb: Array,
    labels: Array,
    colors: Mapping[int, Sequence[int]] | None = None,
    alpha: float = 0.5,
) -> Array:
    """Blend label colors over an RGB image; label 0 stays transparent.

    Parameters
    ----------
    rgb
        (h, w, 3) uint8 image.
    labels
        (h, w) integer label values.
    colors
        Label value -> RGBA (0-255), as in the NGFF ``image-label`` metadata; values not
        listed get `label_color`.
    alpha
        Opacity of a label whose own alpha is 255.
    """
    labels = np.asarray(labels)
    if labels.shape != rgb.shape[:2]:
        raise ValueError(f"labels of shape {labels.shape} do not match rgb {rgb.shape[:2]}")
    if not labels.any():
        return rgb
    values, inverse = np.unique(labels, return_inverse=True)
    table = np.array([_rgba(int(v), colors) for v in values.tolist()], dtype=np.float32).reshape(
        -1, 4
    )
    table[:, 3] *= alpha / 255
    table[values == 0, 3] = 0.0
    per_pixel = table[inverse.reshape(labels.shape)]
    weight = per_pixel[..., 3:4]
    out = rgb.astype(np.float32) * (1 - weight) + per_pixel[..., :3] * weight
    return (out + 0.5).astype(np.uint8)


def _rgba(value: int, colors: Mapping[int, Sequence[int]] | None) -> RGBA:
    given = (colors or {}).get(value)
    if given is None:
        return label_color(value)
    r, g, b, *rest = (int(c) for c in given)
    return r, g, b, rest[0] if rest else 255


def scale_bar(
    pixel_size: float, unit: str | None, width_px: int, fraction: float = 0.2
) -> tuple[float, str]:
    """A scale bar of a round length (1, 2 or 5 times a power of ten) for a view.

    Parameters
    ----------
    pixel_size
        Physical size of one screen pixel, in ``unit``.
    unit
        NGFF unit name ("micrometer"); metric lengths switch prefix to keep the number
        between 1 and 999 ("1 mm" rather than "1000 µm"). None for no unit.
    width_px
        Width of the view in screen pixels; the bar is at most ``fraction`` of it.

    Returns
    -------
    tuple
        The bar's length in screen pixels and its label, such as ``(93.0, "10 µm")``.
    """
    if not pixel_size > 0 or width_px <= 0:
        return 0.0, ""
    target = pixel_size * width_px * fraction  # in `unit`
    shown, factor = unit, 1.0  # factor: one `shown` unit in `unit`
    if unit in _METERS:
        meters = target * _METERS[unit]
        for candidate in _BAR_UNITS:
            if meters >= _METERS[candidate]:
                shown = candidate
        factor = _METERS[shown or unit] / _METERS[unit]
    value = _round_down(target / factor)
    length = value * factor / pixel_size
    symbol = unit_symbol(shown)
    label = f"{value:g} {symbol}" if symbol else f"{value:g}"
    return float(length), label


def _round_down(value: float) -> float:
    """The largest 1, 2 or 5 times a power of ten that is at most ``value``."""
    power = 10 ** math.floor(math.log10(value))
    for step in (5, 2, 1):
        if step * power <= value * (1 + 1e-9):
            return float(step * power)
    return float(power)


# -- sampling a window onto the screen ------------------------------------------------------


@dataclass(frozen=True)
class AxisPlan:
    """How one screen axis samples one array axis.

    ``start:stop`` is the source range to read; the read is reduced by block means of
    ``block`` pixels (blocks aligned on multiples of ``block`` in the source), and screen
    pixel ``j`` shows reduced pixel ``index[j]``, or nothing when ``index[j]`` is -1.
    """

    start: int
    stop: int
    block: int
    index: npt.NDArray[np.int64]

    @property
    def empty(self) -> bool:
        return self.stop <= self.start


def plan_axis(start: float, stop: float, n_out: int, size: int, *, block: bool = True) -> AxisPlan:
    """Plan the sampling of source pixels ``[start, stop)`` (continuous) onto ``n_out`` pixels.

    Source pixel ``i`` covers ``[i, i + 1)``. Each screen pixel shows the source pixel under
    its centre; when a screen pixel spans ``k >= 2`` source pixels and ``block`` is true,
    blocks of ``k`` are averaged first (nearest-neighbour only for labels).
    """
    step = (stop - start) / n_out
    centers = start + (np.arange(n_out) + 0.5) * step
    inside = (centers >= 0) & (centers < size)
    if not inside.any():
        return AxisPlan(0, 0, 1, np.full(n_out, -1, dtype=np.int64))
    source = np.floor(centers).astype(np.int64)
    k = max(1, int(step)) if block else 1
    lo = int(source[inside].min()) // k * k
    hi = min(size, -(-(int(source[inside].max()) + 1) // k) * k)
    index = np.where(inside, (source - lo) // k, -1).astype(np.int64)
    return AxisPlan(lo, hi, k, index)


def block_mean(data: Array, ky: int, kx: int) -> Array:
    """Mean over blocks of ``ky`` x ``kx`` of the last two axes; edges padded by repetition."""
    if ky == 1 and kx == 1:
        return data
    h, w = data.shape[-2:]
    pad_y, pad_x = -h % ky, -w % kx
    if pad_y or pad_x:
        widths = [(0, 0)] * (data.ndim - 2) + [(0, pad_y), (0, pad_x)]
        data = np.pad(data, widths, mode="edge")
    h, w = data.shape[-2:]
    shaped = data.reshape(*data.shape[:-2], h // ky, ky, w // kx, kx)
    return shaped.mean(axis=(-3, -1), dtype=np.float32)


def resample(data: Array, rows: AxisPlan, cols: AxisPlan) -> tuple[Array, Array]:
    """Sample a read window (``(..., h, w)``, as planned) onto the screen.

    Returns the sampled array (``(..., n_rows, n_cols)``; 0 outside the source) and the
    boolean mask of screen pixels inside the source.
    """
    reduced = block_mean(data, rows.block, cols.block)
    iy = np.clip(rows.index, 0, None)
    ix = np.clip(cols.index, 0, None)
    # Two takes along one axis each: much faster than one 2D fancy index.
    sampled = reduced.take(iy, axis=-2).take(ix, axis=-1)
    mask = (rows.index >= 0)[:, None] & (cols.index >= 0)[None, :]
    if mask.all():
        return sampled, mask
    return np.where(mask, sampled, 0), mask


def fit_viewport(
    viewport: Sequence[float], canvas: Sequence[int]
) -> tuple[float, float, float, float]:
    """Grow a viewport ``(x0, y0, x1, y1)`` about its centre to the canvas' aspect ratio.

    The result shows all of the given region with square screen pixels.
    """
    x0, y0, x1, y1 = (float(v) for v in viewport)
    width, height = int(canvas[0]), int(canvas[1])
    if not (x1 > x0 and y1 > y0 and width > 0 and height > 0):
        raise ValueError(f"viewport {tuple(viewport)} or canvas {tuple(canvas)} is empty")
    per_pixel = max((x1 - x0) / width, (y1 - y0) / height)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half_w, half_h = per_pixel * width / 2, per_pixel * height / 2
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h
