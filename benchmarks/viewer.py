"""The bioshare Viewer in a real JupyterLab in real headless Chromium: plane-change latency.

Issue targets: a plane change is drawn in p50 < 150 ms and p95 < 300 ms, and after scrubbing
stops the last frame is drawn ("settled") within 300 ms.

How
---
- data: a (c=4, z=32, 2048, 2048) uint16 image (``--small``: z=8, 512 x 512), 512 x 512
  chunks, NGFF 0.5, written once to ``benchmarks/.data/`` and reused; served over HTTP by
  ``bioshare.server.BackgroundServer`` in a child process.
- JupyterLab on 127.0.0.1 with a token and fresh config/settings folders; a generated notebook
  with one cell, ``Viewer(bioshare.open_multiscales(url), width=768, height=768)``, opened in
  Debian's Chromium (``/usr/bin/chromium``) through Playwright and run.
- times come from the page: the Viewer records ``sentAt`` and ``drawnAt`` (performance.now())
  of every request in ``window.__bioshareViewer.requests``. A plane change is the z slider
  filled with a new value; its latency is drawnAt - sentAt of the request it created.
  "first view": planes never shown before; "cached": the same planes again.
- scrub: 50 slider inputs, one every 16 ms (as a drag), without waiting for frames;
  "settled" is the time from the last input to the frame showing it being drawn. (The
  Viewer keeps one request on its way; inputs made meanwhile go in the next one, so
  times run from each request's ``inputAt``, its latest input, not its ``sentAt``.)
- the Viewer reads ahead (the planes next to the one shown) by default; each run measures
  it with read-ahead and without (``prefetch=False``), in fresh kernels, so the cost of a
  plane that must come from the server is in the figures too; and with JPEG frames (what
  ``encoding="auto"`` turns to on a slow link), to show their cost on a fast one. Frames
  are raw RGBA otherwise (``encoding="raw"``: on 127.0.0.1 "auto" stays raw anyway).

Run ``.venv/bin/python benchmarks/viewer.py [--small] [--repeat 20] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
sys.path.insert(0, str(HERE.parent / "tests" / "browser"))  # the browser tests' harness

from lab_harness import CHROME_ARGS, CHROMIUM, IDLE, PANEL, Lab, jupyter_lab  # noqa: E402

SCRUB = 50
SCRUB_GAP_MS = 16
TARGETS = {"p50": 150.0, "p95": 300.0, "settled": 300.0}


# -- data and its server ---------------------------------------------------------------------


def build_data(small: bool) -> Path:
    """The benchmark image, written once in ``benchmarks/.data``."""
    dest = DATA / ("viewer-small.ome.zarr" if small else "viewer.ome.zarr")
    if dest.exists():
        return dest
    import bioshare

    z, side = (8, 512) if small else (32, 2048)
    print(f"writing {dest} ...", flush=True)
    DATA.mkdir(exist_ok=True)
    chunks = {"c": 1, "z": 1, "y": 512, "x": 512}
    bioshare.write_image(_synthetic(z, side), dest, ngff_version="0.5", chunks=chunks)
    return dest


def _synthetic(z: int, side: int) -> Any:
    """Smooth structure that moves with z and c, plus noise: not too compressible."""
    import dask.array as da
    import numpy as np
    import xarray as xr

    yy, xx = da.meshgrid(da.arange(side, chunks=512), da.arange(side, chunks=512), indexing="ij")
    noise = da.random.RandomState(0).randint(0, 200, size=(4, z, side, side), chunks=512)
    planes = [
        [
            2000 + 1500 * da.sin((yy + 9 * k) / (40 + 5 * c)) * da.cos((xx - 7 * k) / 60)
            for k in range(z)
        ]
        for c in range(4)
    ]
    data = (da.stack([da.stack(p) for p in planes]) + noise).astype("uint16")
    data = data.rechunk((1, 1, 512, 512))
    # Physical y/x coordinates: without them write_image gives every level scale 1.0.
    um = {"units": "micrometer"}
    coords = {
        "c": ["DAPI", "GFP", "RFP", "Cy5"],
        "z": ("z", 0.5 * np.arange(z), um),
        "y": ("y", 0.1 * np.arange(side), um),
        "x": ("x", 0.1 * np.arange(side), um),
    }
    return xr.DataArray(data, dims=("c", "z", "y", "x"), coords=coords)


def _serve(folder: str, conn: Any) -> None:
    from bioshare.server import BackgroundServer

    with BackgroundServer(folder) as server:
        conn.send(server.url)
        conn.recv()  # anything, or EOF: stop


@contextmanager
def data_server(folder: Path) -> Iterator[str]:
    """``BackgroundServer(folder)`` in a child process; yields its URL."""
    parent, child = mp.Pipe()
    process = mp.get_context("spawn").Process(target=_serve, args=(str(folder), child))
    process.start()
    try:
        if not parent.poll(60):
            raise TimeoutError("the data server did not start within 60 s")
        yield parent.recv()
    finally:
        parent.send("stop")
        process.join(10)
        if process.is_alive():
            process.terminate()
            process.join()


# -- JupyterLab ------------------------------------------------------------------------------


def write_notebook(root: Path, url: str, prefetch: bool, encoding: str = "raw") -> str:
    source = (
        "import bioshare\n"
        "from bioshare.widgets import Viewer\n\n"
        f"Viewer(bioshare.open_multiscales({url!r}), width=768, height=768,"
        f" prefetch={prefetch}, encoding={encoding!r})"
    )
    cell = {"cell_type": "code", "execution_count": None, "id": "viewer", "metadata": {}}
    cell |= {"outputs": [], "source": source}
    kernel = {"display_name": "Python 3", "language": "python", "name": "python3"}
    notebook = {"cells": [cell], "metadata": {"kernelspec": kernel}, "nbformat": 4}
    name = f"viewer-{'prefetch' if prefetch else 'no-prefetch'}-{encoding}.ipynb"
    (root / name).write_text(json.dumps(notebook | {"nbformat_minor": 5}))
    return name


# -- the page --------------------------------------------------------------------------------


def open_viewer(page: Any, lab: Lab, notebook: str) -> Any:
    """Open the notebook, run it and wait for the Viewer's first frame; returns the panel."""
    page.goto(lab.url(notebook))
    lab.wait_kernel_idle(notebook)
    page.wait_for_selector(IDLE)
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    panel = page.locator(PANEL)
    panel.get_by_test_id("viewer-canvas").wait_for()
    wait_drawn(page, 1, timeout=120_000)
    return panel


