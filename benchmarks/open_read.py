"""Remote OME-Zarr: bioshare against ome-zarr-py, ngff-zarr and bioio-ome-zarr, side by side.

What costs time remotely is the number of *sequential round trips*, not only the number of
requests. Datasets are served by an object-store-like HTTP server (no listings, 404 for
absent keys) running in its own process, with a fixed latency added to every request, and
every request is logged with its arrival time.

Method
------
- rounds: requests sorted by arrival; one arriving more than ``latency / 2`` (5 ms at zero
  latency) after the previous one starts a new round (a dependent wave).
- each reader opens once first in its process (imports, event loop and HTTP session exist),
  then every operation is repeated ``--repeat`` times on a fresh open; times are medians.
  "cold" is the very first open in the process.
- peak memory: each reader's whole sequence in a fresh subprocess (its VmHWM, peak RSS).

Run ``python benchmarks/open_read.py`` (``--small`` for a quick run, ``--json out.json``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from fakes.objectstore import (  # noqa: E402
    ObjectStoreServer,
    count_404,
    count_requests,
    count_rounds,
)

READERS = ("bioshare", "bioshare+hint", "ome-zarr-py", "ngff-zarr", "bioio-ome-zarr")


# -- data ----------------------------------------------------------------------------------------


def build_data(folder: Path, small: bool) -> dict[str, Path]:
    """The benchmark datasets, written once and cached in ``folder``."""
    import bioshare

    z, side = (8, 1024) if small else (64, 2048)
    tag = "small" if small else "full"
    paths = {}
    for version in ("0.4", "0.5"):
        dest = folder / f"image-{tag}-{version}.ome.zarr"
        paths[f"image-{version}"] = dest
        if not dest.exists():
            print(f"writing {dest.name} ...", flush=True)
            bioshare.write_image(
                _synthetic(z, side),
                dest,
                ngff_version=version,
                levels=4,
                chunks={"z": 1, "y": 512, "x": 512},
            )
        plate = folder / f"plate-{version}.ome.zarr"
        paths[f"plate-{version}"] = plate
        if not plate.exists():
            print(f"writing {plate.name} ...", flush=True)
            build_plate(plate, version)
    return paths


def _synthetic(z: int, side: int) -> Any:
    """A smooth, compressible t=1, c=3 image built lazily, chunk by chunk."""
    import dask.array as da
    import xarray as xr

    yy, xx = da.meshgrid(da.arange(side, chunks=512), da.arange(side, chunks=512), indexing="ij")
    plane = (1000 + 500 * da.sin(yy / 50) * da.cos(xx / 70)).astype("uint16")
    volume = da.stack([plane + 7 * k for k in range(z)])
    data = da.stack([volume + 100 * c for c in range(3)])[None].rechunk((1, 1, 1, 512, 512))
    return xr.DataArray(data, dims=("t", "c", "z", "y", "x"), coords={"c": ["DAPI", "GFP", "RFP"]})


def build_plate(dest: Path, version: str) -> Path:
    """A 96-well plate (8 x 12), one field per well, each (c=2, 256, 256) with 2 levels."""
    import xarray as xr

    import bioshare
    from bioshare.ngff.write import write_group_metadata

    rows, columns = "ABCDEFGH", [str(c) for c in range(1, 13)]
    rng = np.random.default_rng(0)
    wells = []
    for r, row in enumerate(rows):
        for c, column in enumerate(columns):
            field = xr.DataArray(
                rng.integers(0, 4000, (2, 256, 256), dtype=np.uint16), dims=("c", "y", "x")
            )
            bioshare.write_image(
                field,
                dest / row / column / "0",
                ngff_version=version,
                levels=2,
                chunks={"y": 256, "x": 256},
            )
            write_group_metadata(
                dest / row / column, {"well": {"images": [{"path": "0"}]}}, version
            )
            wells.append({"path": f"{row}/{column}", "rowIndex": r, "columnIndex": c})
        write_group_metadata(dest / row, {}, version)
    plate = {
        "name": "bench",
        "rows": [{"name": r} for r in rows],
        "columns": [{"name": c} for c in columns],
        "wells": wells,
        "field_count": 1,
    }
    write_group_metadata(dest, {"plate": plate}, version)
    return dest


# -- the server in its own process -----------------------------------------------------------------


def _serve(root: str, connection: Any) -> None:
    with ObjectStoreServer(root) as server:
        connection.send(server.url)
        while True:
            command, argument = connection.recv()
            if command == "latency":
                server.latency = argument
                connection.send(None)
            elif command == "clear":
                server.clear_log()
                connection.send(None)
            elif command == "log":
                connection.send(server.log)
            else:
                connection.send(None)
                return


class Server:
    """An ObjectStoreServer in a child process, so the client's threads cannot skew its clock."""

    def __init__(self, root: Path) -> None:
        self._parent, child = mp.Pipe()
        self._process = mp.get_context("spawn").Process(
            target=_serve, args=(str(root), child), daemon=True
        )
        self._process.start()
        self.url: str = self._parent.recv()

    def call(self, command: str, argument: Any = None) -> Any:
        self._parent.send((command, argument))
        return self._parent.recv()

    def stop(self) -> None:
        self.call("stop")
        self._process.join(timeout=10)


