"""Publishing uploads: `bioshare.publish` to a fake Zenodo, against curl on the same bytes.

What is measured
----------------
For each dataset size (``--sizes``, GiB; 0.5 and 2 by default, 0.05 and 0.2 with ``--small``):

- data: a synthetic OME-Zarr of about that size in ``benchmarks/.data/`` (written once,
  then reused): one level of random uint16 (incompressible), (z, 1024, 1024), 1 MiB chunks
  (1, 512, 1024), written through dask in blocks so that memory stays low.
- server: the fake Zenodo of ``tests/fakes/invenio.py`` (aiohttp on 127.0.0.1, md5 of every
  upload, bytes stored on this disk) in a child process of its own, so that the measured
  client is alone in its process; its stored bytes are deleted after every run.
- bioshare: a fresh child process runs ``bioshare.publish(dataset, study, target="zenodo",
  token=..., progress=False)`` with a minimal valid Study and an empty cache folder (no
  journal, nothing packed), exactly as a user calls it. The process times, without changing
  them, ``bioshare.publishing.files.prepare`` (packing: the zip, md5 on the way) and every
  ``ApiClient.request`` (the upload is the PUT of the zip's content); it reports the wall
  time of the whole call, its CPU time, RSS after the imports and its peak RSS (``VmHWM``
  of /proc/self/status: the child's own peak, from exec on).
- curl: the same zip bytes uploaded by ``curl --upload-file`` to the same fake: a draft and
  its file entry made with plain httpx, curl's ``PUT .../content`` timed (curl's own
  ``time_total``), then committed and checked. Before each curl run the zip is packed afresh
  with ``zip_ome_zarr`` (reproducible archives: the md5s confirm they are the bytes bioshare
  uploads) and deleted after, as `publish` does with its own zip. The fake shares this
  machine's memory, and its writes cost it more kernel time when they need pages not used
  lately: with one zip kept for all curl runs, bioshare's runs held two zips and uploaded
  at about 0.55x curl's rate (2 GiB, the fake spending twice the kernel time); packed
  afresh, both sides run with the same footprint (data, one zip, the fake's copy).

Runs alternate bioshare and curl ``--repeat`` times (2 by default); the best of each
figure is reported (peak RSS: the highest). Targets: bioshare upload throughput >= 0.70 x
curl's, peak RSS < 250 MB. Shown too, for the fastest upload of each side: client and
server CPU seconds per upload second (a server near 1.0 is one busy core: the fake, not the
client, set the pace), and how many cores other work kept busy just before each run (from
/proc/stat while the benchmark sleeps half a second); on a shared 2-core machine that is
what makes the figures noisy.

Run ``.venv/bin/python benchmarks/publish.py [--small]``; ``--json`` prints one JSON object
instead of the table (``--json out.json`` writes it there as well); ``--strict`` exits 1
when a target is missed. A 2 GiB size needs about 3 x 2 GiB free (data, a zip,
the fake's stored copy); sizes that would not fit are skipped with a message.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))

TOKEN = "bench-token"
GiB, MiB = 1024**3, 1024**2
SIDE = 1024  # planes of SIDE x SIDE uint16: 2 MiB each
CHUNKS = {"z": 1, "y": 512, "x": 1024}  # 1 MiB
RATIO_TARGET = 0.70
RSS_TARGET_MB = 250.0
MARGIN = GiB  # free space kept on top of what a size needs
BUSY = 0.3  # cores kept busy by other work from which the figures are flagged as noisy
STUDY: dict[str, Any] = {
    "title": "Synthetic volume for the publishing benchmark",
    "description": "Random uint16 planes written by benchmarks/publish.py.",
    "licence": "CC BY 4.0",
    "release_date": "2025-01-15",
    "author": [{"display_name": "Ada Lovelace"}],
}


# -- data ------------------------------------------------------------------------------------


def dataset_path(folder: Path, gib: float) -> Path:
    return folder / f"publish-{gib:g}GiB.ome.zarr"


def planes_for(gib: float) -> int:
    return max(1, round(gib * GiB / (SIDE * SIDE * 2)))


def build_dataset(dest: Path, gib: float) -> Path:
    """A one-level OME-Zarr of random uint16 planes, written once (atomically) and reused."""
    if dest.exists():
        return dest
    import dask.array as da
    import numpy as np
    import xarray as xr

    import bioshare

    planes = planes_for(gib)
    _say(f"writing {dest.name} ({planes} planes) ...")
    rng = da.random.default_rng(20240611)
    data = rng.integers(0, 65536, (planes, SIDE, SIDE), dtype=np.uint16, chunks=(32, SIDE, SIDE))
    bioshare.write_image(xr.DataArray(data, dims=("z", "y", "x")), dest, levels=1, chunks=CHUNKS)
    return dest


def folder_stats(path: Path) -> tuple[int, int]:
    """Bytes and number of files under ``path``."""
    sizes = [p.stat().st_size for p in path.rglob("*") if p.is_file()]
    return sum(sizes), len(sizes)


def room_for(folder: Path, gib: float) -> tuple[bool, str]:
    """Whether a size fits: data (unless written already), a zip and the fake's copy."""
    need = 2 * gib * GiB + MARGIN
    if not dataset_path(folder, gib).exists():
        need += gib * GiB
    free = shutil.disk_usage(folder).free
    text = f"{gib:g} GiB needs {need / GiB:.1f} GiB free in {folder}, {free / GiB:.1f} GiB are"
    return free >= need, text