def wait_drawn(page: Any, request: int, timeout: float = 60_000) -> dict[str, Any]:
    """Wait for a request's frame; returns its record (sentAt, drawnAt, frame)."""
    page.wait_for_function(
        "id => window.__bioshareViewer?.requests[id]?.drawnAt != null",
        arg=request,
        timeout=timeout,
    )
    return page.evaluate("id => window.__bioshareViewer.requests[id]", request)


def last_request(page: Any) -> int:
    return int(page.evaluate("() => window.__bioshareViewer.nextRequest - 1"))


def change_plane(page: Any, slider: Any, z: int) -> dict[str, float]:
    """Move the z slider to ``z``; returns the request's times (ms).

    ``total`` from the request to its frame drawn; of it, ``waited`` in the kernel before
    rendering started, ``render`` reading and compositing, and ``transport`` the rest
    (messages both ways, the browser decoding and drawing the frame).
    """
    before = last_request(page)
    slider.fill(str(z))
    page.wait_for_function("n => window.__bioshareViewer.nextRequest - 1 > n", arg=before)
    return split(wait_drawn(page, last_request(page)))


def split(record: dict[str, Any]) -> dict[str, float]:
    """The times of one request (ms): total, and of it queued (in the page, behind a request
    on its way), waited (in the kernel), render, and transport (messages, decoding, drawing).
    """
    # From the input (a change made while a request is on its way waits for it, merged
    # with later ones) to the frame drawn.
    total = float(record["drawnAt"] - record["inputAt"])
    queued = float(record["sentAt"] - record["inputAt"])
    waited, render = float(record["waitedMs"]), float(record["renderMs"])
    return {
        "total": total,
        "queued": queued,
        "waited": waited,
        "render": render,
        "transport": total - queued - waited - render,
    }


def scrub(page: Any, slider: Any, positions: list[int]) -> dict[str, Any]:
    """Move the slider through ``positions`` without waiting; then wait for the last frame."""
    first = last_request(page) + 1
    frames = page.evaluate("() => window.__bioshareViewer.framesDrawn")
    # One input per animation frame (16 ms), as a drag does; Playwright's fill() from here
    # takes ~100 ms a call, too slow to be a scrub.
    slider.evaluate(
        """async (input, [positions, gap]) => {
             for (const z of positions) {
               input.value = String(z);
               input.dispatchEvent(new Event("input", { bubbles: true }));
               await new Promise((resolve) => setTimeout(resolve, gap));
             }
           }""",
        [positions, SCRUB_GAP_MS],
    )
    page.wait_for_function("() => window.__bioshareViewer.queued === 0")  # the last one sent
    last = last_request(page)
    record = wait_drawn(page, last)
    page.wait_for_timeout(500)  # frames still on their way would be counted too
    reg = page.evaluate(
        "([a, b]) => { const r = window.__bioshareViewer; const out = [];"
        " for (let i = a; i <= b; i++) out.push(r.requests[i]); return [r.framesDrawn, out]; }",
        [first, last],
    )
    drawn_total, records = reg
    return {
        "requests": last - first + 1,
        "input_ms": records[-1]["inputAt"] - records[0]["sentAt"],
        "settled_ms": record["drawnAt"] - record["inputAt"],
        "last": split(record),
        "requests_drawn": sum(r["drawnAt"] is not None for r in records),
        "frames_drawn": drawn_total - frames,
    }


