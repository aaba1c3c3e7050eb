"""An image viewer widget: the kernel renders what is visible, the browser draws it.

`Viewer` shows a lazily opened or computed `xarray.DataArray`, or every level of an
OME-Zarr pyramid (a `DataTree` from `bioshare.open_multiscales`) with its labels. The
browser sends view requests (slider moves, zoom, pan, channel changes); a background
thread reads only the chunks the view needs, from the pyramid level that matches the
screen, composites the channels to RGBA and sends the frame back as a binary buffer.
Requests that arrive while a frame is rendering replace each other: the last one wins and
no backlog builds up.

Messages (anywidget custom messages), browser to kernel::

    {"type": "view", "request": 7, "position": {"z": 3}, "viewport": [x0, y0, x1, y1],
     "canvas": [w, h], "channels": [{"name": "DAPI", "visible": false,
     "contrast": [lo, hi] | null}], "labels_visible": true, "transport_ms": 41.5}
    {"type": "probe", "request": 3, "x": 10.5, "y": 20.25}

every field but ``type`` and ``request`` optional (``transport_ms``: how long the last raw
frame took to arrive, beyond the kernel's own time); kernel to browser::

    {"type": "frame", "request": 7 | null, "frame": 12, "width": w, "height": h,
     "level": 1, "viewport": [x0, y0, x1, y1], "scalebar": {"length": 93.0,
     "label": "10 µm"}, "elapsed_ms": 8.1, "waited_ms": 0.4, "inside": [x0, y0, x1, y1],
     "encoding": "raw" | "jpeg"}  + one buffer: RGBA (h*w*4) or a JPEG of the RGB
    {"type": "probe", "request": 3, "x": 10.5, "y": 20.25, "values": {"DAPI": 812},
     "labels": {"nuclei": 4}}
    {"type": "error", "request": 7 | null, "message": "..."}

A view request changes the traits it names (the kernel sends them back as ordinary trait
updates, in the order it applied them) and renders them; ``request: null`` frames answer
changes made in Python (`Viewer.set_position` and friends) once a browser has asked for a
frame. A frame's ``viewport`` is the requested one grown to the canvas aspect ratio.
Viewport coordinates are level-0 pixels, continuous: pixel ``i`` covers ``[i, i + 1)``.
"""

from __future__ import annotations

import contextlib
import io
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

import anywidget
import numpy as np
import traitlets
import xarray as xr

from bioshare.widgets._render import (
    Array,
    AxisPlan,
    composite,
    contrast_limits,
    fit_viewport,
    overlay_labels,
    plan_axis,
    resample,
    scale_bar,
    unit_symbol,
)

__all__ = ["Viewer"]

_STATIC = Path(__file__).parent / "static"
_DEFAULT_COLORS = ("FF0000", "00FF00", "0000FF", "FF00FF", "00FFFF", "FFFF00", "FFFFFF")
_MAX_CANVAS = 8192
_EPS = 1e-6
_T = TypeVar("_T")
_Box = tuple[float, float, float, float]  # x0, y0, x1, y1


# -- the data: levels, axes and labels -------------------------------------------------------


@dataclass(frozen=True)
class _AxisMap:
    """Map a level-0 pixel coordinate ``u`` to this level's: ``a * u + b``."""

    a: float
    b: float
    size: int

    def __call__(self, u: float) -> float:
        return self.a * u + self.b


@dataclass(frozen=True)
class _Level:
    array: xr.DataArray
    y: _AxisMap
    x: _AxisMap

    @property
    def pixel_size(self) -> tuple[float, float]:
        """Size of one pixel of this level in level-0 pixels (y, x)."""
        return 1 / self.y.a, 1 / self.x.a


@dataclass(frozen=True)
class _LabelImage:
    name: str
    levels: tuple[_Level, ...]
    colors: dict[int, tuple[int, ...]]


@dataclass(frozen=True)
class _ChannelView:
    name: str
    index: int
    color: str
    visible: bool
    contrast: tuple[float, float] | None
    has_range: bool


@dataclass(frozen=True)
class _View:
    """Everything one frame depends on, captured when it is requested."""

    request: int | None
    position: dict[str, int]
    viewport: tuple[float, float, float, float]
    canvas: tuple[int, int]
    channels: tuple[_ChannelView, ...]
    labels_visible: bool
    asked: float = field(default_factory=time.perf_counter, compare=False)


@dataclass(frozen=True)
class _Window:
    """A read window kept for the cursor readout: raw values of one level."""

    data: Array  # (n, h, w)
    names: tuple[str, ...]
    y: _AxisMap
    x: _AxisMap
    y0: int
    x0: int

    def values_at(self, u: float, v: float) -> dict[str, Any]:
        iy = math.floor(self.y(v)) - self.y0
        ix = math.floor(self.x(u)) - self.x0
        inside = 0 <= iy < self.data.shape[1] and 0 <= ix < self.data.shape[2]
        return {
            n: self.data[i, iy, ix].item() if inside else None for i, n in enumerate(self.names)
        }


@dataclass
class _Frame:
    request: int | None
    rgba: Array  # (h, w, 4) uint8
    level: int
    viewport: tuple[float, float, float, float]
    scalebar: tuple[float, str]
    auto: dict[str, tuple[float, float]] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    image_window: _Window | None = None
    label_windows: list[_Window] = field(default_factory=list)
    elapsed_ms: float = 0.0
    waited_ms: float = 0.0  # from the request to the start of its rendering
    inside: tuple[int, int, int, int] = (0, 0, 0, 0)  # x0, y0, x1, y1: screen pixels with data


