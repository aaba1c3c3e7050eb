"""The Viewer widget without a browser: the comm is replaced by one that records messages.

The tests act as the browser by sending the custom messages the JavaScript sends, and
wait for the kernel's answers on conditions with timeouts (never fixed sleeps).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
from PIL import Image
from widget_comms import RecordingComm

import bioshare
from bioshare.widgets import _render
from bioshare.widgets.viewer import Viewer

TIMEOUT = 30.0
COLORS = {"DAPI": (0.0, 0.0, 1.0), "GFP": (0.0, 1.0, 0.0)}
LABEL_COLORS = {5: [255, 0, 0, 255], 7: [255, 255, 0, 255]}


# -- a comm that records what the widget sends ----------------------------------------------


@pytest.fixture
def viewers(comms: list[RecordingComm]) -> Iterator[Callable[..., Viewer]]:
    """Make viewers that are closed (threads stopped) after the test."""
    made: list[Viewer] = []

    def make(*args: Any, **kwargs: Any) -> Viewer:
        viewer = Viewer(*args, **kwargs)
        made.append(viewer)
        return viewer

    yield make
    for viewer in made:
        viewer.close()


def send(viewer: Viewer, content: dict[str, Any]) -> None:
    """Act as the browser: a custom message arriving over the comm."""
    viewer.comm.handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
    )


def request(viewer: Viewer, number: int, **patch: Any) -> tuple[dict[str, Any], np.ndarray]:
    """Send view request ``number`` and return its frame as (message, (h, w, 4) array)."""
    send(viewer, {"type": "view", "request": number, **patch})
    return frame_for(viewer, lambda m: m["request"] == number)


def frame_for(
    viewer: Viewer, predicate: Callable[[dict[str, Any]], bool]
) -> tuple[dict[str, Any], np.ndarray]:
    message, buffers = viewer.comm.wait("frame", predicate)
    rgba = np.frombuffer(bytes(buffers[0]), dtype=np.uint8)
    return message, rgba.reshape(message["height"], message["width"], 4)


# -- data -------------------------------------------------------------------------------------


def planes() -> np.ndarray:
    """(t, c, z, y, x) uint16: an offset per channel, time point and plane, plus x + y."""
    t, c, z, y, x = np.ogrid[0:2, 0:2, 0:4, 0:128, 0:128]
    return (1000 + 10000 * c + 2000 * t + 500 * z + x + y).astype(np.uint16)


def nuclei() -> np.ndarray:
    labels = np.zeros((4, 128, 128), dtype=np.uint16)
    labels[2:, 40:60, 40:60] = 5
    labels[:, 80:100, 80:100] = 7
    return labels


@pytest.fixture(scope="module")
def image_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    image = xr.DataArray(
        planes(),
        dims=("t", "c", "z", "y", "x"),
        coords={
            "t": ("t", [0.0, 60.0], {"units": "second"}),
            "c": ["DAPI", "GFP"],
            "z": ("z", 2.0 * np.arange(4), {"units": "micrometer"}),
            "y": ("y", 0.5 * np.arange(128), {"units": "micrometer"}),
            "x": ("x", 0.5 * np.arange(128), {"units": "micrometer"}),
        },
        name="cells",
        attrs={"channel_colors": ["0000FF", "00FF00"]},
    )
    labels = xr.DataArray(nuclei(), dims=("z", "y", "x"), attrs={"label_colors": LABEL_COLORS})
    dest = tmp_path_factory.mktemp("viewer") / "cells.ome.zarr"
    return bioshare.write_image(
        image, dest, chunks={"y": 32, "x": 32}, levels=3, labels={"nuclei": labels}
    )


@pytest.fixture
def tree(image_path: str) -> xr.DataTree:
    return bioshare.open_multiscales(image_path, labels=True)


def reference(t: int, z: int, limits: dict[str, tuple[float, float]], visible=("DAPI", "GFP")):
    """The composite of level 0 computed here, independently of the viewer."""
    data = planes()[t, :, z].astype(np.float64)
    acc = np.zeros((128, 128, 3))
    for i, name in enumerate(("DAPI", "GFP")):
        if name in visible:
            lo, hi = limits[name]
            acc += np.clip((data[i] - lo) / (hi - lo), 0, 1)[..., None] * COLORS[name]
    return np.round(np.clip(acc, 0, 1) * 255).astype(np.uint8)


def fixed_contrast(viewer: Viewer, limits: dict[str, tuple[float, float]]) -> None:
    """Known contrast limits, and no labels: frames then match `reference`."""
    viewer.labels_visible = False
    for name, (lo, hi) in limits.items():
        viewer.set_contrast(name, lo, hi)


LIMITS = {"DAPI": (1000.0, 3000.0), "GFP": (11000.0, 13000.0)}


# -- traits -----------------------------------------------------------------------------------


def test_traits_come_from_the_metadata(viewers, tree):
    viewer = viewers(tree, width=256, height=128)
    assert [d["name"] for d in viewer.dims] == ["t", "z"]
    z = viewer.dims[1]
    assert z["size"] == 4
    assert z["values"] == [0.0, 2.0, 4.0, 6.0]
    assert (z["unit"], z["symbol"]) == ("micrometer", "µm")
    assert viewer.dims[0]["symbol"] == "s"
    assert viewer.position == {"t": 0, "z": 0}
    assert [(c["name"], c["color"], c["visible"]) for c in viewer.channels] == [
        ("DAPI", "#0000FF", True),
        ("GFP", "#00FF00", True),
    ]
    assert all(c["contrast"] is None for c in viewer.channels)
    assert viewer.channels[0]["range"] == [0.0, 65535.0]
    assert viewer.scale == {
        "x": 0.5,
        "y": 0.5,
        "x0": 0.0,
        "y0": 0.0,
        "unit": "micrometer",
        "symbol": "µm",
    }
    assert viewer.levels == [[128, 128], [64, 64], [32, 32]]
    assert viewer.image_size == [128, 128]
    assert viewer.label_names == ["nuclei"]
    assert viewer.canvas == [256, 128]
    # the whole image, centred, with square screen pixels
    assert viewer.viewport == [-64.0, 0.0, 192.0, 128.0]


def test_initial_state_reaches_the_browser(viewers, tree):
    viewer = viewers(tree)
    opened = viewer.comm.sent[0]
    assert opened["msg_type"] == "comm_open"
    state = opened["data"]["state"]
    for key in ("dims", "position", "channels", "viewport", "canvas", "scale", "label_names"):
        assert key in state
    assert "export default" in viewer._esm
    assert "bioshare-viewer" in viewer._css


def test_channel_colors_override_the_metadata(viewers, tree):
    viewer = viewers(tree, channel_colors={"GFP": "ff00ff"})
    assert [c["color"] for c in viewer.channels] == ["#0000FF", "#FF00FF"]
    with pytest.raises(KeyError, match="channel_colors"):
        Viewer(tree, channel_colors={"RFP": "FF0000"})


# -- frames -----------------------------------------------------------------------------------


def test_view_request_answers_with_an_rgba_frame_matching_numpy(viewers, tree):
    viewer = viewers(tree, width=128, height=128)
    fixed_contrast(viewer, LIMITS)
    message, rgba = request(viewer, 1)
    assert message["type"] == "frame"
    assert (message["width"], message["height"], message["level"]) == (128, 128, 0)
    assert message["viewport"] == [0.0, 0.0, 128.0, 128.0]
    assert message["frame"] == viewer.frame_id == viewer.frame_count == 1
    np.testing.assert_allclose(rgba[..., :3], reference(0, 0, LIMITS), atol=1)
    assert (rgba[..., 3] == 255).all()


def test_moving_z_changes_the_frame(viewers, tree):
    viewer = viewers(tree, width=128, height=128)
    fixed_contrast(viewer, LIMITS)
    _, first = request(viewer, 1)
    _, moved = request(viewer, 2, position={"z": 3})
    assert viewer.position == {"t": 0, "z": 3}
    assert not np.array_equal(first, moved)
    np.testing.assert_allclose(moved[..., :3], reference(0, 3, LIMITS), atol=1)
    _, later = request(viewer, 3, position={"t": 1, "z": 3})
    np.testing.assert_allclose(later[..., :3], reference(1, 3, LIMITS), atol=1)


def test_first_frame_sets_automatic_contrast_from_the_displayed_level(viewers, tree):
    viewer = viewers(tree, width=64, height=64)
    message, _ = request(viewer, 1)
    assert message["level"] == 1
    level = tree["1"].dataset["image"].isel(t=0, z=0).values
    for i, channel in enumerate(viewer.channels):
        expected = np.percentile(level[i], [0.5, 99.5])
        np.testing.assert_allclose(channel["contrast"], expected)
    # the limits stick: the next frame uses them instead of new percentiles
    before = [c["contrast"] for c in viewer.channels]
    request(viewer, 2, position={"z": 3})
    assert [c["contrast"] for c in viewer.channels] == before


def test_hiding_a_channel_removes_its_color(viewers, tree):
    viewer = viewers(tree, width=128, height=128)
    fixed_contrast(viewer, LIMITS)
    _, both = request(viewer, 1)
    assert both[..., 1].any()
    assert both[..., 2].any()
    _, blue = request(viewer, 2, channels=[{"name": "GFP", "visible": False}])
    assert not blue[..., 1].any()
    np.testing.assert_allclose(blue[..., :3], reference(0, 0, LIMITS, visible=("DAPI",)), atol=1)
    assert [c["visible"] for c in viewer.channels] == [True, False]


def test_contrast_changes_change_pixels(viewers, tree):
    viewer = viewers(tree, width=128, height=128)
    fixed_contrast(viewer, LIMITS)
    _, first = request(viewer, 1)
    brighter = {"DAPI": (1000.0, 1500.0), "GFP": LIMITS["GFP"]}
    _, second = request(viewer, 2, channels=[{"name": "DAPI", "contrast": [1000, 1500]}])
    assert second[..., 2].mean() > first[..., 2].mean()
    np.testing.assert_allclose(second[..., :3], reference(0, 0, brighter), atol=1)


def test_python_side_changes_render_for_the_browser(viewers, tree):
    viewer = viewers(tree, width=128, height=128)
    fixed_contrast(viewer, LIMITS)
    request(viewer, 1)
    viewer.set_contrast("GFP", 11000, 11500)
    message, rgba = frame_for(viewer, lambda m: m["request"] is None)
    expected = reference(0, 0, {**LIMITS, "GFP": (11000.0, 11500.0)})
    np.testing.assert_allclose(rgba[..., :3], expected, atol=1)
    viewer.show_channel("DAPI", False)
    _, rgba = frame_for(viewer, lambda m: m["frame"] == message["frame"] + 1)
    assert not rgba[..., 2].any()


def test_no_rendering_before_a_browser_asks(viewers, tree):
    viewer = viewers(tree)
    viewer.set_position(z=2)
    viewer.zoom_to(0, 0, 10, 10)
    assert viewer._thread is None
    assert viewer.frame_count == 0


def test_level_matches_the_screen(viewers, tree):
    viewer = viewers(tree, width=64, height=64)
    message, _ = request(viewer, 1)  # 128 pixels on 64: 2 per screen pixel
    assert message["level"] == viewer.level == 1
    message, _ = request(viewer, 2, viewport=[0, 0, 64, 64])
    assert message["level"] == 0
    message, _ = request(viewer, 3, viewport=[0, 0, 16, 16])  # zoomed in past 1:1
    assert message["level"] == 0
    message, _ = request(viewer, 4, viewport=[-64, -64, 192, 192])  # 4 per screen pixel
    assert message["level"] == 2
    message, _ = request(viewer, 5, viewport=[0, 0, 100, 100])  # 1.6: level 1 too coarse
    assert message["level"] == 0


def test_zoomed_out_view_is_transparent_outside_the_image(viewers, tree):
    viewer = viewers(tree, width=64, height=64)
    _, rgba = request(viewer, 1, viewport=[-128, -128, 256, 256])
    alpha = rgba[..., 3]
    assert (alpha[:16] == 0).all()
    assert (alpha[:, :16] == 0).all()
    assert (alpha[24:40, 24:40] == 255).all()


def test_zoom_to_keeps_the_aspect_and_reset_shows_everything(viewers, tree):
    viewer = viewers(tree, width=200, height=100)
    viewer.zoom_to(0, 0, 10, 10)
    assert viewer.viewport == [-5.0, 0.0, 15.0, 10.0]
    viewer.reset_view()
    assert viewer.viewport == [-64.0, 0.0, 192.0, 128.0]


def test_rapid_requests_do_not_build_a_backlog(viewers, tree, monkeypatch):
    viewer = viewers(tree, width=64, height=64)
    scene = viewer._scene
    render = scene.render
    started, release = threading.Event(), threading.Event()
    rendered: list[int | None] = []

    def slow_render(view):
        rendered.append(view.request)
        started.set()
        assert release.wait(TIMEOUT)  # hold the first frame while requests pile up
        return render(view)

    monkeypatch.setattr(scene, "render", slow_render)
    send(viewer, {"type": "view", "request": 1, "position": {"z": 0}})
    assert started.wait(TIMEOUT)
    for number in range(2, 51):
        send(viewer, {"type": "view", "request": number, "position": {"z": number % 4}})
    assert viewer.loading
    release.set()
    _message, _ = frame_for(viewer, lambda m: m["request"] == 50)
    assert rendered == [1, 50]
    assert [m["request"] for m, _ in viewer.comm.custom("frame")] == [1, 50]
    assert viewer.frame_count == 2
    assert viewer._slot.replaced == 48
    assert viewer.position == {"t": 0, "z": 50 % 4}
    with viewer.comm.cond:
        assert viewer.comm.cond.wait_for(lambda: not viewer.loading, timeout=TIMEOUT)


def cached_planes(viewer: Viewer) -> set[int]:
    """The z indices of the image windows in the viewer's window cache."""
    found = set()
    for _array, indexers in list(viewer._scene._windows._items):
        fields = dict(indexers)
        if isinstance(fields.get("c"), tuple):  # image windows (labels have no channels)
            found.add(fields["z"])
    return found