def ping_pong(size: int, count: int, start: int) -> list[int]:
    """``count`` slider positions going back and forth over ``size`` planes, each a move."""
    cycle = list(range(size)) + list(range(size - 2, 0, -1))
    begin = cycle.index(start)
    return [cycle[(begin + 1 + i) % len(cycle)] for i in range(count)]


def measure(page: Any, panel: Any, planes: int, repeat: int) -> dict[str, Any]:
    slider = panel.get_by_test_id("viewer-slider-z")
    start = int(slider.input_value())
    unseen = [z for z in range(planes) if z != start][:repeat]
    first = [change_plane(page, slider, z) for z in unseen]
    change_plane(page, slider, start)  # so the first revisit is a change too
    cached = [change_plane(page, slider, z) for z in unseen]
    level = panel.get_by_test_id("viewer-canvas").get_attribute("data-level")
    scrubbed = scrub(page, slider, ping_pong(planes, SCRUB, unseen[-1]))
    return {"first_view": first, "cached": cached, "scrub": scrubbed, "level": level}


def run_browser(lab: Lab, notebook: str, planes: int, repeat: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1200})
            context.route("https://**", lambda route: route.abort())  # nothing leaves
            page = context.new_page()
            page.set_default_timeout(60_000)
            panel = open_viewer(page, lab, notebook)
            return measure(page, panel, planes, repeat)
        finally:
            browser.close()


# -- report ----------------------------------------------------------------------------------


def summary(records: list[dict[str, float]]) -> dict[str, float]:
    times = [r["total"] for r in records]
    p95 = statistics.quantiles(times, n=20, method="inclusive")[-1] if len(times) > 1 else times[0]
    parts = {k: statistics.median(r[k] for r in records) for k in ("waited", "render", "transport")}
    return {"n": len(times), "p50": statistics.median(times), "p95": p95, "max": max(times)} | {
        f"{k}_p50": v for k, v in parts.items()
    }


def verdict(value: float, target: float) -> str:
    return "PASS" if value < target else "MISS"


def report(result: dict[str, Any], title: str) -> dict[str, Any]:
    stats = {name: summary(result[name]) for name in ("first_view", "cached")}
    s = result["scrub"]
    print(f"\n{title}: Viewer 768 x 768, image {result['image']}, level {result['level']}")
    print(
        f"{'plane change':<14}{'n':>4}{'p50 ms':>8}{'p95 ms':>8}{'max ms':>8}"
        f"  p50 of: {'waited':>6}{'render':>7}{'transport':>10}  targets"
    )
    for name, st in stats.items():
        checks = (
            f"p50<150 {verdict(st['p50'], TARGETS['p50'])}, "
            f"p95<300 {verdict(st['p95'], TARGETS['p95'])}"
        )
        row = f"{st['p50']:>8.1f}{st['p95']:>8.1f}{st['max']:>8.1f}"
        parts = f"{st['waited_p50']:>6.1f}{st['render_p50']:>7.1f}{st['transport_p50']:>10.1f}"
        print(f"{name:<14}{st['n']:>4}{row}          {parts}  {checks}")
    print(
        f"scrub: {SCRUB} inputs in {s['input_ms']:.0f} ms, sent as {s['requests']} requests,"
        f" settled {s['settled_ms']:.1f} ms"
        f" after the last input (<300 {verdict(s['settled_ms'], TARGETS['settled'])}),"
        f" {s['frames_drawn']} frames drawn ({s['requests_drawn']} of the requests);"
        f" the last input queued {s['last']['queued']:.0f} ms in the page, waited"
        f" {s['last']['waited']:.0f} in the kernel, rendered in {s['last']['render']:.0f},"
        f" transport {s['last']['transport']:.0f}"
    )
    return {**result, "summary": stats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="512 x 512, 8 planes")
    parser.add_argument("--repeat", type=int, default=20, help="plane changes per phase")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    folder = build_data(args.small)
    planes, side = (8, 512) if args.small else (32, 2048)
    results = {}
    with (
        tempfile.TemporaryDirectory(prefix="bioshare-viewer-bench-") as tmp,
        data_server(folder.parent) as url,
        jupyter_lab(Path(tmp)) as lab,
    ):
        modes = (
            ("read-ahead", True, "raw"),
            ("no read-ahead", False, "raw"),
            ("read-ahead, JPEG frames", True, "jpeg"),
        )
        for mode, prefetch, encoding in modes:
            notebook = write_notebook(lab.root, f"{url}/{folder.name}", prefetch, encoding)
            results[mode] = run_browser(lab, notebook, planes, args.repeat)
            results[mode]["image"] = f"c=4, z={planes}, {side} x {side} uint16"
    out = {mode: report(result, mode) for mode, result in results.items()}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