class _Scene:
    """The immutable description of what a Viewer shows, and the renderer of its frames."""

    def __init__(
        self, levels: Sequence[xr.DataArray], labels: Mapping[str, Sequence[xr.DataArray]]
    ) -> None:
        base = levels[0]
        self.base = base
        self.ydim, self.xdim = _display_dims(base)
        self.channel_dim = "c" if "c" in base.dims and "c" not in (self.ydim, self.xdim) else None
        display = (self.ydim, self.xdim, self.channel_dim)
        self.slider_dims = [str(d) for d in base.dims if d not in display]
        self.levels = tuple(self._level(a) for a in levels)
        self.labels = tuple(self._labels(name, arrays) for name, arrays in labels.items())
        self.height, self.width = int(base.sizes[self.ydim]), int(base.sizes[self.xdim])
        self.unit = _unit(base, self.xdim)
        self.has_coords = _spacing(_coord(base, self.xdim)) is not None
        self._windows = _WindowCache(WINDOW_CACHE_BYTES)

    # -- construction helpers

    def _level(self, array: xr.DataArray) -> _Level:
        for dim in (self.ydim, self.xdim):
            if dim not in array.dims:
                raise ValueError(f"a level has dims {list(array.dims)}; expected {dim!r} in them")
        return _Level(
            array,
            _axis_map(array, self.base, self.ydim),
            _axis_map(array, self.base, self.xdim),
        )

    def _labels(self, name: str, arrays: Sequence[xr.DataArray]) -> _LabelImage:
        for array in arrays:
            if array.dtype.kind not in "iub":
                raise TypeError(f"label image {name!r} has dtype {array.dtype}; expected integers")
        colors = _label_colors(arrays[0].attrs)
        return _LabelImage(name, tuple(self._level(a) for a in arrays), colors)

    # -- traits

    def dims_info(self) -> list[dict[str, Any]]:
        """Slider axes: name, size, coordinate values and unit."""
        info = []
        for dim in self.slider_dims:
            coord = _coord(self.base, dim)
            size = int(self.base.sizes[dim])
            values = _json_values(coord) if coord is not None else list(range(size))
            unit = _unit(self.base, dim)
            info.append(
                {
                    "name": dim,
                    "size": size,
                    "values": values,
                    "unit": unit,
                    "symbol": unit_symbol(unit),
                }
            )
        return info

    def channel_info(
        self, colors: Sequence[str] | Mapping[str, str] | None
    ) -> list[dict[str, Any]]:
        """One dict per channel: name, color, visible, contrast (None: auto), range."""
        names = self.channel_names()
        given = _given_colors(colors, names)
        meta_colors = list(self.base.attrs.get("channel_colors") or [])
        windows = list(self.base.attrs.get("channel_windows") or [])
        channels = []
        for i, name in enumerate(names):
            color = given.get(name) or (meta_colors[i] if i < len(meta_colors) else None)
            if color is None:
                color = _DEFAULT_COLORS[i % len(_DEFAULT_COLORS)] if len(names) > 1 else "FFFFFF"
            channels.append(
                {
                    "name": name,
                    "color": "#" + str(color).lstrip("#").upper(),
                    "visible": True,
                    "contrast": None,
                    "range": _range(windows[i] if i < len(windows) else None, self.base.dtype),
                }
            )
        return channels

    def channel_names(self) -> list[str]:
        if self.channel_dim is None:
            name = self.base.attrs.get("multiscale_name") or self.base.name
            return [str(name) if name and name != "image" else "intensity"]
        size = int(self.base.sizes[self.channel_dim])
        coord = _coord(self.base, self.channel_dim)
        if coord is not None:
            names = [str(v) for v in coord.values.tolist()]
            if len(set(names)) == size and all(names):
                return names
        return [f"Channel {i}" for i in range(size)]

    def scale_info(self) -> dict[str, Any]:
        """Physical size of a level-0 pixel and the centre of pixel 0, for y and x."""
        sy = _spacing(_coord(self.base, self.ydim)) or (1.0, 0.0)
        sx = _spacing(_coord(self.base, self.xdim)) or (1.0, 0.0)
        return {
            "x": sx[0],
            "y": sy[0],
            "x0": sx[1],
            "y0": sy[1],
            "unit": self.unit,
            "symbol": unit_symbol(self.unit),
        }

    # -- rendering

    def choose_level(self, viewport: Sequence[float], canvas: Sequence[int]) -> int:
        """The coarsest level with at least one data pixel per screen pixel (else the finest)."""
        per_x = (viewport[2] - viewport[0]) / canvas[0]
        per_y = (viewport[3] - viewport[1]) / canvas[1]
        return _coarsest(self.levels, per_y, per_x)

    def render(self, view: _View) -> _Frame:
        """Read, composite and overlay one frame."""
        started = time.perf_counter()
        width, height = view.canvas
        viewport, index, rows, cols = self._plan(view)
        level = self.levels[index]
        mask = (rows.index >= 0)[:, None] & (cols.index >= 0)[None, :]
        frame = _Frame(view.request, np.empty(0), index, viewport, (0.0, ""))
        rgb = self._channels(frame, level, rows, cols, view)
        if view.labels_visible:
            for label in self.labels:
                rgb = self._overlay(frame, label, level, rgb, viewport, view)
        frame.rgba = np.empty((height, width, 4), dtype=np.uint8)
        frame.rgba[..., :3] = rgb
        frame.rgba[..., 3] = np.where(mask, 255, 0)
        frame.inside = _inside(rows, cols)
        frame.scalebar = self.scale_bar(viewport, width)
        frame.elapsed_ms = (time.perf_counter() - started) * 1000
        frame.waited_ms = (started - view.asked) * 1000
        assert frame.rgba.shape == (height, width, 4)
        return frame

    def scale_bar(self, viewport: Sequence[float], width: int) -> tuple[float, str]:
        """Scale bar length (screen pixels) and label for a viewport shown ``width`` wide."""
        per_pixel = (viewport[2] - viewport[0]) / width
        pixel = self.scale_info()["x"] * per_pixel
        unit = self.unit or (None if self.has_coords else "pixel")
        length, label = scale_bar(pixel, unit, width)
        return length, label.replace(" pixel", " px")

    def _channels(
        self, frame: _Frame, level: _Level, rows: AxisPlan, cols: AxisPlan, view: _View
    ) -> Array:
        width, height = view.canvas
        visible = [c for c in view.channels if c.visible]
        if not visible or rows.empty or cols.empty:
            return np.zeros((height, width, 3), dtype=np.uint8)
        raw = self._read(level, view.position, [c.index for c in visible], rows, cols)
        limits = []
        for channel, plane in zip(visible, raw, strict=True):
            if channel.contrast is None:
                frame.auto[channel.name] = contrast_limits(plane)
            if not channel.has_range:
                frame.ranges[channel.name] = _finite_range(plane)
            limits.append(channel.contrast or frame.auto[channel.name])
        names = tuple(c.name for c in visible)
        frame.image_window = _Window(raw, names, level.y, level.x, rows.start, cols.start)
        sampled, _ = resample(raw, rows, cols)
        return composite(sampled, [c.color for c in visible], limits)

    def _overlay(
        self,
        frame: _Frame,
        label: _LabelImage,
        image_level: _Level,
        rgb: Array,
        viewport: tuple[float, float, float, float],
        view: _View,
    ) -> Array:
        level = _label_level(label, image_level)
        rows, cols = _plans(level, viewport, view.canvas, block=False)
        if rows.empty or cols.empty:
            return rgb
        raw = self._read(level, view.position, None, rows, cols)
        frame.label_windows.append(
            _Window(raw, (label.name,), level.y, level.x, rows.start, cols.start)
        )
        sampled, _ = resample(raw, rows, cols)
        return overlay_labels(rgb, sampled[0], label.colors)

    def _plan(self, view: _View) -> tuple[_Box, int, AxisPlan, AxisPlan]:
        """The viewport grown to the canvas, the level to show and how to sample it."""
        viewport = fit_viewport(view.viewport, view.canvas)
        index = self.choose_level(viewport, view.canvas)
        rows, cols = _plans(self.levels[index], viewport, view.canvas, block=True)
        return viewport, index, rows, cols

    def prefetch(self, view: _View) -> None:
        """Read (into the window cache) what rendering ``view`` would read; draw nothing."""
        viewport, index, rows, cols = self._plan(view)
        level = self.levels[index]
        visible = [c.index for c in view.channels if c.visible]
        if visible and not rows.empty and not cols.empty:
            self._read(level, view.position, visible, rows, cols)
        for label in self.labels if view.labels_visible else ():
            label_level = _label_level(label, level)
            rows, cols = _plans(label_level, viewport, view.canvas, block=False)
            if not rows.empty and not cols.empty:
                self._read(label_level, view.position, None, rows, cols)

    def _read(
        self,
        level: _Level,
        position: Mapping[str, int],
        channels: list[int] | None,
        rows: AxisPlan,
        cols: AxisPlan,
    ) -> Array:
        """Read one window as (n, h, w): the chosen channels (or one plane) at ``position``."""
        array = level.array
        indexers: dict[Any, Any] = {
            self.ydim: slice(rows.start, rows.stop),
            self.xdim: slice(cols.start, cols.stop),
        }
        for dim in array.dims:
            if dim in (self.ydim, self.xdim):
                continue
            if dim == self.channel_dim and channels is not None:
                indexers[dim] = _as_slice(channels)
            elif dim in position:
                indexers[dim] = _level_index(array, self.base, str(dim), position[str(dim)])
            else:
                indexers[dim] = 0
        key = (id(array), tuple(sorted((str(k), _hashable(v)) for k, v in indexers.items())))

        def load() -> Array:
            window = array.isel(indexers)
            order = [d for d in (self.channel_dim, self.ydim, self.xdim) if d in window.dims]
            values = np.asarray(window.transpose(*order).values)
            return values if values.ndim == 3 else values[None]

        # A plane seen before (or being prefetched) is not read again.
        return self._windows.load(key, load)