# -- the fake Zenodo in its own process ------------------------------------------------------


def _serve(store_root: str, connection: Any) -> None:
    from fakes.invenio import FakeInvenio

    with FakeInvenio(flavour="zenodo", token=TOKEN, store_root=store_root) as fake:
        connection.send(fake.url)
        connection.recv()  # any message stops it


class FakeZenodo:
    """A FakeInvenio (Zenodo flavour) in a child process, storing under ``store_root``."""

    def __init__(self, store_root: Path) -> None:
        self.store_root = store_root
        store_root.mkdir(parents=True, exist_ok=True)
        self._parent, child = mp.Pipe()
        self._process = mp.get_context("spawn").Process(
            target=_serve, args=(str(store_root), child), daemon=True
        )
        self._process.start()
        self.url: str = self._parent.recv()

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far."""
        fields = Path(f"/proc/{self._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def purge(self) -> None:
        """Delete the uploaded bytes (the fake keeps only their paths)."""
        for child in self.store_root.iterdir():
            shutil.rmtree(child, ignore_errors=True)

    def stop(self) -> None:
        self._parent.send("stop")
        self._process.join(timeout=10)


# -- bioshare, in a fresh process ------------------------------------------------------------


def run_bioshare(server: FakeZenodo, dataset: Path, work: Path) -> dict[str, Any]:
    """One `bioshare.publish` in a fresh process with an empty cache folder."""
    cache = Path(tempfile.mkdtemp(dir=work, prefix="cache-"))
    env = os.environ | {
        "BIOSHARE_ZENODO_SANDBOX_URL": server.url,
        "BIOSHARE_CACHE_DIR": str(cache),
    }
    command = [sys.executable, __file__, "--worker", str(dataset)]
    before = server.cpu_seconds()
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        server.purge()
    if done.returncode != 0:
        raise RuntimeError(f"the bioshare worker failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["server_cpu"] = server.cpu_seconds() - before
    return result


def _instrument() -> dict[str, Any]:
    """Time ``files.prepare`` and every ``ApiClient.request``, behaviour unchanged."""
    from bioshare._http import ApiClient
    from bioshare.publishing import files

    seen: dict[str, Any] = {"pack": 0.0, "requests": []}
    prepare, request = files.prepare, ApiClient.request

    def timed_prepare(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return prepare(*args, **kwargs)
        finally:
            seen["pack"] += time.perf_counter() - started

    def timed_request(self: ApiClient, method: str, path: str, **kwargs: Any) -> Any:
        started, cpu = time.perf_counter(), time.process_time()
        try:
            return request(self, method, path, **kwargs)
        finally:
            seconds = time.perf_counter() - started
            seen["requests"].append((method, path, seconds, time.process_time() - cpu))

    files.prepare = timed_prepare  # type: ignore[assignment]
    ApiClient.request = timed_request  # type: ignore[method-assign]
    return seen


def _worker(dataset: Path) -> None:
    import bioshare
    from bioshare.metadata import Study

    seen = _instrument()
    study = Study(**STUDY)
    rss_before = _status_kib("VmRSS")
    cpu = os.times()
    started = time.perf_counter()
    publication = bioshare.publish(dataset, study, target="zenodo", token=TOKEN, progress=False)
    total = time.perf_counter() - started
    cpu_after = os.times()
    key = f"{dataset.name}.zip"
    puts = [r[2:] for r in seen["requests"] if r[0] == "PUT" and r[1].endswith(f"/{key}/content")]
    if not puts:
        raise SystemExit(f"no PUT of {key}'s content was seen: did the upload path change?")
    stored = {f.name: f for f in publication.files}
    result = {
        "total_seconds": total,
        "pack_seconds": seen["pack"],
        "upload_seconds": sum(seconds for seconds, _ in puts),
        "upload_cpu": sum(cpu for _, cpu in puts),
        "puts": len(puts),
        "requests": len(seen["requests"]),
        "request_seconds": sum(r[2] for r in seen["requests"]),
        "cpu_seconds": (cpu_after.user - cpu.user) + (cpu_after.system - cpu.system),
        "zip_bytes": stored[key].size,
        "zip_md5": stored[key].md5,
        "rss_before_kib": rss_before,
        "peak_rss_kib": _status_kib("VmHWM"),
    }
    print(json.dumps(result))


def _status_kib(field: str) -> int:
    """A field of /proc/self/status in KiB (peak RSS from getrusage where there is none)."""
    status = Path("/proc/self/status").read_text()
    if f"{field}:" in status:
        return int(status.split(f"{field}:")[1].split()[0])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# -- curl ------------------------------------------------------------------------------------


def run_curl(curl: str, server: FakeZenodo, zip_path: Path, md5: str) -> dict[str, Any]:
    """curl's PUT of ``zip_path`` into a fresh draft file entry, committed and checked."""
    import httpx

    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
        draft = _ok(client.post("/api/records", json={"metadata": {"title": "curl"}}))
        files = f"/api/records/{draft['id']}/draft/files"
        _ok(client.post(files, json=[{"key": "bench.zip"}]))
        before = server.cpu_seconds()
        seconds, wall, cpu = _curl_put(curl, f"{server.url}{files}/bench.zip/content", zip_path)
        server_cpu = server.cpu_seconds() - before
        entry = _ok(client.post(f"{files}/bench.zip/commit"))
        client.delete(f"/api/records/{draft['id']}/draft")
    server.purge()
    if entry.get("checksum") != f"md5:{md5}":
        raise RuntimeError(f"curl's upload was stored as {entry.get('checksum')}, not md5:{md5}")
    return {
        "upload_seconds": seconds,
        "wall_seconds": wall,
        "upload_cpu": cpu,
        "server_cpu": server_cpu,
    }