def test_the_next_planes_are_read_ahead_while_the_user_looks(viewers, tree):
    viewer = viewers(tree, width=128, height=128)
    fixed_contrast(viewer, LIMITS)
    request(viewer, 1, position={"z": 1})
    wait_until(lambda: cached_planes(viewer) == {0, 1, 2, 3})  # z=1, then 2, 0 and 3
    reads = []
    load = viewer._scene._windows.load
    viewer._scene._windows.load = lambda key, read: load(key, lambda: reads.append(key) or read())
    _, frame = request(viewer, 2, position={"z": 2})
    assert reads == []  # drawn from what was read ahead
    np.testing.assert_allclose(frame[..., :3], reference(0, 2, LIMITS), atol=1)


def test_read_ahead_follows_the_direction_of_the_last_move(viewers, tree):
    viewer = viewers(tree, width=128, height=128, prefetch=False)
    assert viewer._prefetcher is None
    from bioshare.widgets.viewer import _neighbours

    sizes = {"t": 2, "z": 4}
    assert _neighbours({"t": 0, "z": 1}, None, sizes) == [
        {"t": 0, "z": 2},
        {"t": 0, "z": 0},
        {"t": 0, "z": 3},
    ]
    assert _neighbours({"t": 0, "z": 1}, {"t": 0, "z": 2}, sizes) == [
        {"t": 0, "z": 0},
        {"t": 0, "z": 2},
    ]
    assert _neighbours({"t": 1, "z": 3}, {"t": 0, "z": 3}, sizes) == [{"t": 0, "z": 3}]
    assert _neighbours({}, None, {}) == []
    request(viewer, 1)
    request(viewer, 2, position={"z": 1})
    assert viewer._prefetcher is None  # prefetch=False reads only what is shown
    assert cached_planes(viewer) == {0, 1}