SLOW_TRANSPORT_MS = 150.0  # a raw frame's trip to the page beyond which JPEG pays off
WINDOW_CACHE_BYTES = 256 * 2**20  # windows read recently, kept for going back and forth


def _as_slice(indices: list[int]) -> list[int] | slice:
    """Consecutive indices as a slice: zarr reads a slice about twice as fast as a list."""
    if indices and indices == list(range(indices[0], indices[-1] + 1)):
        return slice(indices[0], indices[-1] + 1)
    return indices


def _hashable(value: Any) -> Any:
    if isinstance(value, slice):
        return ("slice", value.start, value.stop, value.step)
    if isinstance(value, list):
        return tuple(value)
    return value


class _WindowCache:
    """The most recently read windows, up to a number of bytes (least recent dropped).

    `load` reads a window once: a second caller asking for a window being read (the
    renderer catching up with the prefetcher) waits for that read instead of repeating it.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Any, Array] = OrderedDict()
        self._pending: dict[Any, Future[Array]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def load(self, key: Any, read: Callable[[], Array]) -> Array:
        """The window under ``key``, read with ``read()`` unless cached or being read."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
                return value
            pending = self._pending.get(key)
            owner = pending is None
            if pending is None:
                pending = self._pending[key] = Future()
        if not owner:
            return pending.result()
        try:
            value = read()
        except BaseException as exc:
            with self._lock:
                del self._pending[key]
            pending.set_exception(exc)
            raise
        self.put(key, value)
        with self._lock:
            del self._pending[key]
        pending.set_result(value)
        return value

    def get(self, key: Any) -> Array | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Any, value: Array) -> None:
        if value.nbytes > self.max_bytes:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = value
            self._bytes += value.nbytes
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes


