"""Intake 2 catalogs: curated ones, OME-Zarr readers end to end, repository-backed catalogs.

The curated IDR and BIA entries are loaded and inspected, never read: reading them would
leave the machine. Everything that is read comes from a local server of the demo data.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import intake
import numpy as np
import pytest
import xarray as xr
import yaml
from intake.readers.entry import Catalog

import bioshare
from bioshare.catalog.catalogs import (
    CURATED_CATALOGS,
    CatalogError,
    catalog_path,
    open_catalog,
    search_catalog,
)
from bioshare.catalog.readers import (
    OMEZarr,
    OMEZarrReader,
    OMEZarrTreeReader,
    RepositoryCatalogReader,
    RepositoryQuery,
    image_reader,
)
from bioshare.demo import build_demo
from bioshare.repositories import DatasetRecord, ImageRef, Repository, RepositoryError
from bioshare.server import BackgroundServer

CURATED = sorted(CURATED_CATALOGS)
READER_OUTPUTS = {
    "bioshare.catalog.readers:OMEZarrReader": "xarray:DataArray",
    "bioshare.catalog.readers:OMEZarrTreeReader": "xarray:DataTree",
}
PUBLIC_HOST = "https://livingobjects.ebi.ac.uk/"


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("catalog-demo")
    build_demo(root)
    return root


@pytest.fixture(scope="module")
def server(demo_root: Path) -> Iterator[BackgroundServer]:
    with BackgroundServer(demo_root) as running:
        yield running


@pytest.fixture
def demo(server: BackgroundServer) -> Catalog:
    return open_catalog("demo", base_url=server.url)


# -- curated catalogs ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", CURATED)
def test_curated_catalog_opens_by_name(name: str) -> None:
    cat = open_catalog(name)
    assert isinstance(cat, Catalog)
    assert cat.metadata["name"] == name
    assert cat.metadata["description"]
    assert sorted(cat) == sorted(cat.entries), "every entry has an alias of its own name"
    assert len(cat) >= 2


@pytest.mark.parametrize("name", CURATED)
def test_curated_catalog_opens_by_path(name: str) -> None:
    by_name = open_catalog(name)
    for path in (catalog_path(name), str(catalog_path(name))):
        by_path = open_catalog(path)
        assert by_path.to_dict()["entries"] == by_name.to_dict()["entries"]
        assert by_path.user_parameters["CATALOG_PATH"] == str(catalog_path(name))


@pytest.mark.parametrize("name", CURATED)
def test_every_entry_is_described_and_instantiates(name: str) -> None:
    cat = open_catalog(name)
    for entry in cat:
        description = cat.entries[entry]
        assert READER_OUTPUTS[description.reader] == description.output_instance
        meta = description.metadata
        assert meta["title"], entry
        assert len(meta["description"]) > 40, entry
        assert "shape" in meta or "sizes" in meta or "field_shape" in meta, entry
        reader = cat[entry]  # builds data and reader objects; reads nothing
        assert isinstance(reader, OMEZarrReader | OMEZarrTreeReader)
        assert isinstance(reader.data, OMEZarr)
        assert reader.metadata["title"] == meta["title"]


def test_idr_catalog_documents_the_samples() -> None:
    cat = open_catalog("idr")
    image = cat.entries["idr0062A_6001240_v04"].metadata
    assert image["dims"] == ["c", "z", "y", "x"]
    assert image["shape"] == [2, 236, 275, 271]
    assert image["levels"][-1] == [2, 236, 68, 67]
    assert image["pixel_size"] == {"z": 0.5002, "y": 0.3604, "x": 0.3604, "unit": "micrometer"}
    assert image["license"] == "CC-BY-4.0"
    assert image["study"] == "idr0062"
    versions = {cat.entries[e].metadata["ngff_version"] for e in cat}
    assert versions == {"0.4", "0.5"}
    kinds = {cat.entries[e].metadata["kind"] for e in cat}
    assert kinds == {"image", "plate", "labels", "bioformats2raw"}
    plate = cat["idr0001A_2551_plate"]
    assert isinstance(plate, OMEZarrTreeReader)
    assert plate.kwargs["kind"] == "plate"
    assert cat.entries["idr0001A_2551_plate"].metadata["wells"] == 96
    assert cat["idr0090_190129_plate"].metadata["ngff_version"] == "0.5"
    labels = cat["idr0052A_5514375_labels"]
    assert labels.data.source.endswith("/idr0052A/5514375.zarr/labels")
    assert cat.entries["idr0052A_5514375"].metadata["labels"] == ["Cell", "Chromosomes"]


@pytest.mark.parametrize("name", ["idr", "bia"])
def test_public_entries_point_at_the_public_host(name: str) -> None:
    cat = open_catalog(name)
    for entry in cat:
        assert cat[entry].data.url.startswith(PUBLIC_HOST), entry


def test_bia_catalog_points_at_series_zero() -> None:
    cat = open_catalog("bia")
    assert cat["S_BIAD634_nuclei"].data.url.endswith(".ome.zarr/0")
    assert cat.entries["S_BIAD634_nuclei"].metadata["sizes"] == {"c": 1, "y": 763, "x": 1014}
    assert cat.entries["S_BIAD1556_3d"].metadata["study"] == "S-BIAD1556"


def test_course_catalog_mixes_public_and_demo_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIOSHARE_LOCAL_URL", "http://127.0.0.1:9999/")
    cat = open_catalog("course")
    offline = [e for e in cat if not cat.entries[e].metadata["needs_internet"]]
    online = [e for e in cat if cat.entries[e].metadata["needs_internet"]]
    assert offline
    assert online
    for entry in offline:
        assert cat[entry].data.url.startswith("http://127.0.0.1:9999/v0.5/"), entry
    for entry in online:
        assert cat[entry].data.url.startswith(PUBLIC_HOST), entry
        assert cat.entries[entry].metadata["teaches"]


# -- base_url -----------------------------------------------------------------------------------


def test_demo_base_url_defaults_to_the_local_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BIOSHARE_LOCAL_URL", raising=False)
    assert open_catalog("demo")["cells_v05"].data.url == (
        "http://127.0.0.1:8765/v0.5/cells.ome.zarr"
    )
    monkeypatch.setenv("BIOSHARE_LOCAL_URL", "http://127.0.0.1:4321")
    assert open_catalog("demo")["ihc_v04"].data.url == "http://127.0.0.1:4321/v0.4/ihc.ome.zarr"


def test_explicit_base_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIOSHARE_LOCAL_URL", "http://127.0.0.1:4321")
    cat = open_catalog("demo", base_url="http://127.0.0.1:5555/data/")
    assert cat["plate_v05"].data.url == "http://127.0.0.1:5555/data/v0.5/plate.ome.zarr"


def test_base_url_needs_a_catalog_that_declares_it() -> None:
    with pytest.raises(CatalogError, match="has no base_url parameter"):
        open_catalog("idr", base_url="http://127.0.0.1:1")


def test_demo_yaml_has_no_env_template() -> None:
    assert "env(" not in catalog_path("demo").read_text()


# -- reading through Intake ---------------------------------------------------------------------


@pytest.mark.parametrize("version", ["04", "05"])
def test_demo_entry_reads_into_a_data_array(
    demo: Catalog, server: BackgroundServer, version: str
) -> None:
    reader = demo[f"cells_v{version}"]
    image = reader.read()
    assert isinstance(image, xr.DataArray)
    assert image.dims == ("y", "x")
    assert image.shape == (660, 550)
    direct = bioshare.open_image(f"{server.url}/v0.{version[1]}/cells.ome.zarr")
    np.testing.assert_array_equal(image.values, direct.values)
    assert image.attrs["ngff_version"] == f"0.{version[1]}"


def test_reader_options_pass_through(demo: Catalog) -> None:
    mitosis = demo["mitosis_v05"]
    assert mitosis.read(level=2).sizes["x"] == 64
    labels = mitosis.read(label="nuclei")
    assert labels.dims == ("t", "z", "y", "x")
    assert int(labels.isel(t=0).max()) > 0
    chunked = mitosis.read(chunks="auto")
    assert chunked.chunks is not None


def test_demo_entry_reads_into_a_data_tree(demo: Catalog) -> None:
    tree = demo["mitosis_v04"].to_reader("xarray:DataTree").read()
    assert isinstance(tree, xr.DataTree)
    assert list(tree.children) == ["0", "1", "2"]
    with_labels = demo["mitosis_v04"].to_reader("xarray:DataTree").read(kind="image", labels=True)
    assert "nuclei" in with_labels["labels"].children


@pytest.mark.parametrize("version", ["04", "05"])
def test_demo_plate_reads_into_a_data_tree(demo: Catalog, version: str) -> None:
    plate = demo[f"plate_v{version}"].read()
    assert isinstance(plate, xr.DataTree)
    assert plate["A/1/0/image"].shape == (2, 128, 128)
    wells = demo[f"plate_v{version}"].read(wells=["B/3"])
    assert list(wells.children) == ["B"]


def test_tree_reader_rejects_an_unknown_kind(demo: Catalog) -> None:
    with pytest.raises(ValueError, match="kind='well' is not a kind"):
        demo["mitosis_v05"].to_reader("xarray:DataTree").read(kind="well")


def test_intake_finds_the_readers_for_the_data_type(server: BackgroundServer) -> None:
    data = OMEZarr(f"{server.url}/v0.5/ihc.ome.zarr")
    outputs = data.possible_outputs
    assert outputs[OMEZarrReader] == "xarray:DataArray"
    assert outputs[OMEZarrTreeReader] == "xarray:DataTree"
    assert data.to_reader("xarray:DataArray").read().sizes["c"] == 3


def test_intake_entry_point_imports_the_readers() -> None:
    """``import intake`` registers bioshare's readers through the intake.imports entry point."""
    from importlib.metadata import entry_points

    ours = [ep for ep in entry_points(group="intake.imports") if ep.value.startswith("bioshare")]
    if not ours:
        pytest.skip("bioshare is installed without its intake.imports entry point")
    assert [ep.value for ep in ours] == ["bioshare.catalog.readers"]
    assert ours[0].load() is importlib.import_module("bioshare.catalog.readers")