def test_a_window_being_read_is_read_once():
    from bioshare.widgets.viewer import _WindowCache

    cache = _WindowCache(2**20)
    started, release = threading.Event(), threading.Event()
    calls = []

    def slow_read():
        calls.append(1)
        started.set()
        assert release.wait(TIMEOUT)
        return np.ones((1, 2, 2))

    results = []
    first = threading.Thread(target=lambda: results.append(cache.load("k", slow_read)))
    first.start()
    assert started.wait(TIMEOUT)
    second = threading.Thread(target=lambda: results.append(cache.load("k", slow_read)))
    second.start()
    release.set()
    first.join(TIMEOUT)
    second.join(TIMEOUT)
    assert len(calls) == 1
    assert len(results) == 2
    assert results[0] is results[1]

    def failing():
        raise OSError("chunk unavailable")

    with pytest.raises(OSError, match="unavailable"):
        cache.load("bad", failing)
    assert cache.load("bad", lambda: np.zeros((1, 1, 1))).shape == (1, 1, 1)  # retried


def wait_until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    event = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        event.wait(0.01)
    raise AssertionError("condition not met within the timeout")


def jpeg_frame(viewer: Viewer, number: int, **patch: Any) -> tuple[dict[str, Any], np.ndarray]:
    """Send view request ``number``; its frame, decoded from JPEG, as (message, (h, w, 3))."""
    send(viewer, {"type": "view", "request": number, **patch})
    message, buffers = viewer.comm.wait("frame", lambda m: m["request"] == number)
    assert message["encoding"] == "jpeg"
    return message, np.asarray(Image.open(io.BytesIO(bytes(buffers[0]))).convert("RGB"))


