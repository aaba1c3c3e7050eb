"""Federated search and the offline index: how long one query takes.

Federated search
----------------
Five fake repositories from ``tests/fakes`` (IDR, BIA, Zenodo, EMPIAR, SSBD) run on
127.0.0.1, each answering every request 150 ms late (``--latency``); one of them (``--hang``,
SSBD by default) never answers at all. Every adapter is built alike (``timeout=30,
retries=2, backoff=0.05``); only the federated call has a ``--timeout`` (2 s).

- alone: each healthy adapter's own ``asearch`` for the query, p50 over ``--repeat`` runs.
- healthy: `bioshare.catalog.search.asearch` over the healthy four; its p50 against the
  slowest one alone (target <= 1.3).
- with a hang: the same over all five; the call should cost no more than its timeout
  (target <= timeout + 0.25 s) and ``results.errors`` names the hanging repository with
  "no answer within". Its ratio to the slowest healthy one is shown, bounded by the timeout.

Adapters open a fresh HTTP client per request and cache nothing, so every run is cold at
the HTTP level; each run is one ``asyncio.run``, as `bioshare.search` does. The fakes run in
threads of this process; their latency is an ``asyncio.sleep`` and costs no CPU.

Offline index
-------------
``--records`` synthetic records (100,000; 10,000 with ``--small``) from five repositories,
with titles, descriptions and keywords drawn from a vocabulary of a few thousand words with
Zipf-like frequencies (numpy, fixed seed), organisms and imaging methods as ontology terms,
are added to a `RecordIndex` in a temporary folder, one ``add`` per repository as a harvest
does (target: build < 60 s). Then three classes of queries, each query ``--repeat`` times:
rare words, two common words, and each of the 50 most frequent words. Every query is timed
as ``bioshare.search(query, offline=True)`` runs it: a fresh ``RecordIndex(path)`` and its
``search(query, repositories=<all five>, limit=20, offset=0)``; p50 and p95 over all runs of
a class (target p50 < 50 ms per class). The search alone, on an index kept open, is shown too.

Run ``.venv/bin/python benchmarks/search.py [--small]``; ``--json`` prints one JSON object
instead of the table (``--json out.json`` writes it there as well); ``--strict`` exits 1
when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))

from fakes.federation import public_fakes  # noqa: E402
from fakes.service import FakeService  # noqa: E402

from bioshare.catalog.index import RecordIndex  # noqa: E402
from bioshare.catalog.search import SearchResults, asearch  # noqa: E402
from bioshare.repositories.base import DatasetRecord, Repository, Term  # noqa: E402
from bioshare.repositories.registry import get_repository  # noqa: E402
from bioshare.repositories.terms import imaging_method_term, organism_term  # noqa: E402

REPOSITORIES = ("idr", "bia", "zenodo", "empiar", "ssbd")
NETWORK: dict[str, Any] = {"timeout": 30.0, "retries": 2, "backoff": 0.05}
SLACK = 0.25  # seconds a hanging repository may cost beyond the timeout
RATIO_TARGET = 1.3
BUILD_TARGET = 60.0
QUERY_TARGET_MS = 50.0
SEED = 20240611


# -- federated search ------------------------------------------------------------------------


def make_adapters(env: dict[str, str]) -> dict[str, Repository]:
    """One adapter per fake (``env`` points bioshare at them), with the same ``NETWORK``."""
    os.environ.update(env)
    return {name: get_repository(name, **NETWORK) for name in REPOSITORIES}


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = action()
    return time.perf_counter() - started, value


def measure_alone(
    adapter: Repository, fake: FakeService, query: str, repeat: int
) -> dict[str, Any]:
    """p50 of one adapter's own search, its requests per search and records found."""
    asyncio.run(adapter.asearch(query, limit=20))  # warm-up: imports and first calls
    fake.clear_log()
    samples, found = [], 0
    for _ in range(repeat):
        seconds, records = timed(lambda: asyncio.run(adapter.asearch(query, limit=20)))
        samples.append(seconds)
        found = len(records)
    return {"p50": statistics.median(samples), "requests": len(fake.log) / repeat, "records": found}