def test_plain_intake_reads_the_packaged_file(server: BackgroundServer) -> None:
    """The YAML is plain Intake 2: intake.from_yaml_file reads it (trusted, unchecked)."""
    cat = intake.from_yaml_file(str(catalog_path("demo")))
    image = cat(base_url=server.url)["ihc_v05"].read()
    assert image.sizes == {"c": 3, "y": 512, "x": 512}


# -- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CURATED)
def test_catalog_round_trips_through_yaml(tmp_path: Path, name: str) -> None:
    cat = open_catalog(name)
    path = tmp_path / f"{name}.yaml"
    cat.to_yaml_file(str(path))
    for again in (open_catalog(path), Catalog.from_yaml_file(str(path))):
        assert again.to_dict()["entries"] == cat.to_dict()["entries"]
        assert again.to_dict()["data"] == cat.to_dict()["data"]
        assert again.metadata == cat.metadata
        assert sorted(again) == sorted(cat)
    assert "STORAGE_OPTIONS" not in yaml.safe_load(path.read_text())["user_parameters"]


def test_saved_demo_catalog_keeps_its_base_url_and_reads(
    tmp_path: Path, demo: Catalog, server: BackgroundServer
) -> None:
    path = tmp_path / "mine.yaml"
    demo.to_yaml_file(str(path))
    again = open_catalog(path)
    assert again["cells_v04"].data.url == f"{server.url}/v0.4/cells.ome.zarr"
    assert again["plate_v04"].read()["B/2/1/image"].shape == (2, 128, 128)