def test_jpeg_frames_are_small_and_close_to_the_raw_ones(viewers, tree):
    viewer = viewers(tree, width=128, height=128, encoding="jpeg")
    fixed_contrast(viewer, LIMITS)
    message, rgb = jpeg_frame(viewer, 1)
    assert message["inside"] == [0, 0, 128, 128]
    assert len(viewer.comm.custom("frame")[-1][1][0]) < 128 * 128 * 4 / 5
    expected = reference(0, 0, LIMITS).astype(float)
    assert np.abs(rgb.astype(float) - expected).mean() < 3  # quality 90
    zoomed_out = [-64.0, 0.0, 192.0, 128.0]  # 2 image pixels a screen pixel, centred
    message, _ = jpeg_frame(viewer, 2, viewport=zoomed_out)
    assert message["inside"] == [32, 32, 96, 96]
    viewer.encoding = "raw"  # the same view raw: its alpha is opaque exactly there
    message, rgba = request(viewer, 3, viewport=zoomed_out)
    rows, cols = np.nonzero(rgba[..., 3])
    assert [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1] == message["inside"]


def test_auto_encoding_turns_to_jpeg_when_frames_arrive_slowly(viewers, tree):
    viewer = viewers(tree, width=64, height=64)
    assert viewer.encoding == "auto"
    message, _ = request(viewer, 1)
    assert message["encoding"] == "raw"
    message, _ = request(viewer, 2, position={"z": 1}, transport_ms=400.0)
    assert message["encoding"] == "raw"  # one slow frame may be a hiccup
    message, _ = request(viewer, 3, position={"z": 2}, transport_ms=30.0)
    assert message["encoding"] == "raw"  # not twice in a row
    request(viewer, 4, position={"z": 3}, transport_ms=400.0)
    jpeg_frame(viewer, 5, position={"z": 0}, transport_ms=350.0)
    jpeg_frame(viewer, 6, position={"z": 1}, transport_ms=5.0)  # stays: JPEG frames are small
    viewer.encoding = "raw"
    message, _ = request(viewer, 7, position={"z": 2})
    assert message["encoding"] == "raw"  # asked for explicitly