def _display_dims(array: xr.DataArray) -> tuple[str, str]:
    dims = [str(d) for d in array.dims]
    if "y" in dims and "x" in dims:
        return "y", "x"
    if len(dims) < 2:
        raise ValueError(f"an image needs two spatial dims; got dims {dims}")
    return dims[-2], dims[-1]


def _coord(array: xr.DataArray, dim: str | None) -> xr.DataArray | None:
    """A real coordinate of ``dim``; xarray's ``coords.get`` makes up a range for bare dims."""
    return array.coords[dim] if dim is not None and dim in array.coords else None


def _spacing(coord: xr.DataArray | None) -> tuple[float, float] | None:
    """(step, first value) of a regularly spaced numeric coordinate with two values or more."""
    if coord is None or coord.size < 2 or coord.dtype.kind not in "iuf":
        return None
    values = np.asarray(coord.values, dtype=float)
    step = float(values[-1] - values[0]) / (values.size - 1)
    return (step, float(values[0])) if step > 0 else None


def _axis_map(array: xr.DataArray, base: xr.DataArray, dim: str) -> _AxisMap:
    """Level-0 pixel coordinates to ``array``'s, from physical coordinates where present."""
    size, base_size = int(array.sizes[dim]), int(base.sizes[dim])
    level, first = _spacing(_coord(array, dim)), _spacing(_coord(base, dim))
    if level is not None and first is not None:
        (s_l, t_l), (s_0, t_0) = level, first
        return _AxisMap(s_0 / s_l, (t_0 - t_l - 0.5 * s_0) / s_l + 0.5, size)
    return _AxisMap(size / base_size, 0.0, size)


def _coarsest(levels: Sequence[_Level], per_y: float, per_x: float) -> int:
    adequate = [
        i
        for i, lv in enumerate(levels)
        if lv.pixel_size[0] <= per_y * (1 + _EPS) and lv.pixel_size[1] <= per_x * (1 + _EPS)
    ]
    if adequate:
        return max(adequate, key=lambda i: levels[i].pixel_size[1])
    return min(range(len(levels)), key=lambda i: levels[i].pixel_size[1])


def _label_level(label: _LabelImage, image_level: _Level) -> _Level:
    """The coarsest level of a label image at least as fine as the image level shown."""
    py, px = image_level.pixel_size
    return label.levels[_coarsest(label.levels, py, px)]


def _plans(
    level: _Level, viewport: Sequence[float], canvas: Sequence[int], *, block: bool
) -> tuple[AxisPlan, AxisPlan]:
    x0, y0, x1, y1 = viewport
    rows = plan_axis(level.y(y0), level.y(y1), canvas[1], level.y.size, block=block)
    cols = plan_axis(level.x(x0), level.x(x1), canvas[0], level.x.size, block=block)
    return rows, cols