def test_minimal_hand_written_catalog_loads(tmp_path: Path, server: BackgroundServer) -> None:
    path = tmp_path / "minimal.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "version": 2,
                "data": {
                    "cells": {
                        "datatype": "bioshare.catalog.readers:OMEZarr",
                        "kwargs": {"url": f"{server.url}/v0.5/cells.ome.zarr"},
                    }
                },
                "entries": {
                    "cells_image": {
                        "reader": "bioshare.catalog.readers:OMEZarrReader",
                        "kwargs": {"args": ["{data(cells)}"]},
                    }
                },
            }
        )
    )
    assert open_catalog(path)["cells_image"].read().shape == (660, 550)


# -- errors -------------------------------------------------------------------------------------


def test_unknown_name_lists_the_curated_catalogs() -> None:
    with pytest.raises(CatalogError, match="idr, bia, course, demo"):
        open_catalog("nope")
    with pytest.raises(CatalogError, match="no curated catalog named 'nope'"):
        catalog_path("nope")


def test_a_folder_named_like_a_catalog_does_not_shadow_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "demo").mkdir()  # as `bioshare demo --data demo` makes
    monkeypatch.chdir(tmp_path)
    assert open_catalog("demo").metadata["name"] == "demo"


def test_intake_v1_catalog_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "v1.yaml"
    path.write_text(yaml.safe_dump({"sources": {"x": {"driver": "csv", "args": {}}}}))
    with pytest.raises(CatalogError, match="Intake 1 catalog"):
        open_catalog(path)