# -- the readers -----------------------------------------------------------------------------


def reader_ops(name: str, version: str) -> dict[str, Callable[..., Any]]:
    """open(url) -> handle, plane(handle), volume(handle), plate(url) for one reader."""
    if name.startswith("bioshare"):
        import bioshare

        hint = version if name.endswith("hint") else None

        def open_(url: str) -> Any:
            return bioshare.open_multiscales(url, version=hint)

        def plate(url: str) -> Any:
            return bioshare.open_plate(url, version=hint)["A/1/0"]["image"]

        def well(url: str) -> Any:
            return bioshare.open_plate(url, wells=["A/1"], version=hint)["A/1/0"]["image"]

        return {
            "open": open_,
            "plane": lambda t: (
                t["0"]["image"].isel(t=0, c=0, z=t["0"]["image"].sizes["z"] // 2).values
            ),
            "volume": lambda t: (
                t["0"]["image"]
                .isel(t=0, c=0, z=slice(0, 64), y=slice(512, 1024), x=slice(512, 1024))
                .values
            ),
            "plate": plate,
            "plate+well": well,
        }
    if name == "ome-zarr-py":
        from ome_zarr.io import parse_url
        from ome_zarr.reader import Reader

        def open_(url: str) -> Any:
            return next(iter(Reader(parse_url(url))())).data[0]

        def plate(url: str) -> Any:
            list(Reader(parse_url(url))())
            return next(iter(Reader(parse_url(f"{url}/A/1/0"))())).data[0]

        return {
            "open": open_,
            "plane": lambda d: d[0, 0, d.shape[2] // 2].compute(),
            "volume": lambda d: d[0, 0, 0:64, 512:1024, 512:1024].compute(),
            "plate": plate,
        }
    if name == "ngff-zarr":
        import ngff_zarr

        def plate(url: str) -> Any:
            well = ngff_zarr.from_hcs_zarr(url).get_well("A", "1")
            return well.get_image(0).images[0].data

        return {
            "open": lambda url: ngff_zarr.from_ngff_zarr(url).images[0].data,
            "plane": lambda d: d[0, 0, d.shape[2] // 2].compute(),
            "volume": lambda d: d[0, 0, 0:64, 512:1024, 512:1024].compute(),
            "plate": plate,
        }
    if name == "bioio-ome-zarr":
        import bioio
        import bioio_ome_zarr

        return {
            "open": lambda url: bioio.BioImage(url, reader=bioio_ome_zarr.Reader).dask_data,
            "plane": lambda d: d[0, 0, d.shape[2] // 2].compute(),
            "volume": lambda d: d[0, 0, 0:64, 512:1024, 512:1024].compute(),
            "plate": None,  # bioio-ome-zarr reads no HCS plates
        }
    raise KeyError(name)


def measure(server: Server, latency: float, action: Callable[[], Any]) -> dict[str, Any]:
    server.call("clear")
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    entries = server.call("log")
    gap = latency / 2 if latency > 0 else 0.005
    return {
        "requests": count_requests(entries),
        "404s": count_404(entries),
        "rounds": count_rounds(entries, gap),
        "seconds": seconds,
    }


def run_reader(
    name: str, server: Server, urls: dict[str, str], latency: float, repeat: int
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for version in ("0.4", "0.5"):
        results.update(_run_version(name, version, server, urls, latency, repeat))
    return results


def _run_version(
    name: str, version: str, server: Server, urls: dict[str, str], latency: float, repeat: int
) -> dict[str, Any]:
    ops = reader_ops(name, version)
    url = urls[f"image-{version}"]
    results: dict[str, Any] = {}
    cold = measure(server, latency, partial(ops["open"], url))
    rows: dict[str, list[dict[str, Any]]] = {"open": [], "plane": [], "volume": []}
    for _ in range(repeat):
        opened: list[Any] = []
        rows["open"].append(measure(server, latency, partial(_keep, opened, ops["open"], url)))
        rows["plane"].append(measure(server, latency, partial(ops["plane"], opened[0])))
        rows["volume"].append(measure(server, latency, partial(ops["volume"], opened[0])))
    for op, samples in rows.items():
        results[f"{op} {version}"] = _median(samples)
    results[f"open {version}"]["cold_seconds"] = cold["seconds"]
    for op in ("plate", "plate+well"):
        if ops.get(op) is not None:
            action = partial(ops[op], urls[f"plate-{version}"])
            samples = [measure(server, latency, action) for _ in range(repeat)]
            results[f"{op} {version}"] = _median(samples)
    return results


def _keep(into: list[Any], func: Callable[[str], Any], url: str) -> None:
    into.append(func(url))


def _median(samples: list[dict[str, Any]]) -> dict[str, Any]:
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


def peak_memory(name: str, urls: dict[str, str]) -> float:
    """Max RSS in MiB of a fresh process running the reader's open, plane and volume."""
    command = [sys.executable, __file__, "--memory-worker", name, "--urls", json.dumps(urls)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return int(output.strip().splitlines()[-1]) / 1024


def _memory_worker(name: str, urls: dict[str, str]) -> None:
    for version in ("0.4", "0.5"):
        ops = reader_ops(name, version)
        handle = ops["open"](urls[f"image-{version}"])
        ops["plane"](handle)
        ops["volume"](handle)
    # VmHWM starts afresh at exec; ru_maxrss would carry the parent's peak over on Linux.
    status = Path("/proc/self/status").read_text()
    if "VmHWM:" in status:
        print(int(status.split("VmHWM:")[1].split()[0]))
    else:
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


# -- report ------------------------------------------------------------------------------


def print_table(latency: float, results: dict[str, dict[str, Any]]) -> None:
    print(f"\n== latency {latency * 1000:.0f} ms per request ==")
    print(
        f"{'reader':16} {'operation':11} {'req':>5} {'404':>4} {'rounds':>6} {'seconds':>8} "
        f"{'vs best peer':>13}"
    )
    operations = sorted({op for r in results.values() for op in r})
    peers = [n for n in results if not n.startswith("bioshare")]
    for op in operations:
        best = min((results[p][op]["seconds"] for p in peers if op in results[p]), default=None)
        for name, ops in results.items():
            if op not in ops:
                continue
            row = ops[op]
            ratio = (
                f"{best / row['seconds']:.1f}x faster"
                if best and name.startswith("bioshare")
                else ""
            )
            print(
                f"{name:16} {op:11} {row['requests']:>5} {row['404s']:>4} {row['rounds']:>6} "
                f"{row['seconds']:>8.3f} {ratio:>13}"
            )


def check_targets(all_results: dict[float, dict[str, dict[str, Any]]]) -> list[str]:
    lines: list[str] = []
    any_latency = all_results[max(all_results)]  # the clearest rounds
    if not {"bioshare", "bioshare+hint"} <= set(any_latency):
        return ["(targets are checked when both bioshare readers run)"]
    for version in ("0.4", "0.5"):
        plain = any_latency["bioshare"][f"open {version}"]
        hint = any_latency["bioshare+hint"][f"open {version}"]
        ok = hint["requests"] <= 5 and hint["rounds"] <= 2 and hint["404s"] == 0
        lines.append(
            _verdict(
                ok,
                f"open {version} with version known: {hint['requests']:.0f} "
                f"requests, {hint['rounds']:.0f} rounds, {hint['404s']:.0f} 404s "
                f"(without: {plain['requests']:.0f}/{plain['rounds']:.0f}/"
                f"{plain['404s']:.0f}); target <=5 requests, <=2 rounds, no 404",
            )
        )
        plane = any_latency["bioshare"][f"plane {version}"]
        lines.append(
            _verdict(
                plane["rounds"] <= 1, f"plane {version}: {plane['rounds']:.0f} round(s); target 1"
            )
        )
        for op in ("plate", "plate+well"):
            row = any_latency["bioshare"][f"{op} {version}"]
            text = (
                f"{op} {version} open: {row['rounds']:.0f} rounds, {row['requests']:.0f} requests"
            )
            lines.append(_verdict(row["rounds"] <= 4, f"{text}; target <=4 rounds"))
    if 0.05 in all_results and len(all_results[0.05]) > 2:
        results = all_results[0.05]
        for version in ("0.4", "0.5"):
            ours = results["bioshare"][f"plane {version}"]["seconds"]
            best = min(
                results[p][f"plane {version}"]["seconds"]
                for p in results
                if not p.startswith("bioshare")
            )
            lines.append(
                _verdict(
                    best / ours >= 4,
                    f"plane {version} at 50 ms: "
                    f"{best / ours:.1f}x faster than the best peer; target >=4x",
                )
            )
    return lines


def _verdict(ok: bool, text: str) -> str:
    return f"{'PASS' if ok else 'MISS'}  {text}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="z=8, 1024 x 1024: a quick run")
    parser.add_argument("--latency", default="0,20,50,100", help="milliseconds, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--readers", default=",".join(READERS))
    parser.add_argument("--data", type=Path, default=HERE / ".data")
    parser.add_argument("--json", type=Path, help="write all results here")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--memory-worker", help=argparse.SUPPRESS)
    parser.add_argument("--urls", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_worker:
        _memory_worker(args.memory_worker, json.loads(args.urls))
        return 0

    args.data.mkdir(parents=True, exist_ok=True)
    paths = build_data(args.data, args.small)
    readers = [r.strip() for r in args.readers.split(",") if r.strip()]
    server = Server(args.data)
    urls = {key: f"{server.url}/{path.name}" for key, path in paths.items()}
    everything: dict[float, dict[str, dict[str, Any]]] = {}
    try:
        for latency in (float(ms) / 1000 for ms in args.latency.split(",")):
            server.call("latency", latency)
            everything[latency] = {}
            for name in readers:
                reader_ops(name, "0.4")["open"](urls["image-0.4"])  # warm-up
                everything[latency][name] = run_reader(name, server, urls, latency, args.repeat)
            print_table(latency, everything[latency])
        memory = {}
        if not args.no_memory:
            server.call("latency", 0.0)
            memory = {name: peak_memory(name, urls) for name in readers}
            print("\npeak memory (peak RSS of a fresh process, MiB):")
            for name, mib in memory.items():
                print(f"  {name:16} {mib:8.0f}")
    finally:
        server.stop()
    print()
    for line in check_targets(everything):
        print(line)
    if args.json:
        document = {"latencies": {str(k): v for k, v in everything.items()}, "memory": memory}
        args.json.write_text(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