def _level_index(array: xr.DataArray, base: xr.DataArray, dim: str, index: int) -> int:
    """A level-0 index along a non-displayed dim as an index into ``array`` (same or fewer)."""
    size = int(array.sizes[dim])
    if dim not in base.dims:
        return min(index, size - 1)
    if size == base.sizes[dim]:
        return index
    coord, base_coord = _coord(array, dim), _coord(base, dim)
    if coord is not None and base_coord is not None and coord.dtype.kind in "iuf":
        target = float(base_coord.values[index])
        return int(np.abs(np.asarray(coord.values, dtype=float) - target).argmin())
    return min(size - 1, index * size // int(base.sizes[dim]))


def _unit(array: xr.DataArray, dim: str) -> str | None:
    coord = _coord(array, dim)
    unit = coord.attrs.get("units") if coord is not None else None
    units = array.attrs.get("units")
    if not unit and isinstance(units, Mapping):
        unit = units.get(dim)
    return str(unit) if unit else None


def _json_values(coord: xr.DataArray) -> list[Any]:
    values = np.asarray(coord.values)
    if values.dtype.kind in "iufb":
        return [v.item() if hasattr(v, "item") else v for v in values.tolist()]
    return [str(v) for v in values.tolist()]


def _given_colors(
    colors: Sequence[str] | Mapping[str, str] | None, names: list[str]
) -> dict[str, str]:
    if colors is None:
        return {}
    if isinstance(colors, Mapping):
        unknown = set(colors) - set(names)
        if unknown:
            raise KeyError(f"channel_colors names {sorted(unknown)}; channels are {names}")
        return dict(colors)
    if len(colors) != len(names):
        raise ValueError(f"got {len(colors)} channel_colors for {len(names)} channels {names}")
    return dict(zip(names, colors, strict=True))


def _range(window: Any, dtype: np.dtype[Any]) -> list[float] | None:
    if isinstance(window, Mapping) and "min" in window and "max" in window:
        return [float(window["min"]), float(window["max"])]
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return [float(info.min), float(info.max)]
    if dtype.kind == "b":
        return [0.0, 1.0]
    return None


def _finite_range(values: Array) -> tuple[float, float]:
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    if finite.size == 0:
        return 0.0, 1.0
    return float(finite.min()), float(finite.max())


def _label_colors(attrs: Mapping[str, Any]) -> dict[int, tuple[int, ...]]:
    """Label value -> RGBA from ``image_label`` metadata or a ``label_colors`` attr."""
    colors: dict[int, tuple[int, ...]] = {}
    image_label = attrs.get("image_label")
    if isinstance(image_label, Mapping):
        for entry in image_label.get("colors") or []:
            if isinstance(entry, Mapping) and "label-value" in entry and "rgba" in entry:
                colors[int(entry["label-value"])] = tuple(int(c) for c in entry["rgba"])
    given = attrs.get("label_colors")
    if isinstance(given, Mapping):
        colors.update({int(k): tuple(int(c) for c in v) for k, v in given.items()})
    return colors


# -- accepted inputs -----------------------------------------------------------------------


def _tree_levels(tree: xr.DataTree) -> list[xr.DataArray]:
    paths = tree.attrs.get("levels") or sorted(
        (name for name, child in tree.children.items() if "image" in child.dataset),
        key=lambda p: (len(p), p),
    )
    levels = [tree[str(p)].dataset["image"] for p in paths if "image" in tree[str(p)].dataset]
    if not levels:
        raise ValueError("the DataTree has no child level with an 'image' variable")
    return levels


def _as_levels(data: Any) -> list[xr.DataArray]:
    if isinstance(data, xr.DataTree):
        return _tree_levels(data)
    if isinstance(data, xr.DataArray):
        return [data]
    if isinstance(data, Sequence) and data and all(isinstance(a, xr.DataArray) for a in data):
        return list(data)
    raise TypeError(
        f"cannot view {type(data).__name__}; expected an xarray DataArray, a DataTree from "
        "bioshare.open_multiscales, or a list of DataArray levels"
    )


def _as_labels(data: Any, labels: Any) -> dict[str, list[xr.DataArray]]:
    found: dict[str, list[xr.DataArray]] = {}
    if isinstance(data, xr.DataTree) and "labels" in data.children:
        for name, tree in data["labels"].children.items():
            found[str(name)] = _tree_levels(tree)
    if labels is None:
        return found
    if isinstance(labels, xr.DataArray | xr.DataTree):
        labels = {str(labels.name or "labels"): labels}
    if not isinstance(labels, Mapping):
        raise TypeError(
            f"labels must be a DataArray or a dict of them; got {type(labels).__name__}"
        )
    for name, value in labels.items():
        found[str(name)] = _as_levels(value)
    return found


# -- the widget -------------------------------------------------------------------------------


class _LatestSlot(Generic[_T]):
    """A single-item mailbox: a new item replaces the one waiting, never queues behind it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: _T | None = None
        self._closed = False
        self.replaced = 0

    def put(self, item: _T) -> None:
        with self._cond:
            if self._item is not None:
                self.replaced += 1
            self._item = item
            self._cond.notify()

    def take(self) -> _T | None:
        """Wait for an item; None once closed."""
        with self._cond:
            while self._item is None and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            item, self._item = self._item, None
            return item

    def empty(self) -> bool:
        with self._cond:
            return self._item is None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class Viewer(anywidget.AnyWidget):
    """View an image, a computed array or an OME-Zarr pyramid with its labels.

    The kernel renders what is visible: the pyramid level matching the screen is chosen
    for each view, only the chunks under the viewport are read, and the channels are
    composited to RGBA and sent as a binary buffer. Rapid slider moves never queue up: a
    request arriving while a frame renders replaces any waiting one.

    Parameters
    ----------
    data
        A `DataArray` with dims among t, c, z, y, x (or custom ones; y and x, else the last
        two dims, are displayed, ``c`` holds channels and every other dim gets a slider),
        lazily opened or computed in memory; or a `DataTree` from
        `bioshare.open_multiscales` (every level, plus its labels when opened with
        ``labels=True``); or a list of DataArray levels, finest first.
    labels
        More label images: a DataArray, or a dict of name to DataArray, DataTree or list
        of levels.
    channel_colors
        Colors overriding the metadata: a list (one per channel) or a dict by channel name,
        as "#RRGGBB".
    width, height
        Size of the view in screen pixels.
    prefetch
        After each frame, read the neighbouring planes along the axis last moved (two
        ahead, one behind) while nothing else is asked, so the next step of a slider
        shows without waiting for the network.
    encoding
        How frames travel to the browser: ``"raw"`` RGBA (2.3 MB for 768 x 768, best on
        one machine), ``"jpeg"`` (about 20 times smaller, for remote kernels such as
        Binder), or ``"auto"``: raw until the browser reports that frames take long to
        arrive (`SLOW_TRANSPORT_MS`, twice in a row), then JPEG.

    Notes
    -----
    Synced traits: ``dims`` (slider axes: name, size, values, unit, symbol), ``position``
    (axis -> index), ``channels`` (name, color "#RRGGBB", visible, contrast [lo, hi] or
    None for automatic, range [min, max]), ``level`` (of the last frame), ``levels``
    ([width, height] per level), ``image_size``, ``viewport`` ([x0, y0, x1, y1] in level-0
    pixels), ``canvas`` ([width, height]), ``scale`` (x, y: level-0 pixel size; x0, y0:
    centre of pixel 0; unit, symbol), ``label_names``, ``labels_visible``, ``loading``,
    ``frame_id`` and ``status``.

    Examples
    --------
    >>> viewer = Viewer(bioshare.open_multiscales(url, labels=True))  # doctest: +SKIP
    >>> viewer.set_position(z=8)  # doctest: +SKIP
    >>> png = viewer.screenshot()  # doctest: +SKIP
    """

    _esm = _STATIC / "viewer.js"
    _css = _STATIC / "viewer.css"

    dims = traitlets.List(traitlets.Dict(), help="Slider axes: name, size, values, unit.").tag(
        sync=True
    )
    position = traitlets.Dict(help="Index along every slider axis.").tag(sync=True)
    channels = traitlets.List(
        traitlets.Dict(), help="name, color, visible, contrast [lo, hi] or None, range."
    ).tag(sync=True)
    level = traitlets.Int(0, help="Pyramid level of the last frame.").tag(sync=True)
    levels = traitlets.List(traitlets.List(traitlets.Int()), help="[width, height] per level.").tag(
        sync=True
    )
    image_size = traitlets.List(traitlets.Int(), help="[width, height] of level 0.").tag(sync=True)
    viewport = traitlets.List(
        traitlets.Float(), [0.0, 0.0, 1.0, 1.0], minlen=4, maxlen=4, help="x0, y0, x1, y1."
    ).tag(sync=True)
    canvas = traitlets.List(traitlets.Int(), [512, 512], minlen=2, maxlen=2).tag(sync=True)
    scale = traitlets.Dict(help="Level-0 pixel size and origin for x and y, and unit.").tag(
        sync=True
    )
    label_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    labels_visible = traitlets.Bool(True).tag(sync=True)
    loading = traitlets.Bool(False).tag(sync=True)
    frame_id = traitlets.Int(0).tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    encoding = traitlets.Enum(("auto", "raw", "jpeg"), "auto", help="How frames travel.").tag(
        sync=True
    )

    def __init__(
        self,
        data: xr.DataArray | xr.DataTree | Sequence[xr.DataArray],
        *,
        labels: Any = None,
        channel_colors: Sequence[str] | Mapping[str, str] | None = None,
        width: int = 512,
        height: int = 512,
        prefetch: bool = True,
        encoding: str = "auto",
        **kwargs: Any,
    ) -> None:
        scene = _Scene(_as_levels(data), _as_labels(data, labels))
        canvas = _canvas_size(width, height)
        self._scene = scene
        self._lock = threading.RLock()
        self._quiet = threading.local()
        self._slot: _LatestSlot[_View] = _LatestSlot()
        self._thread: threading.Thread | None = None
        self._prefetch = bool(prefetch)
        self._prefetch_slot: _LatestSlot[list[_View]] = _LatestSlot()
        self._prefetcher: threading.Thread | None = None
        self._rendered: dict[str, int] | None = None  # position of the last frame
        self._slow = 0  # raw frames in a row the browser found slow to arrive
        self._compress = False
        self._frames = 0
        self._frontend = False
        self._last: _Frame | None = None
        super().__init__(
            dims=scene.dims_info(),
            position=dict.fromkeys(scene.slider_dims, 0),
            channels=scene.channel_info(channel_colors),
            levels=[[lv.x.size, lv.y.size] for lv in scene.levels],
            image_size=[scene.width, scene.height],
            viewport=list(fit_viewport((0, 0, scene.width, scene.height), canvas)),
            canvas=list(canvas),
            scale=scene.scale_info(),
            label_names=[label.name for label in scene.labels],
            encoding=encoding,
            **kwargs,
        )
        self.on_msg(self._on_message)

    # -- public API

    @property
    def frame_count(self) -> int:
        """How many frames the background renderer has sent."""
        return self._frames

    def set_position(self, **axes: int) -> None:
        """Move sliders by index: ``viewer.set_position(t=1, z=8)``."""
        unknown = set(axes) - set(self._scene.slider_dims)
        if unknown:
            raise KeyError(f"no slider for {sorted(unknown)}; axes are {self._scene.slider_dims}")
        self.position = {**self.position, **{k: int(v) for k, v in axes.items()}}

    def show_channel(self, name: str, visible: bool = True) -> None:
        """Show (or with ``visible=False`` hide) a channel by name."""
        self._patch_channel(name, visible=bool(visible))

    def set_contrast(self, name: str, lo: float | None, hi: float | None) -> None:
        """Set a channel's contrast limits; ``None, None`` returns to automatic limits."""
        if (lo is None) != (hi is None):
            raise ValueError("give both contrast limits, or neither for automatic limits")
        if lo is not None and hi is not None and not hi > lo:
            raise ValueError(f"contrast limits ({lo}, {hi}) need hi > lo")
        contrast = None if lo is None else [float(lo), float(hi)]  # type: ignore[arg-type]
        self._patch_channel(name, contrast=contrast)

    def zoom_to(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """Show the region ``[x0, x1) x [y0, y1)`` of level-0 pixels (grown to the aspect)."""
        self.viewport = list(fit_viewport((x0, y0, x1, y1), self.canvas))

    def reset_view(self) -> None:
        """Show the whole image."""
        self.zoom_to(0, 0, self._scene.width, self._scene.height)

    def screenshot(self, *, scalebar: bool = True) -> bytes:
        """The current view as PNG bytes, rendered now in Python (labels and scale bar too)."""
        frame = self._render(self._snapshot(None))
        return _png(frame, scalebar)

    def close(self) -> None:
        """Stop the renderer thread and close the widget."""
        if hasattr(self, "_slot"):  # not when the constructor failed
            self._slot.close()
            self._prefetch_slot.close()
        for thread in (getattr(self, "_thread", None), getattr(self, "_prefetcher", None)):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=10)
        super().close()

    # -- state

    def _patch_channel(self, name: str, **changes: Any) -> None:
        names = [c["name"] for c in self.channels]
        if name not in names:
            raise KeyError(f"no channel {name!r}; channels are {names}")
        with self._lock:
            self.channels = [{**c, **changes} if c["name"] == name else c for c in self.channels]

    @traitlets.validate("position")
    def _valid_position(self, proposal: Any) -> dict[str, int]:
        sizes = {d["name"]: d["size"] for d in self.dims}
        value = dict(proposal["value"])
        unknown = set(value) - set(sizes)
        if unknown:
            raise traitlets.TraitError(f"no slider for {sorted(unknown)}; axes are {list(sizes)}")
        return {d: min(max(0, int(value.get(d, 0))), sizes[d] - 1) for d in sizes}

    @traitlets.validate("canvas")
    def _valid_canvas(self, proposal: Any) -> list[int]:
        return list(_canvas_size(*proposal["value"]))

    @traitlets.observe("position", "viewport", "canvas", "channels", "labels_visible")
    def _on_view_change(self, change: Any) -> None:
        # Changes made in Python re-render for the browser; the browser's own changes come
        # with their view request, and the renderer's contrast updates are in the frame.
        if self._frontend and not getattr(self._quiet, "depth", 0):
            self._schedule(None)

    @contextlib.contextmanager
    def _quietly(self) -> Iterator[None]:
        self._quiet.depth = getattr(self._quiet, "depth", 0) + 1
        try:
            yield
        finally:
            self._quiet.depth -= 1

    def _snapshot(self, request: int | None) -> _View:
        with self._lock:
            channels = tuple(
                _ChannelView(
                    c["name"],
                    i,
                    c["color"],
                    bool(c["visible"]),
                    tuple(c["contrast"]) if c.get("contrast") else None,
                    c.get("range") is not None,
                )
                for i, c in enumerate(self.channels)
            )
            return _View(
                request,
                dict(self.position),
                tuple(self.viewport),  # type: ignore[arg-type]
                tuple(self.canvas),  # type: ignore[arg-type]
                channels,
                bool(self.labels_visible),
            )

    # -- messages from the browser

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, Mapping):
            return
        if content.get("type") == "view":
            self._frontend = True
            self._note_transport(content.get("transport_ms"))
            request = content.get("request")
            self._apply_from_browser(_view_patch(content, self.position, self.channels))
            self._schedule(request if isinstance(request, int) else None)
        elif content.get("type") == "probe":
            self._answer_probe(content)

    def _note_transport(self, value: Any) -> None:
        """Count raw frames the browser found slow to arrive; two in a row switch to JPEG."""
        if not isinstance(value, int | float) or self._compress:
            return
        self._slow = self._slow + 1 if value > SLOW_TRANSPORT_MS else 0
        self._compress = self._slow >= 2

    def _frame_encoding(self) -> str:
        if self.encoding == "auto":
            return "jpeg" if self._compress else "raw"
        return str(self.encoding)

    def _apply_from_browser(self, values: dict[str, Any]) -> None:
        """Set the traits a view request changes; the frame comes from that request.

        The new values go back to the browser as usual: they tell it, in order, what the
        kernel applied (the browser keeps its own values until their request is answered).
        """
        if not values:
            return
        with self._lock, self._quietly(), self.hold_trait_notifications():
            for name, value in values.items():
                setattr(self, name, value)

    def _answer_probe(self, content: Mapping[str, Any]) -> None:
        try:
            x, y = float(content["x"]), float(content["y"])
        except (KeyError, TypeError, ValueError):
            return
        values: dict[str, Any] = {}
        labels: dict[str, Any] = {}
        frame = self._last
        if frame is not None and frame.image_window is not None:
            values = frame.image_window.values_at(x, y)
        for window in frame.label_windows if frame is not None else []:
            labels.update(window.values_at(x, y))
        self.send(
            {
                "type": "probe",
                "request": content.get("request"),
                "x": x,
                "y": y,
                "values": values,
                "labels": labels,
            }
        )

    # -- rendering

    def _schedule(self, request: int | None) -> None:
        with self._lock:
            self._slot.put(self._snapshot(request))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"bioshare-viewer-{self.model_id}", daemon=True
                )
                self._thread.start()
            self.loading = True

    def _run(self) -> None:
        while (view := self._slot.take()) is not None:
            try:
                frame = self._render(view)
            except Exception as exc:  # keep serving later views; report this one
                self._report_error(view, exc)
                continue
            self._publish(frame)
            self._plan_prefetch(view)

    def _plan_prefetch(self, view: _View) -> None:
        previous, self._rendered = self._rendered, dict(view.position)
        if not self._prefetch or not self._slot.empty():
            return
        sizes = {d["name"]: int(d["size"]) for d in self.dims}
        views = [
            replace(view, request=None, position=position)
            for position in _neighbours(view.position, previous, sizes)
        ]
        if not views:
            return
        self._prefetch_slot.put(views)
        if self._prefetcher is None:
            self._prefetcher = threading.Thread(
                target=self._run_prefetch, name=f"bioshare-prefetch-{self.model_id}", daemon=True
            )
            self._prefetcher.start()

    def _run_prefetch(self) -> None:
        while (views := self._prefetch_slot.take()) is not None:
            for view in views:
                if not (self._prefetch_slot.empty() and self._slot.empty()):
                    break  # the user moved on: these neighbours are stale
                try:
                    self._scene.prefetch(view)
                except Exception:  # the renderer reports it if the user gets there
                    break

    def _render(self, view: _View) -> _Frame:
        """Render a view, with automatic contrast limits kept in the ``channels`` trait."""
        with self._lock:
            view = _with_known_limits(view, self.channels)
        frame = self._scene.render(view)
        with self._lock, self._quietly():
            if frame.auto or frame.ranges:
                self.channels = [_with_auto(c, frame) for c in self.channels]
            self.level = frame.level
        self._last = frame
        return frame

    def _publish(self, frame: _Frame) -> None:
        self._frames += 1
        height, width = frame.rgba.shape[:2]
        with self._lock:
            self.frame_id = self._frames
            self.status = (
                f"level {frame.level} of {len(self._scene.levels)}, {frame.elapsed_ms:.0f} ms"
            )
        message = {
            "type": "frame",
            "request": frame.request,
            "frame": self._frames,
            "width": width,
            "height": height,
            "level": frame.level,
            "viewport": list(frame.viewport),
            "scalebar": {"length": frame.scalebar[0], "label": frame.scalebar[1]},
            "elapsed_ms": round(frame.elapsed_ms, 2),
            "waited_ms": round(frame.waited_ms, 2),
            "inside": list(frame.inside),
            "encoding": self._frame_encoding(),
        }
        payload = _jpeg(frame.rgba) if message["encoding"] == "jpeg" else frame.rgba.tobytes()
        self.send(message, [payload])
        self._idle_if_done()

    def _report_error(self, view: _View, exc: Exception) -> None:
        text = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self.status = text
        self.send({"type": "error", "request": view.request, "message": text})
        self._idle_if_done()

    def _idle_if_done(self) -> None:
        with self._lock:
            if self._slot.empty():
                self.loading = False