def test_a_failing_frame_reports_and_the_next_one_works(viewers, tree, monkeypatch):
    viewer = viewers(tree, width=64, height=64)
    render = viewer._scene.render
    calls = []

    def flaky(view):
        calls.append(view.request)
        if len(calls) == 1:
            raise OSError("chunk unavailable")
        return render(view)

    monkeypatch.setattr(viewer._scene, "render", flaky)
    send(viewer, {"type": "view", "request": 1})
    error, _ = viewer.comm.wait("error", lambda m: m["request"] == 1)
    assert "chunk unavailable" in error["message"]
    message, _ = request(viewer, 2)
    assert message["request"] == 2


def test_labels_overlay_colors_labelled_pixels(viewers, tree):
    viewer = viewers(tree, width=128, height=128)
    fixed_contrast(viewer, LIMITS)
    _, plain = request(viewer, 1, labels_visible=False)
    _, labelled = request(viewer, 2, labels_visible=True)
    label_plane = nuclei()[0]
    outside = label_plane == 0
    np.testing.assert_array_equal(plain[outside], labelled[outside])
    seven = label_plane == 7
    expected = plain[..., :3][seven] * 0.5 + np.array([255, 255, 0]) * 0.5
    np.testing.assert_allclose(labelled[..., :3][seven], expected, atol=1)
    # label 5 only exists from z = 2
    _, deeper = request(viewer, 3, position={"z": 2})
    five = nuclei()[2] == 5
    assert (deeper[five][:, 0] > 127).all()


def test_probe_reads_values_under_the_cursor(viewers, tree):
    viewer = viewers(tree, width=128, height=128)
    request(viewer, 1, position={"z": 1})
    send(viewer, {"type": "probe", "request": 9, "x": 85.5, "y": 90.25})
    reply, _ = viewer.comm.wait("probe", lambda m: m["request"] == 9)
    data = planes()[0, :, 1, 90, 85]
    assert reply["values"] == {"DAPI": int(data[0]), "GFP": int(data[1])}
    assert reply["labels"] == {"nuclei": 7}
    send(viewer, {"type": "probe", "request": 10, "x": -5, "y": 3})
    reply, _ = viewer.comm.wait("probe", lambda m: m["request"] == 10)
    assert reply["values"] == {"DAPI": None, "GFP": None}