@pytest.mark.parametrize("text", ["- a\n- b\n", "version: 2\nentries: [\n"])
def test_not_a_catalog(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(CatalogError, match=str(path)):
        open_catalog(path)


def test_image_reader_needs_an_ome_zarr_url() -> None:
    image = ImageRef(repository="idr", id="1", name="a TIFF")
    with pytest.raises(RepositoryError, match="no OME-Zarr URL"):
        image_reader(image)


# -- repository-backed catalogs ---------------------------------------------------------------


class DemoRepository(Repository):
    """An in-process repository whose images are the demo datasets on the local server."""

    name = "demo-repo"

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.image_calls: list[str] = []

    async def asearch(self, query: str, *, limit: int = 20, **filters: Any) -> list[DatasetRecord]:
        records = [
            DatasetRecord(
                repository=self.name,
                id="mitosis",
                title="Dividing nuclei",
                description="Synthetic 3D time-lapse of dividing nuclei",
                license="CC-BY-4.0",
                doi="10.1234/demo.mitosis",
                has_ome_zarr=True,
            ),
            DatasetRecord(
                repository=self.name,
                id="stains",
                title="Stained tissue and cells",
                description="IHC and phase images",
                has_ome_zarr=True,
            ),
            DatasetRecord(repository=self.name, id="tiffs", title="Old TIFFs", has_ome_zarr=False),
            DatasetRecord(repository=self.name, id="broken", title="Broken", has_ome_zarr=True),
            DatasetRecord(repository=self.name, id="hostile", title="Hostile", has_ome_zarr=True),
        ]
        words = query.lower().split()
        return [
            r
            for r in records
            if all(w in r.title.lower() or w in r.description.lower() for w in words)
        ][:limit]

    async def aimages(self, record_id: str) -> list[ImageRef]:
        self.image_calls.append(record_id)
        await asyncio.sleep(0)
        if record_id == "broken":
            raise ConnectionError("listing failed")
        if record_id == "hostile":
            url = "https://collector.example.org/{env(SECRET_TOKEN)}/x.ome.zarr"
            return [ImageRef(repository=self.name, id="x", name="x", zarr_url=url)]
        url = f"{self.base_url}/v0.5/{{}}.ome.zarr"
        names = {"mitosis": ["mitosis"], "stains": ["ihc", "cells"]}[record_id]
        images = [
            ImageRef(
                repository=self.name,
                id=name,
                name=f"{name} image",
                zarr_url=url.format(name),
                dataset_id=record_id,
            )
            for name in names
        ]
        return [*images, ImageRef(repository=self.name, id="raw", name="no zarr")]


def test_repository_catalog_reader_builds_a_catalog(
    server: BackgroundServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_TOKEN", "s3cr3t-from-the-environment")
    repo = DemoRepository(server.url)
    reader = RepositoryCatalogReader(RepositoryQuery("", repositories=[repo], limit=10))
    cat = reader.read()
    assert isinstance(cat, Catalog)
    assert sorted(cat) == [
        "demo_repo_mitosis",
        "demo_repo_stains_cells",
        "demo_repo_stains_ihc",
    ]
    assert "tiffs" not in repo.image_calls, "datasets without OME-Zarr are not listed"
    entry = cat["demo_repo_mitosis"]
    assert entry.metadata["title"] == "Dividing nuclei"
    assert entry.metadata["license"] == "CC-BY-4.0"
    assert entry.metadata["doi"] == "10.1234/demo.mitosis"
    assert entry.read().dims == ("t", "c", "z", "y", "x")
    assert cat["demo_repo_stains_cells"].read().shape == (660, 550)
    skipped = {s["dataset"]: s["reason"] for s in cat.metadata["skipped"]}
    assert skipped["demo-repo:tiffs"] == "no OME-Zarr images"
    assert "listing failed" in skipped["demo-repo:broken"]
    assert "would expand as a template" in skipped["demo-repo:hostile"]
    assert "s3cr3t-from-the-environment" not in yaml.safe_dump(cat.to_dict())
    assert cat.metadata["searched"][0]["ok"] is True
    assert cat.metadata["repositories"] == ["demo-repo"]


def test_repository_catalog_limits_images_and_round_trips(
    tmp_path: Path, server: BackgroundServer
) -> None:
    cat = search_catalog("stained", repositories=[DemoRepository(server.url)], max_images=1)
    assert list(cat) == ["demo_repo_stains"]
    path = tmp_path / "search.yaml"
    cat.to_yaml_file(str(path))
    again = open_catalog(path)  # checked as untrusted: only bioshare's readers
    assert again["demo_repo_stains"].read().sizes["c"] == 3


def test_repository_query_is_an_intake_entry(server: BackgroundServer) -> None:
    reader = RepositoryCatalogReader(RepositoryQuery("mitosis", repositories=["idr"]))
    saved = reader.to_entry()
    assert saved.output_instance == "intake.readers.entry:Catalog"
    with pytest.raises(ValueError, match="max_images=0"):
        reader.read(max_images=0)


@pytest.mark.skipif(
    importlib.util.find_spec("bioshare.repositories.local") is None,
    reason="the local repository adapter is not there yet",
)
def test_repository_catalog_from_the_local_repository(
    server: BackgroundServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIOSHARE_LOCAL_URL", server.url)
    cat = search_catalog("", repositories=["local"], limit=50)
    assert len(cat) >= 4
    first = cat[next(iter(cat))]
    assert isinstance(first.read(), xr.DataArray)