def _neighbours(
    position: Mapping[str, int], previous: Mapping[str, int] | None, sizes: Mapping[str, int]
) -> list[dict[str, int]]:
    """Positions worth reading ahead: along the axis last moved, two ahead and one behind.

    Before any move, along ``z`` (else the last slider axis), forwards.
    """
    if not sizes:
        return []
    moved = [d for d in sizes if previous is not None and previous.get(d) != position.get(d)]
    dim = moved[0] if moved else ("z" if "z" in sizes else list(sizes)[-1])
    here = int(position.get(dim, 0))
    step = -1 if moved and previous is not None and here < previous.get(dim, 0) else 1
    found = []
    for offset in (step, -step, 2 * step):
        if 0 <= here + offset < sizes[dim]:
            found.append({**position, dim: here + offset})
    return found


def _canvas_size(width: int, height: int) -> tuple[int, int]:
    width, height = int(width), int(height)
    if not (0 < width <= _MAX_CANVAS and 0 < height <= _MAX_CANVAS):
        raise ValueError(f"canvas {width} x {height} must be 1 to {_MAX_CANVAS} pixels a side")
    return width, height


def _with_known_limits(view: _View, channels: Sequence[Mapping[str, Any]]) -> _View:
    """Take contrast limits found since the view was requested, so frames agree."""
    current = {c["name"]: c for c in channels}
    updated = []
    for channel in view.channels:
        now = current.get(channel.name, {})
        if channel.contrast is None and now.get("contrast"):
            channel = replace(channel, contrast=tuple(now["contrast"]))
        if not channel.has_range and now.get("range") is not None:
            channel = replace(channel, has_range=True)
        updated.append(channel)
    return replace(view, channels=tuple(updated))