def _ok(response: Any) -> dict[str, Any]:
    response.raise_for_status()
    body = response.json()
    return body if isinstance(body, dict) else {"entries": body}


def _curl_put(curl: str, url: str, zip_path: Path) -> tuple[float, float, float]:
    """curl's own transfer time, the wall time and the CPU time of the curl process."""
    command = [
        curl,
        "--silent",
        "--show-error",
        "--fail",
        "--upload-file",
        str(zip_path),
        "-H",
        "Content-Type: application/octet-stream",
        "-H",
        f"Authorization: Bearer {TOKEN}",
        "-X",
        "PUT",
        "--output",
        os.devnull,
        "--write-out",
        "%{time_total}",
        url,
    ]
    started, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    wall, cpu = time.perf_counter() - started, _children_cpu() - cpu
    return float(done.stdout.strip()), wall, cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def background_cores(seconds: float = 0.5) -> float:
    """Cores kept busy by other work while this benchmark waits (from /proc/stat)."""
    first = _cpu_jiffies()
    time.sleep(seconds)
    busy, total = (b - a for a, b in zip(first, _cpu_jiffies(), strict=True))
    return (os.cpu_count() or 1) * busy / total if total else 0.0


def _cpu_jiffies() -> tuple[int, int]:
    """Busy and total jiffies of all CPUs so far."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = values[3] + values[4]  # idle + iowait
    return sum(values[:8]) - idle, sum(values[:8])


# -- one size --------------------------------------------------------------------------------


def run_size(
    gib: float, folder: Path, server: FakeZenodo, work: Path, curl: str | None, repeat: int
) -> dict[str, Any]:
    dataset = build_dataset(dataset_path(folder, gib), gib)
    data_bytes, data_files = folder_stats(dataset)
    ours: list[dict[str, Any]] = []
    theirs: list[dict[str, Any]] = []
    for run in range(repeat):
        _say(f"{gib:g} GiB, run {run + 1}/{repeat}: bioshare ...")
        busy = background_cores()
        ours.append(run_bioshare(server, dataset, work) | {"background_cores": busy})
        if curl:
            _say(f"{gib:g} GiB, run {run + 1}/{repeat}: curl ...")
            theirs.append(run_curl_packed(curl, server, dataset, work))
    return summarise(gib, data_bytes, data_files, ours, theirs)


def run_curl_packed(curl: str, server: FakeZenodo, dataset: Path, work: Path) -> dict[str, Any]:
    """Pack a fresh zip as `publish` does just before its upload, curl it, delete it."""
    from bioshare.publishing.package import zip_ome_zarr

    busy = background_cores()
    packed = zip_ome_zarr(dataset, work / f"{dataset.name}.zip")
    try:
        result = run_curl(curl, server, packed.path, packed.md5)
    finally:
        packed.path.unlink(missing_ok=True)
    return result | {"background_cores": busy, "zip_bytes": packed.size, "zip_md5": packed.md5}


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def summarise(
    gib: float,
    data_bytes: int,
    data_files: int,
    ours: list[dict[str, Any]],
    theirs: list[dict[str, Any]],
) -> dict[str, Any]:
    zip_bytes = ours[0]["zip_bytes"]
    mib = zip_bytes / MiB
    upload = min(r["upload_seconds"] for r in ours)
    pack = min(r["pack_seconds"] for r in ours)
    bioshare = {
        "upload_mib_s": mib / upload if upload else None,
        "pack_mib_s": mib / pack if pack else None,
        "total_seconds": min(r["total_seconds"] for r in ours),
        "peak_rss_mb": max(r["peak_rss_kib"] for r in ours) * 1024 / 1e6,
        "rss_before_mb": max(r["rss_before_kib"] for r in ours) * 1024 / 1e6,
        "cpu_per_upload_s": _cpu_per_second(ours),
        "same_bytes_as_curl": len({r["zip_md5"] for r in ours + theirs}) == 1,
        "runs": ours,
    }
    result: dict[str, Any] = {
        "size_gib": gib,
        "background_cores": max(r["background_cores"] for r in ours + theirs),
        "data_bytes": data_bytes,
        "data_files": data_files,
        "zip_bytes": zip_bytes,
        "bioshare": bioshare,
        "curl": None,
        "ratio": None,
    }
    if theirs:
        best = min(r["upload_seconds"] for r in theirs)
        result["curl"] = {
            "upload_mib_s": mib / best,
            "cpu_per_upload_s": _cpu_per_second(theirs),
            "runs": theirs,
        }
        result["ratio"] = bioshare["upload_mib_s"] / result["curl"]["upload_mib_s"]
    return result


def _cpu_per_second(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Client and server CPU seconds per upload second, in the fastest upload."""
    fastest = min(runs, key=lambda r: r["upload_seconds"])
    seconds = fastest["upload_seconds"] or float("inf")
    return {"client": fastest["upload_cpu"] / seconds, "server": fastest["server_cpu"] / seconds}