def test_screenshot_is_a_png_of_the_view(viewers, tree):
    viewer = viewers(tree, width=160, height=120)
    fixed_contrast(viewer, LIMITS)
    png = viewer.screenshot()
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.size == (160, 120)
    assert image.mode == "RGBA"
    plain = np.asarray(Image.open(io.BytesIO(viewer.screenshot(scalebar=False))))
    bar = np.asarray(image)
    assert not np.array_equal(plain, bar)  # the scale bar is drawn bottom right
    assert np.array_equal(plain[:60], bar[:60])
    assert viewer.level == 0  # 128 pixels on 120: level 1 would be too coarse


def test_screenshot_without_a_comm_and_automatic_contrast(tree):
    viewer = Viewer(tree, width=64, height=64)
    try:
        image = Image.open(io.BytesIO(viewer.screenshot()))
        assert image.size == (64, 64)
        assert all(c["contrast"] is not None for c in viewer.channels)
    finally:
        viewer.close()


def test_lazy_image_opened_with_dask(viewers, image_path):
    image = bioshare.open_image(image_path, chunks={})
    viewer = viewers(image, width=128, height=128)
    assert viewer.levels == [[128, 128]]
    assert viewer.label_names == []
    fixed_contrast(viewer, LIMITS)
    _, rgba = request(viewer, 1, position={"z": 2})
    np.testing.assert_allclose(rgba[..., :3], reference(0, 2, LIMITS), atol=1)


def test_in_memory_array_with_channels(viewers):
    data = np.zeros((2, 40, 60), dtype=np.float32)
    data[0, :, :30] = 1.0
    data[1, 20:] = 2.0
    viewer = viewers(xr.DataArray(data, dims=("c", "y", "x")), width=60, height=40)
    assert viewer.dims == []
    assert viewer.position == {}
    assert [c["name"] for c in viewer.channels] == ["Channel 0", "Channel 1"]
    assert [c["color"] for c in viewer.channels] == ["#FF0000", "#00FF00"]
    assert viewer.channels[0]["range"] is None
    assert viewer.scale["unit"] is None
    viewer.set_contrast("Channel 0", 0, 1)
    viewer.set_contrast("Channel 1", 0, 2)
    message, rgba = request(viewer, 1)
    assert message["scalebar"]["label"].endswith(" px")
    assert (rgba[:20, :30, 0] == 255).all()
    assert (rgba[:20, 30:, 0] == 0).all()
    assert (rgba[20:, :, 1] == 255).all()
    assert (rgba[:20, :, 1] == 0).all()
    assert viewer.channels[0]["range"] == [0.0, 1.0]
    png = Image.open(io.BytesIO(viewer.screenshot()))
    assert png.size == (60, 40)


def test_in_memory_plane_and_explicit_labels(viewers):
    plane = xr.DataArray(np.arange(100, dtype=np.uint8).reshape(10, 10), dims=("y", "x"))
    labels = xr.DataArray(np.eye(10, dtype=np.int32) * 3, dims=("y", "x"))
    viewer = viewers(plane, labels={"diagonal": labels}, width=10, height=10)
    assert [c["name"] for c in viewer.channels] == ["intensity"]
    assert viewer.channels[0]["color"] == "#FFFFFF"
    assert viewer.label_names == ["diagonal"]
    viewer.set_contrast("intensity", 0, 99)
    _, rgba = request(viewer, 1)
    gray = np.round(np.arange(100).reshape(10, 10) / 99 * 255)
    diagonal = np.eye(10, dtype=bool)
    np.testing.assert_allclose(
        rgba[~diagonal][:, :3], np.repeat(gray[~diagonal, None], 3, 1), atol=1
    )
    color = np.array(_render.label_color(3)[:3])
    expected = gray[diagonal, None] * 0.5 + color * 0.5
    np.testing.assert_allclose(rgba[diagonal][:, :3], expected, atol=1)