def _with_auto(channel: Mapping[str, Any], frame: _Frame) -> dict[str, Any]:
    name = channel["name"]
    result = dict(channel)
    if result.get("contrast") is None and name in frame.auto:
        result["contrast"] = list(frame.auto[name])
    if result.get("range") is None and name in frame.ranges:
        lo, hi = frame.ranges[name]
        result["range"] = [lo, hi if hi > lo else lo + 1.0]
    return result


def _view_patch(
    content: Mapping[str, Any], position: dict[str, int], channels: list[dict[str, Any]]
) -> dict[str, Any]:
    """The trait values a view request changes; malformed fields and unknown axes are ignored."""
    values: dict[str, Any] = {}
    moved = content.get("position")
    if isinstance(moved, Mapping):
        with contextlib.suppress(TypeError, ValueError):
            known = {str(k): int(v) for k, v in moved.items() if k in position}
            values["position"] = {**position, **known}
    viewport = content.get("viewport")
    if isinstance(viewport, list) and len(viewport) == 4:
        with contextlib.suppress(TypeError, ValueError):
            box = [float(v) for v in viewport]
            if all(map(math.isfinite, box)) and box[2] > box[0] and box[3] > box[1]:
                values["viewport"] = box
    canvas = content.get("canvas")
    if isinstance(canvas, list) and len(canvas) == 2:
        with contextlib.suppress(TypeError, ValueError):
            values["canvas"] = list(_canvas_size(*canvas))
    if isinstance(content.get("labels_visible"), bool):
        values["labels_visible"] = content["labels_visible"]
    patches = content.get("channels")
    if isinstance(patches, list):
        merged = _merge_channels(channels, patches)
        if merged != channels:
            values["channels"] = merged
    return values