# -- report ----------------------------------------------------------------------------------


def print_table(results: list[dict[str, Any]]) -> None:
    print(
        f"\n{'size':>8} {'files':>6} {'zip MiB':>8} {'bioshare MiB/s':>15} {'curl MiB/s':>11} "
        f"{'ratio':>6} {'peak RSS MB':>12} {'packing MiB/s':>14} {'total s':>8}"
    )
    for row in results:
        ours, curl = row["bioshare"], row["curl"]
        print(
            f"{row['size_gib']:>4g} GiB {row['data_files']:>6} {row['zip_bytes'] / MiB:>8.0f} "
            f"{ours['upload_mib_s']:>15.0f} {_fmt(curl and curl['upload_mib_s'], 11, '.0f')} "
            f"{_fmt(row['ratio'], 6, '.2f')} {ours['peak_rss_mb']:>12.0f} "
            f"{ours['pack_mib_s']:>14.0f} {ours['total_seconds']:>8.1f}"
        )
    print("\nCPU s per upload s, client + server (fastest upload); RSS after imports; others")
    for row in results:
        ours, curl = row["bioshare"], row["curl"]
        cpu = f"bioshare {_cpu(ours)}" + (f", curl {_cpu(curl)}" if curl else "")
        print(
            f"{row['size_gib']:>4g} GiB: {cpu}; {ours['rss_before_mb']:.0f} MB; "
            f"other work up to {row['background_cores']:.1f} cores; "
            f"{'same zip md5' if ours['same_bytes_as_curl'] else 'zip md5 DIFFERS'}"
        )