def measure_federated(
    adapters: list[Repository], query: str, timeout: float, repeat: int
) -> dict[str, Any]:
    """p50 of `asearch` over ``adapters``, with the statuses of the last run."""
    samples: list[float] = []
    results: SearchResults | None = None
    for _ in range(repeat):
        seconds, results = timed(
            lambda: asyncio.run(asearch(query, repositories=adapters, timeout=timeout))
        )
        samples.append(seconds)
    assert results is not None
    return {
        "p50": statistics.median(samples),
        "max": max(samples),
        "records": len(results),
        "statuses": [
            {"repository": s.repository, "ok": s.ok, "count": s.count, "error": s.error}
            for s in results.statuses
        ],
    }


def run_federated(
    query: str, latency: float, timeout: float, hang: str | None, repeat: int
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, public_fakes(Path(tmp)) as federation:
        fakes = federation.fakes
        adapters = make_adapters(federation.env)
        for fake in fakes.values():
            fake.inject("latency", seconds=latency)
        healthy = [name for name in REPOSITORIES if name != hang]
        alone = {
            name: measure_alone(adapters[name], fakes[name], query, repeat) for name in healthy
        }
        both = measure_federated([adapters[n] for n in healthy], query, timeout, repeat)
        hanging = None
        if hang:
            fakes[hang].inject("hang")
            everyone = [adapters[n] for n in REPOSITORIES]
            hanging = measure_federated(everyone, query, timeout, repeat)
    slowest = max(alone, key=lambda name: alone[name]["p50"])
    return {
        "query": query,
        "latency": latency,
        "timeout": timeout,
        "hang": hang,
        "alone": alone,
        "slowest": slowest,
        "healthy": both,
        "with_hang": hanging,
    }


# -- offline index ---------------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FUNCTION_WORDS = _words("of the and in a for by with from to on at as")
DOMAIN_WORDS = _words("""
cells imaging microscopy cell nuclei tissue live time-lapse fluorescence segmentation data
images dataset embryo mitosis membrane protein expression confocal screen high-content
development structure volume organelle mitochondria actin tubulin chromatin nuclear
cytoskeleton division migration neurons brain cortex retina heart muscle liver kidney
organoid spheroid stem differentiation signalling receptor kinase knockdown rnai crispr
phenotype morphology dynamics tracking annotation ground-truth training benchmark deep
learning atlas whole-mount cleared expansion super-resolution electron tomography cryo
serial-section reconstruction 3d 4d multiplexed antibody staining label marker gfp
""")
SYLLABLES = _words("""
ba be bi bo bu ca ce ci co cu da de di do du fa fe fi fo ga ge gi go ka ke ki ko la le li
lo lu ma me mi mo mu na ne ni no nu pa pe pi po pu ra re ri ro ru sa se si so su ta te ti
to tu va ve vi vo za ze zi zo rin tan lex mor phy gen sin tox pol
""")
ORGANISMS = (
    "human",
    "mouse",
    "zebrafish",
    "C. elegans",
    "yeast",
    "Drosophila melanogaster",
    "Arabidopsis thaliana",
    "Escherichia coli",
)
METHODS = (
    "confocal microscopy",
    "fluorescence microscopy",
    "light sheet fluorescence microscopy",
    "electron microscopy",
    "bright-field microscopy",
    "scanning electron microscopy",
    "two-photon laser scanning microscopy",
)
LICENSES = ("CC-BY-4.0", "CC0-1.0", "CC-BY-SA-4.0", "CC-BY-NC-4.0")


def vocabulary(size: int, rng: np.random.Generator) -> list[str]:
    """Function and domain words first (the most frequent), then made-up words."""
    words = list(dict.fromkeys((*FUNCTION_WORDS, *DOMAIN_WORDS)))
    seen = set(words)
    while len(words) < size:
        word = "".join(rng.choice(SYLLABLES, size=int(rng.integers(2, 5))))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def zipf_weights(size: int, exponent: float = 1.07) -> np.ndarray:
    weights = 1.0 / np.arange(1, size + 1) ** exponent
    return weights / weights.sum()


def synthetic_records(
    count: int, words: list[str], rng: np.random.Generator
) -> Iterator[DatasetRecord]:
    """``count`` records spread over the five repositories, round robin."""
    organisms = [organism_term(name) for name in ORGANISMS]
    methods = [imaging_method_term(name) for name in METHODS]
    weights = zipf_weights(len(words))
    title_len = rng.integers(5, 13, count)
    text_len = rng.integers(25, 90, count)
    drawn = rng.choice(len(words), size=int((title_len + text_len).sum() + 3 * count), p=weights)
    position = 0
    for i in range(count):
        size = int(title_len[i] + text_len[i] + 3)
        chunk = [words[k] for k in drawn[position : position + size]]
        position += size
        yield make_record(i, chunk, int(title_len[i]), rng, organisms, methods)


def make_record(
    i: int,
    chunk: list[str],
    title_len: int,
    rng: np.random.Generator,
    organisms: list[Term],
    methods: list[Term],
) -> DatasetRecord:
    repository = REPOSITORIES[i % len(REPOSITORIES)]
    picked = rng.choice(len(organisms), size=int(rng.integers(1, 3)), replace=False)
    return DatasetRecord(
        repository=repository,
        id=f"{repository}-{i:07d}",
        title=" ".join(chunk[:title_len]).capitalize(),
        description=" ".join(chunk[title_len:-3]).capitalize() + ".",
        url=f"https://example.org/{repository}/{i}",
        doi=f"10.5555/{repository}.{i}" if i % 3 == 0 else None,
        license=LICENSES[i % len(LICENSES)],
        authors=(f"Author {i % 997}", f"Author {i % 389}"),
        release_date=f"{2010 + i % 15}-{1 + i % 12:02d}-{1 + i % 28:02d}",
        organisms=tuple(organisms[k] for k in picked),
        imaging_methods=(methods[int(rng.integers(len(methods)))],),
        keywords=tuple(chunk[-3:]),
        image_count=int(rng.integers(1, 5000)),
        has_ome_zarr=bool(i % 4 == 0),
    )


def build_index(path: Path, records: list[DatasetRecord]) -> float:
    """Seconds to create the index and add the records, one ``add`` per repository."""
    started = time.perf_counter()
    with RecordIndex(path) as index:
        for name in REPOSITORIES:
            index.add(r for r in records if r.repository == name)
    return time.perf_counter() - started


def query_classes(
    words: list[str], counts: np.ndarray, rng: np.random.Generator
) -> dict[str, list[str]]:
    """Rare words (among the 200 least frequent that occur), pairs of top-50 words, top 50."""
    order = np.argsort(-counts, kind="stable")
    top = [words[k] for k in order[:50]]
    occurring = [k for k in order[::-1] if counts[k] > 0][:200]
    rare = [words[k] for k in rng.choice(occurring, size=min(20, len(occurring)), replace=False)]
    pairs = [" ".join(rng.choice(top, size=2, replace=False)) for _ in range(20)]
    return {"rare words": rare, "two common words": pairs, "top-50 words": top}


def offline_search(path: Path, query: str) -> int:
    """One query as ``bioshare.search(query, offline=True)`` runs it: a fresh index."""
    index = RecordIndex(path)
    try:
        total, _ = index.search(query, repositories=list(REPOSITORIES), limit=20, offset=0)
    finally:
        index.close()
    return total


def measure_class(path: Path, queries: list[str], repeat: int) -> dict[str, Any]:
    samples, open_samples, totals = [], [], []
    with RecordIndex(path) as kept_open:
        for query in queries:
            totals.append(offline_search(path, query))  # warm-up: pages into the OS cache
            for _ in range(repeat):
                samples.append(timed(lambda q=query: offline_search(path, q))[0])
                open_samples.append(
                    timed(lambda q=query: kept_open.search(q, repositories=list(REPOSITORIES)))[0]
                )
    return {
        "queries": len(queries),
        "examples": queries[:3],
        "matches_p50": statistics.median(totals),
        "p50_ms": 1000 * float(np.percentile(samples, 50)),
        "p95_ms": 1000 * float(np.percentile(samples, 95)),
        "open_index_p50_ms": 1000 * float(np.percentile(open_samples, 50)),
    }


def run_index(count: int, repeat: int) -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    words = vocabulary(4000, rng)
    print(f"generating {count:,} records ...", file=sys.stderr, flush=True)
    records = list(synthetic_records(count, words, rng))
    counts = word_counts(records, words)
    with tempfile.TemporaryDirectory(prefix="bioshare-bench-") as folder:
        path = Path(folder) / "index.sqlite"
        print("building the index ...", file=sys.stderr, flush=True)
        build = build_index(path, records)
        size = path.stat().st_size
        del records
        classes = {
            name: measure_class(path, queries, repeat)
            for name, queries in query_classes(words, counts, rng).items()
        }
    return {
        "records": count,
        "vocabulary": len(words),
        "build_seconds": build,
        "db_mb": size / 2**20,
        "classes": classes,
    }


def word_counts(records: list[DatasetRecord], words: list[str]) -> np.ndarray:
    """In how many records each word occurs (title, description or keywords)."""
    where = {word: k for k, word in enumerate(words)}
    counts = np.zeros(len(words), dtype=np.int64)
    for record in records:
        text = f"{record.title} {record.description} {' '.join(record.keywords)}"
        seen = {where[w] for w in text.casefold().replace(".", " ").split() if w in where}
        counts[list(seen)] += 1
    return counts


# -- report ----------------------------------------------------------------------------------


def print_federated(fed: dict[str, Any]) -> None:
    print(
        f"\n== federated search for {fed['query']!r}: {fed['latency'] * 1000:.0f} ms per "
        f"request, timeout {fed['timeout']:g} s =="
    )
    print(f"{'repository':12} {'requests':>8} {'records':>7} {'p50 alone (s)':>14}")
    for name, row in fed["alone"].items():
        print(f"{name:12} {row['requests']:>8.0f} {row['records']:>7} {row['p50']:>14.3f}")
    slowest = fed["alone"][fed["slowest"]]["p50"]
    print(f"slowest healthy: {fed['slowest']} {slowest:.3f} s")
    rows = [(f"federated, {len(fed['alone'])} healthy", fed["healthy"])]
    if fed["with_hang"]:
        rows.append((f"federated, 5 ({fed['hang']} hangs)", fed["with_hang"]))
    for label, row in rows:
        print(
            f"{label:28} p50 {row['p50']:.3f} s  max {row['max']:.3f} s  "
            f"{row['p50'] / slowest:.2f}x slowest  {row['records']} records"
        )
    for status in (fed["with_hang"] or fed["healthy"])["statuses"]:
        if not status["ok"]:
            print(f"  {status['repository']}: failed ({status['error']})")


def print_index(idx: dict[str, Any]) -> None:
    print(
        f"\n== offline index: {idx['records']:,} records, {idx['vocabulary']:,} words, "
        f"{idx['db_mb']:.0f} MB =="
    )
    print(f"build {idx['build_seconds']:.1f} s")
    print(
        f"{'query class':18} {'queries':>7} {'matches':>8} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'open-index p50 ms':>18}  examples"
    )
    for name, row in idx["classes"].items():
        print(
            f"{name:18} {row['queries']:>7} {row['matches_p50']:>8.0f} {row['p50_ms']:>8.1f} "
            f"{row['p95_ms']:>8.1f} {row['open_index_p50_ms']:>18.1f}  "
            f"{', '.join(row['examples'])}"
        )


def check_targets(fed: dict[str, Any] | None, idx: dict[str, Any] | None) -> list[dict[str, Any]]:
    checks = []
    if fed:
        checks += federated_checks(fed)
    if idx:
        checks.append(
            _check(
                idx["build_seconds"] < BUILD_TARGET,
                f"index of {idx['records']:,} records built in {idx['build_seconds']:.1f} s; "
                f"target < {BUILD_TARGET:.0f} s",
            )
        )
        for name, row in idx["classes"].items():
            checks.append(
                _check(
                    row["p50_ms"] < QUERY_TARGET_MS,
                    f"offline query, {name}: p50 {row['p50_ms']:.1f} ms "
                    f"(p95 {row['p95_ms']:.1f}); target p50 < {QUERY_TARGET_MS:.0f} ms",
                )
            )
    return checks


def federated_checks(fed: dict[str, Any]) -> list[dict[str, Any]]:
    slowest = fed["alone"][fed["slowest"]]["p50"]
    ratio = fed["healthy"]["p50"] / slowest
    checks = [
        _check(
            ratio <= RATIO_TARGET,
            f"federated over the healthy {len(fed['alone'])}: {ratio:.2f}x the slowest alone "
            f"({fed['slowest']}); target <= {RATIO_TARGET}x",
        )
    ]
    hanging = fed["with_hang"]
    if hanging:
        limit = fed["timeout"] + SLACK
        checks.append(
            _check(
                hanging["max"] <= limit,
                f"with {fed['hang']} hanging: p50 {hanging['p50']:.3f} s, max "
                f"{hanging['max']:.3f} s; target <= timeout + {SLACK} = {limit:.2f} s",
            )
        )
        failed = {s["repository"]: s for s in hanging["statuses"] if not s["ok"]}
        named = set(failed) == {fed["hang"]} and "no answer within" in (
            failed[fed["hang"]]["error"] or ""
        )
        errors = "; ".join(f"{name}: {s['error']}" for name, s in failed.items()) or "none"
        checks.append(
            _check(named, f"errors name only {fed['hang']} with 'no answer within': {errors}")
        )
    return checks


def _check(ok: bool, text: str) -> dict[str, Any]:
    return {"ok": bool(ok), "text": text}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="10,000 records, 3 runs")
    parser.add_argument("--repeat", type=int, help="runs per measurement (7; 3 with --small)")
    parser.add_argument("--records", type=int, help="index size (100,000; 10,000 with --small)")
    parser.add_argument("--query", default="cell", help="federated query (every fake has hits)")
    parser.add_argument("--latency", type=float, default=0.15, help="seconds per request")
    parser.add_argument("--timeout", type=float, default=2.0, help="federated timeout, seconds")
    parser.add_argument("--hang", default="ssbd", choices=[*REPOSITORIES, "none"])
    parser.add_argument("--only", choices=["federated", "index"], help="run one part only")
    parser.add_argument(
        "--json", nargs="?", const="-", metavar="PATH", help="print JSON (or write it to PATH)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    repeat = args.repeat or (3 if args.small else 7)
    count = args.records or (10_000 if args.small else 100_000)
    hang = None if args.hang == "none" else args.hang

    fed = idx = None
    if args.only in (None, "federated"):
        print("federated search ...", file=sys.stderr, flush=True)
        fed = run_federated(args.query, args.latency, args.timeout, hang, repeat)
    if args.only in (None, "index"):
        idx = run_index(count, repeat)
    checks = check_targets(fed, idx)
    document = {"federated": fed, "index": idx, "targets": checks}
    if args.json and args.json != "-":
        Path(args.json).write_text(json.dumps(document, indent=2))
    if args.json == "-":
        print(json.dumps(document, indent=2))
    else:
        report(fed, idx, checks)
    missed = any(not c["ok"] for c in checks)
    return 1 if args.strict and missed else 0


def report(
    fed: dict[str, Any] | None, idx: dict[str, Any] | None, checks: list[dict[str, Any]]
) -> None:
    if fed:
        print_federated(fed)
    if idx:
        print_index(idx)
    print()
    for check in checks:
        print(f"{'PASS' if check['ok'] else 'MISS'}  {check['text']}")


if __name__ == "__main__":
    sys.exit(main())