def _merge_channels(channels: list[dict[str, Any]], patches: list[Any]) -> list[dict[str, Any]]:
    by_name = {p.get("name"): p for p in patches if isinstance(p, Mapping)}
    merged = []
    for channel in channels:
        patch = by_name.get(channel["name"], {})
        result = dict(channel)
        if isinstance(patch.get("visible"), bool):
            result["visible"] = patch["visible"]
        if "contrast" in patch:
            result["contrast"] = _contrast(patch["contrast"], channel.get("contrast"))
        merged.append(result)
    return merged


def _contrast(value: Any, current: Any) -> list[float] | None:
    if value is None:
        return None
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        return current
    return [lo, hi] if hi > lo and math.isfinite(lo) and math.isfinite(hi) else current


def _inside(rows: AxisPlan, cols: AxisPlan) -> tuple[int, int, int, int]:
    """The screen rectangle (x0, y0, x1, y1) showing data; the rest is transparent."""
    ys, xs = np.flatnonzero(rows.index >= 0), np.flatnonzero(cols.index >= 0)
    if not ys.size or not xs.size:
        return 0, 0, 0, 0
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


def _jpeg(rgba: Array) -> bytes:
    """An RGBA frame as JPEG (quality 90; alpha travels as the frame's ``inside``)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba[..., :3]), "RGB").save(
        buffer, format="JPEG", quality=90
    )
    return buffer.getvalue()


def _png(frame: _Frame, scalebar: bool) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.fromarray(frame.rgba, "RGBA")
    length, label = frame.scalebar
    if scalebar and length >= 1 and label:
        draw = ImageDraw.Draw(image)
        right, bottom = image.width - 12, image.height - 12
        left = right - round(length)
        draw.rectangle((left - 1, bottom - 5, right + 1, bottom + 1), fill=(0, 0, 0, 255))
        draw.rectangle((left, bottom - 4, right, bottom), fill=(255, 255, 255, 255))
        font = ImageFont.load_default()
        anchor = ((left + right) // 2, bottom - 8)
        try:
            draw.text(
                anchor,
                label,
                fill="white",
                font=font,
                anchor="ms",
                stroke_width=2,
                stroke_fill="black",
            )
        except (TypeError, ValueError):  # a bitmap font without anchors or strokes
            draw.text((left, bottom - 20), label, fill="white", font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