def _cpu(side: dict[str, Any]) -> str:
    return f"{side['cpu_per_upload_s']['client']:.2f} + {side['cpu_per_upload_s']['server']:.2f}"


def _fmt(value: float | None, width: int, spec: str) -> str:
    return f"{value:>{width}{spec}}" if value is not None else f"{'-':>{width}}"


def check_targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    checks = []
    for row in results:
        size, ours = f"{row['size_gib']:g} GiB", row["bioshare"]
        if row["ratio"] is not None:
            checks.append(
                _check(
                    row["ratio"] >= RATIO_TARGET,
                    f"{size}: bioshare uploads at {ours['upload_mib_s']:.0f} MiB/s, "
                    f"{row['ratio']:.2f}x curl's {row['curl']['upload_mib_s']:.0f} MiB/s; "
                    f"target >= {RATIO_TARGET:.2f}x",
                )
            )
        checks.append(
            _check(
                ours["peak_rss_mb"] < RSS_TARGET_MB,
                f"{size}: bioshare.publish peak RSS {ours['peak_rss_mb']:.0f} MB; "
                f"target < {RSS_TARGET_MB:.0f} MB",
            )
        )
    return checks


def _check(ok: bool, text: str) -> dict[str, Any]:
    return {"ok": bool(ok), "text": text}


# -- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="sizes 0.05 and 0.2 GiB")
    parser.add_argument("--sizes", help="dataset sizes in GiB, comma-separated (0.5,2)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement (2)")
    parser.add_argument("--data", type=Path, default=HERE / ".data")
    parser.add_argument(
        "--json", nargs="?", const="-", metavar="PATH", help="print JSON (or write it to PATH)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        _worker(args.worker)
        return 0
    sizes = [float(s) for s in (args.sizes or ("0.05,0.2" if args.small else "0.5,2")).split(",")]
    args.data.mkdir(parents=True, exist_ok=True)
    curl = shutil.which("curl")
    results, skipped = measure_all(sizes, args.data, curl, args.repeat)
    if curl is None:
        skipped.append("curl not found: the curl baseline is skipped (Debian package: curl)")
    checks = check_targets(results)
    document = {"sizes": results, "skipped": skipped, "targets": checks}
    if args.json and args.json != "-":
        Path(args.json).write_text(json.dumps(document, indent=2))
    if args.json == "-":
        print(json.dumps(document, indent=2))
    else:
        report(results, skipped, checks)
    missed = any(not c["ok"] for c in checks)
    return 1 if args.strict and missed else 0


def measure_all(
    sizes: list[float], folder: Path, curl: str | None, repeat: int
) -> tuple[list[dict[str, Any]], list[str]]:
    results: list[dict[str, Any]] = []
    skipped: list[str] = []
    work = Path(tempfile.mkdtemp(dir=folder, prefix=".publish-work-"))
    server = FakeZenodo(work / "store")
    try:
        for gib in sizes:
            fits, text = room_for(folder, gib)
            if not fits:
                skipped.append(f"skipped: {text}")
                continue
            results.append(run_size(gib, folder, server, work, curl, repeat))
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return results, skipped


def report(results: list[dict[str, Any]], skipped: list[str], checks: list[dict[str, Any]]) -> None:
    if results:
        print_table(results)
    busy = max((r["background_cores"] for r in results), default=0.0)
    if busy >= BUSY:
        print(
            f"NOTE: other work kept up to {busy:.1f} of {os.cpu_count()} cores busy just "
            "before a run: figures are noisy; rerun with a larger --repeat"
        )
    for line in skipped:
        print(line)
    print()
    for check in checks:
        print(f"{'PASS' if check['ok'] else 'MISS'}  {check['text']}")


if __name__ == "__main__":
    sys.exit(main())