def test_positions_are_checked(viewers, tree):
    viewer = viewers(tree)
    viewer.set_position(z=99)
    assert viewer.position == {"t": 0, "z": 3}
    with pytest.raises(KeyError, match="no slider"):
        viewer.set_position(q=1)
    with pytest.raises(KeyError, match="no channel"):
        viewer.show_channel("RFP")
    with pytest.raises(ValueError, match="hi > lo"):
        viewer.set_contrast("DAPI", 5, 1)


def test_bad_input_is_refused():
    with pytest.raises(TypeError, match="cannot view"):
        Viewer(np.zeros((4, 4)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="canvas"):
        Viewer(xr.DataArray(np.zeros((4, 4)), dims=("y", "x")), width=0)


def test_close_stops_the_renderer(comms, tree):
    viewer = Viewer(tree, width=32, height=32)
    request(viewer, 1)
    thread = viewer._thread
    assert thread is not None
    assert thread.is_alive()
    viewer.close()
    assert not thread.is_alive()


def test_static_files_carry_the_test_ids():
    static = Path(bioshare.__file__).parent / "widgets" / "static"
    script = (static / "viewer.js").read_text()
    for testid in (
        "viewer-canvas",
        "viewer-slider-",
        "viewer-channel-",
        "viewer-loading",
        "viewer-readout",
        "viewer-scalebar",
        "__bioshareViewer",
    ):
        assert testid in script
    assert "import " not in script  # self-contained: nothing fetched at run time


# -- the pure rendering helpers ---------------------------------------------------------------


def test_scale_bar_picks_round_lengths_and_prefixes():
    assert _render.scale_bar(0.5, "micrometer", 128) == (20.0, "10 µm")
    length, label = _render.scale_bar(20.0, "micrometer", 512)
    assert label == "2 mm"
    assert length == pytest.approx(100.0)
    length, label = _render.scale_bar(0.001, "micrometer", 500)
    assert label == "100 nm"
    assert length == pytest.approx(100.0)
    assert _render.scale_bar(1.0, None, 100) == (20.0, "20")
    assert _render.scale_bar(0.0, "micrometer", 100) == (0.0, "")


def test_plan_axis_maps_screen_pixels_to_source_pixels():
    plan = _render.plan_axis(0, 8, 4, 8)  # 2 source pixels per screen pixel: mean of 2
    assert (plan.start, plan.stop, plan.block) == (0, 8, 2)
    assert plan.index.tolist() == [0, 1, 2, 3]
    zoomed = _render.plan_axis(2, 4, 4, 8)
    assert (zoomed.start, zoomed.stop, zoomed.block) == (2, 4, 1)
    assert zoomed.index.tolist() == [0, 0, 1, 1]
    outside = _render.plan_axis(-4, 4, 4, 2)
    assert outside.index.tolist() == [-1, -1, 0, -1]
    assert _render.plan_axis(10, 20, 4, 8).empty


def test_resample_block_means_and_masks():
    data = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    rows = _render.plan_axis(0, 4, 2, 4)
    cols = _render.plan_axis(-4, 4, 2, 4)
    out, mask = _render.resample(data, rows, cols)
    assert mask.tolist() == [[False, True], [False, True]]
    assert out[0, :, 1].tolist() == [3.5, 11.5]  # blocks of 2 rows x 4 columns


def test_composite_overlay_and_contrast_helpers():
    rgb = _render.composite(
        [np.array([[0.0, 5.0, 10.0]]), np.array([[10.0, 10.0, 0.0]])],
        ["#FF0000", (0.0, 0.5, 0.0)],
        [(0, 10), (0, 10)],
    )
    assert rgb.tolist() == [[[0, 128, 0], [128, 128, 0], [255, 0, 0]]]
    over = _render.overlay_labels(rgb, np.array([[0, 2, 2]]), {2: (0, 0, 255, 255)})
    assert over[0, 0].tolist() == [0, 128, 0]
    assert over[0, 1].tolist() == [64, 64, 128]
    assert _render.contrast_limits(np.zeros(5)) == (0.0, 1.0)
    assert _render.contrast_limits(np.array([np.nan, 1.0, 3.0]), (0, 100)) == (1.0, 3.0)
    assert _render.label_color(4) == _render.label_color(4)
    assert _render.label_color(4) != _render.label_color(5)
    assert _render.unit_symbol("micrometer") == "µm"
    assert _render.fit_viewport((0, 0, 10, 10), (20, 10)) == (-5.0, 0.0, 15.0, 10.0)
