"""Course data: built deterministically, fetched from a mirror over HTTP, checked by sha256."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import bioshare
from bioshare.cli import main
from bioshare.datasets import (
    COURSE_DATASETS,
    CourseDataError,
    build_course_mirror,
    course_dir,
    course_path,
    course_registry,
    fetch_course,
)
from bioshare.errors import RemoteAccessError
from bioshare.server import BackgroundServer


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty cache per test: what one test fetched must not hide another's download."""
    monkeypatch.setenv("BIOSHARE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("BIOSHARE_DATA_MIRROR", raising=False)
    monkeypatch.delenv("BIOSHARE_OFFLINE", raising=False)


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mirror")
    assert main(["fetch", "course", "--build-mirror", str(folder)]) == 0
    return folder


@pytest.fixture
def served(mirror: Path, tmp_path: Path) -> Iterator[tuple[Path, BackgroundServer]]:
    """A copy of the mirror served over HTTP (tests may corrupt the copy)."""
    copy = tmp_path / "served"
    shutil.copytree(mirror, copy)
    with BackgroundServer(copy) as server:
        yield copy, server


def test_registry_lists_every_course_dataset() -> None:
    registry = course_registry()
    assert set(registry) == set(COURSE_DATASETS)
    assert all(len(digest) == 64 and int(digest, 16) >= 0 for digest in registry.values())


@pytest.mark.slow
def test_built_mirror_matches_the_registry(mirror: Path) -> None:
    registry = course_registry()
    assert sorted(p.name for p in mirror.iterdir()) == sorted(registry)
    for name, digest in registry.items():
        assert _sha256(mirror / name) == digest, name
    # and a second build writes the same bytes
    again = build_course_mirror(mirror.parent / "again")
    assert {n: _sha256(p) for n, p in again.items()} == registry


@pytest.mark.slow
def test_fetch_from_a_mirror_then_offline(
    served: tuple[Path, BackgroundServer], monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    _, server = served
    monkeypatch.setenv("BIOSHARE_DATA_MIRROR", server.url)
    assert main(["fetch", "course"]) == 0
    out = capsys.readouterr().out
    assert all(f"{name}: downloaded from {server.url}" in out for name in COURSE_DATASETS)
    registry = course_registry()
    for name, digest in registry.items():
        assert _sha256(course_dir() / name) == digest
    server.stop()

    # the mirror is gone: everything still opens from the cache, without the network
    monkeypatch.setenv("BIOSHARE_OFFLINE", "1")
    assert main(["fetch", "course"]) == 0
    assert "mitosis.ome.zarr.zip: cached" in capsys.readouterr().out
    image = bioshare.open_image(course_path("mitosis"))
    assert dict(image.sizes) == {"t": 4, "c": 2, "z": 16, "y": 256, "x": 256}
    assert list(image.c.values) == ["Nuclei", "Membrane"]
    assert int(image.isel(t=0, c=0, z=8).max()) > 0
    assert sorted(bioshare.open_plate(course_path("plate.ome.zarr.zip")).children) == ["A", "B"]


@pytest.mark.slow
def test_a_corrupt_mirror_file_is_refused(
    served: tuple[Path, BackgroundServer], monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    copy, server = served
    target = copy / "cells.ome.zarr.zip"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    digest = course_registry()["cells.ome.zarr.zip"]
    with pytest.raises(CourseDataError) as caught:
        fetch_course(server.url)
    message = str(caught.value)
    assert "cells.ome.zarr.zip" in message
    assert digest in message
    assert not (course_dir() / "cells.ome.zarr.zip").exists()  # nothing corrupt is kept
    # the CLI says the same in one line
    monkeypatch.setenv("BIOSHARE_DATA_MIRROR", server.url)
    assert main(["fetch", "course"]) == 1
    assert "cells.ome.zarr.zip" in capsys.readouterr().err


@pytest.mark.slow  # pooch retries twice, 1 s and 2 s apart
def test_a_mirror_without_the_files_names_the_url(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with BackgroundServer(tmp_path / "empty") as server:
        with pytest.raises(RemoteAccessError) as caught:
            fetch_course(server.url)
        assert f"{server.url}/" in str(caught.value)
    assert ".ome.zarr.zip" in str(caught.value)


def test_offline_without_a_cache_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIOSHARE_OFFLINE", "1")
    with pytest.raises(CourseDataError, match="bioshare fetch course"):
        fetch_course()


@pytest.mark.slow
def test_without_a_mirror_the_files_are_built_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BIOSHARE_DATA_MIRROR", raising=False)
    lines: list[str] = []
    files = fetch_course(log=lines.append)
    assert all(line.split(":")[0] in COURSE_DATASETS and "built here" in line for line in lines)
    registry = course_registry()
    assert {name: _sha256(path) for name, path in files.items()} == registry
    # a damaged cached file is noticed and replaced
    damaged = files["ihc.ome.zarr.zip"]
    damaged.write_bytes(b"not a zip")
    assert _sha256(course_path("ihc")) == registry["ihc.ome.zarr.zip"]
