"""Interoperability with the three peers, both ways: ome-zarr-py, ngff-zarr and bioio.

bioshare writes (0.4 and 0.5, translation, 3 levels, channel labels, labels) and each peer
reads the same values and metadata, level by level; each peer writes and bioshare reads
what the peer's own metadata says, level by level.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import bioio
import bioio_ome_zarr
import ngff_zarr
import numpy as np
import pytest
import xarray as xr
import zarr
from bioio_ome_zarr.writers import Channel, OMEZarrWriter
from ome_zarr.format import FormatV04, FormatV05
from ome_zarr.io import parse_url
from ome_zarr.reader import Label, Multiscales, Plate, Reader
from ome_zarr.writer import write_image as ozp_write_image
from ome_zarr.writer import write_labels as ozp_write_labels
from ome_zarr.writer import write_multiscale as ozp_write_multiscale
from ome_zarr.writer import write_plate_metadata as ozp_write_plate_metadata
from ome_zarr.writer import write_well_metadata as ozp_write_well_metadata

import bioshare

pytestmark = pytest.mark.peers

VERSIONS = ("0.4", "0.5")
DIMS = ("c", "z", "y", "x")
SPATIAL = ("z", "y", "x")
SHAPE = (2, 8, 128, 128)
SCALE = {"c": 1.0, "z": 2.0, "y": 0.5, "x": 0.5}
TRANSLATION = {"c": 0.0, "z": 1.0, "y": 10.0, "x": 5.0}
UNIT = "micrometer"
CHANNELS = ["DAPI", "GFP"]
COLORS = ["0000FF", "00FF00"]
LEVELS = ("0", "1", "2")
OZP_FORMATS = {"0.4": FormatV04(), "0.5": FormatV05()}


def _pixels() -> np.ndarray:
    """Smooth structure plus noise, so a wrong level or a transposition cannot pass."""
    rng = np.random.default_rng(7)
    c, z, y, x = np.ogrid[: SHAPE[0], : SHAPE[1], : SHAPE[2], : SHAPE[3]]
    ramp = 1000 * (c + 1) + 40 * z + 8 * y + 3 * x
    return (ramp + rng.integers(0, 200, SHAPE)).astype(np.uint16)


def _labels() -> np.ndarray:
    """Three objects, values 1, 2 and 7, in a (z, y, x) label image."""
    labels = np.zeros(SHAPE[1:], dtype=np.uint32)
    labels[1:5, 10:40, 20:60] = 1
    labels[3:8, 70:120, 64:100] = 2
    labels[:, 50:60, 100:128] = 7
    return labels


def _source() -> xr.DataArray:
    coords: dict[str, Any] = {"c": CHANNELS}
    for dim, size in zip(DIMS[1:], SHAPE[1:], strict=True):
        values = TRANSLATION[dim] + SCALE[dim] * np.arange(size)
        coords[dim] = (dim, values, {"units": UNIT})
    return xr.DataArray(
        _pixels(), dims=DIMS, coords=coords, name="interop", attrs={"channel_colors": COLORS}
    )


def _step_and_origin(level: xr.DataArray, dim: str) -> tuple[float, float]:
    values = level[dim].values
    return float(values[1] - values[0]), float(values[0])


def _levels(tree: xr.DataTree, paths: list[str]) -> list[xr.DataArray]:
    return [tree[path]["image"] for path in paths]


# -- bioshare writes, the peers read ------------------------------------------------------------


@pytest.fixture(scope="module")
def bioshare_written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("interop-bioshare")
    labels = xr.DataArray(_labels(), dims=SPATIAL)
    return {
        version: Path(
            bioshare.write_image(
                _source(),
                root / f"image-{version}.ome.zarr",
                ngff_version=version,
                chunks={"y": 32, "x": 32},
                levels=3,
                labels={"nuclei": labels},
            )
        )
        for version in VERSIONS
    }


@pytest.fixture(scope="module")
def bioshare_read(bioshare_written: dict[str, Path]) -> dict[str, xr.DataTree]:
    """What bioshare reads back: the reference the peers must agree with."""
    trees = {v: bioshare.open_multiscales(p, labels=True) for v, p in bioshare_written.items()}
    for tree in trees.values():  # the reference itself is right where it can be checked
        level0 = tree["0/image"]
        np.testing.assert_array_equal(level0.values, _pixels())
        assert [tree[p]["image"].shape[-1] for p in LEVELS] == [128, 64, 32]
        np.testing.assert_array_equal(tree["labels/nuclei/0/image"].values, _labels())
    return trees


@pytest.mark.parametrize("version", VERSIONS)
def test_ome_zarr_py_reads_bioshare(bioshare_written, bioshare_read, version):
    location = parse_url(str(bioshare_written[version]))
    assert location is not None
    assert location.version == version
    nodes = list(Reader(location)())
    image = next(n for n in nodes if n.load(Multiscales) and not n.load(Label))
    levels = _levels(bioshare_read[version], list(LEVELS))

    assert len(image.data) == 3
    for data, level in zip(image.data, levels, strict=True):
        np.testing.assert_array_equal(np.asarray(data), level.values)
    axes = image.metadata["axes"]
    assert [a["name"] for a in axes] == list(DIMS)
    assert [a.get("type") for a in axes] == ["channel", "space", "space", "space"]
    assert [a.get("unit") for a in axes] == [None, UNIT, UNIT, UNIT]
    _assert_transforms_match(image.metadata["coordinateTransformations"], levels)
    assert image.metadata["channel_names"] == CHANNELS
    assert image.metadata["name"] == "interop"

    label = next(n for n in nodes if n.load(Label))
    assert label.metadata["name"] == "nuclei"
    label_levels = _levels(bioshare_read[version], [f"labels/nuclei/{p}" for p in LEVELS])
    assert len(label.data) == 3
    for data, level in zip(label.data, label_levels, strict=True):
        np.testing.assert_array_equal(np.asarray(data), level.values)
    _assert_transforms_match(label.metadata["coordinateTransformations"], label_levels)
    assert set(label.metadata["color"]) == {1, 2, 7}


def _assert_transforms_match(transforms: list[list[dict]], levels: list[xr.DataArray]) -> None:
    """A peer's per-level scale and translation equal bioshare's coordinates."""
    assert len(transforms) == len(levels)
    for level_transforms, level in zip(transforms, levels, strict=True):
        scale = next(t["scale"] for t in level_transforms if t["type"] == "scale")
        translation = next(
            (t["translation"] for t in level_transforms if t["type"] == "translation"),
            [0.0] * level.ndim,
        )
        expected = [_step_and_origin(level, d) if d in SPATIAL else (1.0, 0.0) for d in level.dims]
        assert scale == pytest.approx([s for s, _ in expected])
        assert translation == pytest.approx([t for _, t in expected])


@pytest.mark.parametrize("version", VERSIONS)
def test_ngff_zarr_reads_bioshare(bioshare_written, bioshare_read, version):
    # validate=True: ngff-zarr checks the metadata against its bundled NGFF schemas too.
    multiscales = ngff_zarr.from_ngff_zarr(str(bioshare_written[version]), validate=True)
    levels = _levels(bioshare_read[version], list(LEVELS))
    assert len(multiscales.images) == 3
    for image, level in zip(multiscales.images, levels, strict=True):
        assert tuple(image.dims) == DIMS
        np.testing.assert_array_equal(np.asarray(image.data), level.values)
        for dim in SPATIAL:
            step, origin = _step_and_origin(level, dim)
            assert image.scale[dim] == pytest.approx(step)
            assert image.translation[dim] == pytest.approx(origin)
        assert image.scale["c"] == 1.0
        assert image.translation["c"] == 0.0
        assert image.axes_units == {"c": None, "z": UNIT, "y": UNIT, "x": UNIT}
        assert image.name == "interop"
    channels = multiscales.metadata.omero.channels
    assert [ch.label for ch in channels] == CHANNELS
    assert [ch.color for ch in channels] == COLORS


@pytest.mark.parametrize("version", VERSIONS)
def test_bioio_reads_bioshare(bioshare_written, bioshare_read, version):
    image = bioio.BioImage(bioshare_written[version], reader=bioio_ome_zarr.Reader)
    levels = _levels(bioshare_read[version], list(LEVELS))
    assert image.resolution_levels == (0, 1, 2)
    assert image.scenes == ("interop",)
    assert image.channel_names == CHANNELS
    properties = image.dimension_properties
    assert [str(getattr(properties, d.upper()).unit) for d in SPATIAL] == [UNIT] * 3
    for index, level in enumerate(levels):
        image.set_resolution_level(index)
        # bioio always presents five dims; the missing T has size 1.
        assert image.dims.order == "TCZYX"
        assert image.shape == (1, *level.shape)
        np.testing.assert_array_equal(image.get_image_data("CZYX"), level.values)
        sizes = image.physical_pixel_sizes
        assert pytest.approx([_step_and_origin(level, d)[0] for d in SPATIAL]) == (
            sizes.Z,
            sizes.Y,
            sizes.X,
        )
        # bioio has no notion of an origin: its xarray carries channel names only, so the
        # translation cannot be compared (bioio drops it, it does not misread it).
        assert set(image.xarray_dask_data.coords) == {"C"}
        assert list(image.xarray_dask_data.coords["C"].values) == CHANNELS


@pytest.fixture(scope="module")
def demo_plates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The demo plate (rows A-B, columns 1-3, 2 fields of (c, y, x)) in both versions."""
    from bioshare.demo.datasets import _build_plate

    root = tmp_path_factory.mktemp("interop-plate")
    paths = {}
    for version in VERSIONS:
        paths[version] = root / f"plate-{version}.ome.zarr"
        _build_plate(paths[version], version)
    return paths


@pytest.mark.parametrize("version", VERSIONS)
def test_ome_zarr_py_reads_the_bioshare_demo_plate(demo_plates, version):
    location = parse_url(str(demo_plates[version]))
    assert location is not None
    assert location.version == version
    (node,) = list(Reader(location)())
    assert node.load(Plate)
    plate = bioshare.open_plate(demo_plates[version])
    # ome-zarr-py stitches the first field of every well into one 2 x 3 grid of tiles.
    assert [tuple(d.shape) for d in node.data] == [(2, 256, 384), (2, 128, 192)]
    grid = np.asarray(node.data[0])
    for r, row in enumerate("AB"):
        for c, column in enumerate("123"):
            tile = grid[:, 128 * r : 128 * (r + 1), 128 * c : 128 * (c + 1)]
            np.testing.assert_array_equal(tile, plate[f"{row}/{column}/0/image"].values)
    assert node.metadata["channel_names"] == ["Nuclei", "Membrane"]


@pytest.mark.parametrize("version", VERSIONS)
def test_ngff_zarr_reads_the_bioshare_demo_plate(demo_plates, version):
    # validate=True: the plate and well metadata pass ngff-zarr's bundled NGFF schemas.
    hcs = ngff_zarr.from_hcs_zarr(str(demo_plates[version]), validate=True)
    assert [r.name for r in hcs.metadata.rows] == ["A", "B"]
    assert [c.name for c in hcs.metadata.columns] == ["1", "2", "3"]
    assert hcs.metadata.field_count == 2
    assert len(hcs.metadata.wells) == 6
    plate = bioshare.open_plate(demo_plates[version])
    for row in "AB":
        for column in "123":
            well = hcs.get_well(row, column)
            for field in range(2):
                multiscales = well.get_image(field)
                assert len(multiscales.images) == 2
                first = multiscales.images[0]
                assert tuple(first.dims) == ("c", "y", "x")
                expected = plate[f"{row}/{column}/{field}/image"]
                np.testing.assert_array_equal(np.asarray(first.data), expected.values)
                assert first.scale["x"] == pytest.approx(float(expected.x[1] - expected.x[0]))


# -- the peers write, bioshare reads -----------------------------------------------------------


def _ngff_attrs(path: Path, subpath: str = "") -> dict[str, Any]:
    """A group's NGFF attributes, as the peer wrote them (``ome`` unwrapped in 0.5)."""
    attrs = dict(zarr.open_group(str(path), path=subpath, mode="r").attrs)
    return attrs.get("ome", attrs)


def _expected_coords(multiscale: dict[str, Any], dataset: dict[str, Any], shape) -> dict:
    """Coordinates the NGFF transform math gives for one dataset (multiscale-level after)."""
    ndim = len(shape)

    def scale_translation(transforms: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        scale, translation = np.ones(ndim), np.zeros(ndim)
        for transform in transforms:
            if transform["type"] == "scale":
                scale = np.asarray(transform["scale"], dtype=float)
            elif transform["type"] == "translation":
                translation = np.asarray(transform["translation"], dtype=float)
        return scale, translation

    scale, translation = scale_translation(dataset["coordinateTransformations"])
    outer_scale, outer_translation = scale_translation(
        multiscale.get("coordinateTransformations", [])
    )
    scale, translation = outer_scale * scale, outer_scale * translation + outer_translation
    names = [a["name"] for a in multiscale["axes"]]
    return {
        name: translation[i] + scale[i] * np.arange(shape[i])
        for i, name in enumerate(names)
        if name in SPATIAL
    }


def _assert_bioshare_reads_as_written(
    path: Path,
    *,
    channels: list[str] | None,
    subpath: str = "",
    levels: int = 3,
) -> xr.DataTree:
    """bioshare's levels equal the peer's arrays, coordinates follow the peer's metadata."""
    tree = bioshare.open_multiscales(path / subpath if subpath else path)
    ngff = _ngff_attrs(path, subpath)
    multiscale = ngff["multiscales"][0]
    axes = multiscale["axes"]
    assert len(multiscale["datasets"]) == levels
    for dataset in multiscale["datasets"]:
        level = tree[dataset["path"]]["image"]
        stored = zarr.open_array(str(path), path=f"{subpath}/{dataset['path']}", mode="r")
        assert level.dims == tuple(a["name"] for a in axes)
        assert level.shape == stored.shape
        assert level.dtype == stored.dtype
        np.testing.assert_array_equal(level.values, stored[...])
        for dim, values in _expected_coords(multiscale, dataset, stored.shape).items():
            np.testing.assert_allclose(level[dim].values, values)
        units = {a["name"]: a["unit"] for a in axes if a.get("unit")}
        assert level.attrs["units"] == units
        for dim, unit in units.items():
            assert level[dim].attrs["units"] == unit
        if channels is None:
            assert "c" not in level.coords
        else:
            assert list(level.c.values) == channels
    return tree


@pytest.mark.parametrize("version", VERSIONS)
def test_bioshare_reads_ome_zarr_py_write_image_and_labels(tmp_path, version):
    fmt = OZP_FORMATS[version]
    path = tmp_path / f"ozp-{version}.ome.zarr"
    root = zarr.open_group(str(path), mode="w", zarr_format=fmt.zarr_format)
    window = {"min": 0, "max": 65535, "start": 0, "end": 5000}
    ozp_write_image(
        _pixels(),
        root,
        scale_factors=(2, 4),
        fmt=fmt,
        axes=list(DIMS),
        scale=SCALE,
        axes_units=dict.fromkeys(SPATIAL, UNIT),
        name="peer",
        storage_options={"chunks": (1, 8, 64, 64)},
        omero={
            "channels": [
                {"label": label, "color": color, "window": window}
                for label, color in zip(CHANNELS, COLORS, strict=True)
            ]
        },
    )
    ozp_write_labels(
        _labels(),
        root,
        name="nuclei",
        fmt=fmt,
        axes=list(SPATIAL),
        scale={d: SCALE[d] for d in SPATIAL},
        axes_units=dict.fromkeys(SPATIAL, UNIT),
        label_metadata={"colors": [{"label-value": 7, "rgba": [255, 0, 0, 255]}]},
    )

    tree = _assert_bioshare_reads_as_written(path, channels=CHANNELS)
    first = tree[_ngff_attrs(path)["multiscales"][0]["datasets"][0]["path"]]["image"]
    np.testing.assert_array_equal(first.values, _pixels())
    np.testing.assert_allclose(first.y.values[:2], [0.0, 0.5])
    assert first.attrs["ngff_version"] == version
    assert first.attrs["channel_colors"] == COLORS
    assert first.attrs["multiscale_name"] == "peer"

    labels = bioshare.open_labels(path)
    assert list(labels.children) == ["nuclei"]
    label_ngff = _ngff_attrs(path, "labels/nuclei")
    # ome-zarr-py's write_labels builds its own pyramid (5 levels here, whatever the image has).
    label_tree = _assert_bioshare_reads_as_written(
        path,
        channels=None,
        subpath="labels/nuclei",
        levels=len(label_ngff["multiscales"][0]["datasets"]),
    )
    label_first = label_tree[label_ngff["multiscales"][0]["datasets"][0]["path"]]["image"]
    np.testing.assert_array_equal(label_first.values, _labels())
    assert label_first.attrs["image_label"]["colors"] == [
        {"label-value": 7, "rgba": [255, 0, 0, 255]}
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_bioshare_reads_ome_zarr_py_write_multiscale(tmp_path, version):
    """An explicit pyramid with a translation, written by ome-zarr-py."""
    fmt = OZP_FORMATS[version]
    path = tmp_path / f"ozp-multiscale-{version}.ome.zarr"
    root = zarr.open_group(str(path), mode="w", zarr_format=fmt.zarr_format)
    pixels = _pixels()
    pyramid = [pixels, pixels[..., ::2, ::2], pixels[..., ::4, ::4]]
    transforms = [
        [
            {"type": "scale", "scale": [1.0, 2.0, 0.5 * f, 0.5 * f]},
            {"type": "translation", "translation": [0.0, 1.0, 10.0, 5.0]},
        ]
        for f in (1, 2, 4)
    ]
    ozp_write_multiscale(
        pyramid,
        root,
        fmt=fmt,
        axes=[
            {"name": "c", "type": "channel"},
            *({"name": d, "type": "space", "unit": UNIT} for d in SPATIAL),
        ],
        coordinate_transformations=transforms,
        name="peer",
        storage_options={"chunks": (1, 8, 32, 32)},
    )
    tree = _assert_bioshare_reads_as_written(path, channels=None)
    paths = [d["path"] for d in _ngff_attrs(path)["multiscales"][0]["datasets"]]
    for array, level in zip(pyramid, _levels(tree, paths), strict=True):
        np.testing.assert_array_equal(level.values, array)
    level2 = tree[paths[2]]["image"]
    np.testing.assert_allclose(level2.y.values[:2], [10.0, 12.0])
    np.testing.assert_allclose(level2.z.values[:2], [1.0, 3.0])


@pytest.mark.parametrize("version", VERSIONS)
def test_bioshare_reads_ngff_zarr(tmp_path, version):
    image = ngff_zarr.to_ngff_image(
        _pixels(),
        dims=list(DIMS),
        scale={d: SCALE[d] for d in SPATIAL},
        translation={d: TRANSLATION[d] for d in SPATIAL},
        name="peer",
        axes_units=dict.fromkeys(SPATIAL, UNIT),
        channel_names=CHANNELS,
    )
    # Bin shrink (a block mean): ngff-zarr's default ITK-Wasm gaussian takes a second here.
    multiscales = ngff_zarr.to_multiscales(
        image, scale_factors=[2, 4], chunks=32, method=ngff_zarr.Methods.DASK_BIN_SHRINK
    )
    # ngff-zarr writes no omero block (so no channel names) unless it is set: build it from
    # the image's channel_names.
    multiscales.metadata.omero = ngff_zarr.compute_omero_from_multiscales(multiscales)
    path = tmp_path / f"ngff-zarr-{version}.ome.zarr"
    # In 0.5, shard the arrays (two chunks per shard) and let ngff-zarr consolidate metadata.
    options = {"chunks_per_shard": 2} if version == "0.5" else {}
    ngff_zarr.to_ngff_zarr(str(path), multiscales, version=version, **options)

    tree = _assert_bioshare_reads_as_written(path, channels=CHANNELS)
    # ngff-zarr names its datasets "scale<N>/<name>": bioshare's children follow the paths.
    paths = [d["path"] for d in _ngff_attrs(path)["multiscales"][0]["datasets"]]
    assert paths == ["scale0/peer", "scale1/peer", "scale2/peer"]
    for written, level in zip(multiscales.images, _levels(tree, paths), strict=True):
        np.testing.assert_array_equal(level.values, np.asarray(written.data))
        for dim in SPATIAL:
            step, origin = _step_and_origin(level, dim)
            assert step == pytest.approx(written.scale[dim])
            assert origin == pytest.approx(written.translation[dim])
    assert tree[paths[0]]["image"].attrs["ngff_version"] == version
    if version == "0.5":
        stored = zarr.open_array(str(path), path=paths[0], mode="r")
        assert stored.shards is not None


@pytest.mark.parametrize("version", VERSIONS)
def test_bioshare_reads_bioio_ome_zarr_writer(tmp_path, version):
    path = tmp_path / f"bioio-{version}.ome.zarr"
    shapes = [SHAPE, (*SHAPE[:2], 64, 64), (*SHAPE[:2], 32, 32)]
    writer = OMEZarrWriter(
        str(path),
        level_shapes=shapes,
        dtype=np.uint16,
        chunk_shape=[(1, 8, 64, 64), (1, 8, 64, 64), (1, 8, 32, 32)],
        zarr_format=3 if version == "0.5" else 2,
        image_name="peer",
        channels=[
            Channel(
                label=label, color=color, window={"min": 0, "max": 65535, "start": 0, "end": 5000}
            )
            for label, color in zip(CHANNELS, COLORS, strict=True)
        ],
        axes_names=list(DIMS),
        axes_types=["channel", "space", "space", "space"],
        axes_units=[None, UNIT, UNIT, UNIT],
        physical_pixel_size=[SCALE[d] for d in DIMS],
        # An origin as a multiscale-level translation, applied after each level's scale.
        root_transform={"type": "translation", "translation": [TRANSLATION[d] for d in DIMS]},
    )
    writer.write_full_volume(_pixels())

    tree = _assert_bioshare_reads_as_written(path, channels=CHANNELS)
    np.testing.assert_array_equal(tree["0/image"].values, _pixels())
    level1 = tree["1/image"]
    assert level1.shape == (2, 8, 64, 64)
    # bioio's writer keeps the origin of every level at the multiscale translation.
    np.testing.assert_allclose(level1.y.values[:2], [10.0, 11.0])
    np.testing.assert_allclose(level1.x.values[:2], [5.0, 6.0])
    np.testing.assert_allclose(level1.z.values[:2], [1.0, 3.0])
    assert tree["0/image"].attrs["channel_colors"] == COLORS
    assert tree["0/image"].attrs["ngff_version"] == version


def test_peer_metadata_files_are_where_the_version_says(tmp_path):
    """The peers write 0.4 as Zarr v2 and 0.5 as Zarr v3, as bioshare expects."""
    for version, fmt in OZP_FORMATS.items():
        path = tmp_path / f"ozp-{version}.ome.zarr"
        root = zarr.open_group(str(path), mode="w", zarr_format=fmt.zarr_format)
        ozp_write_image(_pixels()[0, 0], root, scale_factors=(2,), fmt=fmt, axes=["y", "x"])
        if version == "0.5":
            document = json.loads((path / "zarr.json").read_text())
            assert document["attributes"]["ome"]["version"] == "0.5"
        else:
            assert "multiscales" in json.loads((path / ".zattrs").read_text())
        opened = bioshare.open_image(path)
        assert opened.attrs["ngff_version"] == version
        np.testing.assert_array_equal(opened.values, _pixels()[0, 0])


@pytest.mark.parametrize("version", VERSIONS)
def test_bioshare_reads_an_ome_zarr_py_plate(tmp_path, version):
    fmt = OZP_FORMATS[version]
    path = tmp_path / f"ozp-plate-{version}.ome.zarr"
    root = zarr.open_group(str(path), mode="w", zarr_format=fmt.zarr_format)
    wells = ["A/1", "A/2", "B/2"]  # sparse: B/1 is not written
    ozp_write_plate_metadata(
        root, ["A", "B"], ["1", "2"], wells, fmt=fmt, field_count=2, name="peer plate"
    )
    expected = {}
    for n, well in enumerate(wells):
        row, column = well.split("/")
        well_group = root.require_group(row).require_group(column)
        ozp_write_well_metadata(well_group, ["0", "1"], fmt=fmt)
        for field in ("0", "1"):
            pixels = (_pixels()[:, 0, :64, :64] + 1000 * n + int(field)).astype(np.uint16)
            ozp_write_image(
                pixels,
                well_group.require_group(field),
                scale_factors=(2,),
                fmt=fmt,
                axes=["c", "y", "x"],
                scale={"c": 1.0, "y": 0.65, "x": 0.65},
                axes_units={"y": UNIT, "x": UNIT},
            )
            expected[f"{well}/{field}"] = pixels

    plate = bioshare.open_plate(path)
    assert plate.attrs["plate"]["name"] == "peer plate"
    fields = {node.path.strip("/"): node["image"] for node in plate.subtree if "image" in node}
    assert sorted(fields) == sorted(expected)
    for key, image in fields.items():
        assert image.dims == ("c", "y", "x")
        np.testing.assert_array_equal(image.values, expected[key])
        np.testing.assert_allclose(image.x.values[:2], [0.0, 0.65])
        assert image.attrs["ngff_version"] == version
    level1 = bioshare.open_plate(path, level=1, wells=["B/2"])
    assert level1["B/2/1/image"].shape == (2, 32, 32)


# -- round trips through bioshare ------------------------------------------------------------


def _ome_zarr_py_image(path: Path) -> Path:
    fmt = OZP_FORMATS["0.4"]
    root = zarr.open_group(str(path), mode="w", zarr_format=fmt.zarr_format)
    ozp_write_image(
        _pixels(),
        root,
        scale_factors=(2, 4),
        fmt=fmt,
        axes=list(DIMS),
        scale=SCALE,
        axes_units=dict.fromkeys(SPATIAL, UNIT),
    )
    ozp_write_labels(_labels(), root, name="nuclei", fmt=fmt, axes=list(SPATIAL))
    return path


def _ngff_zarr_image(path: Path) -> Path:
    image = ngff_zarr.to_ngff_image(
        _pixels(),
        dims=list(DIMS),
        scale={d: SCALE[d] for d in SPATIAL},
        translation={d: TRANSLATION[d] for d in SPATIAL},
        axes_units=dict.fromkeys(SPATIAL, UNIT),
    )
    multiscales = ngff_zarr.to_multiscales(
        image, scale_factors=[2, 4], chunks=32, method=ngff_zarr.Methods.DASK_BIN_SHRINK
    )
    ngff_zarr.to_ngff_zarr(str(path), multiscales, version="0.4")
    return path


@pytest.mark.parametrize(
    "peer_writes",
    [
        pytest.param(_ome_zarr_py_image, id="ome-zarr-py"),
        pytest.param(_ngff_zarr_image, id="ngff-zarr"),
    ],
)
def test_bioshare_converts_a_peer_image_to_0_5(tmp_path, peer_writes):
    """Open what a peer wrote in 0.4, write it as 0.5 with bioshare: same levels and coords."""
    source = peer_writes(tmp_path / "peer.ome.zarr")
    tree = bioshare.open_multiscales(source, labels=True)
    paths = [d["path"] for d in _ngff_attrs(source)["multiscales"][0]["datasets"]]
    converted = bioshare.open_multiscales(
        bioshare.write_image(tree, tmp_path / "converted.ome.zarr", ngff_version="0.5"),
        labels=True,
    )
    assert converted["0/image"].attrs["ngff_version"] == "0.5"
    for index, path in enumerate(paths):
        before, after = tree[path]["image"], converted[f"{index}/image"]
        assert after.dims == before.dims
        np.testing.assert_array_equal(after.values, before.values)
        for dim in SPATIAL:
            np.testing.assert_allclose(after[dim].values, before[dim].values)
            assert after[dim].attrs.get("units") == before[dim].attrs.get("units")
    if "labels" in tree.children:
        label_path = _ngff_attrs(source, "labels/nuclei")["multiscales"][0]["datasets"][0]["path"]
        np.testing.assert_array_equal(
            converted["labels/nuclei/0/image"].values,
            tree[f"labels/nuclei/{label_path}/image"].values,
        )


def test_peers_see_the_pixel_size_bioshare_was_given(tmp_path):
    size = 0.107
    image = xr.DataArray(
        np.zeros((660, 550), dtype=np.uint8),
        dims=("y", "x"),
        coords={
            "y": ("y", size * np.arange(660), {"units": UNIT}),
            "x": ("x", size * np.arange(550), {"units": UNIT}),
        },
    )
    path = bioshare.write_image(image, tmp_path / "cell.ome.zarr", levels=1)
    sizes = bioio.BioImage(path, reader=bioio_ome_zarr.Reader).physical_pixel_sizes
    assert (size, size) == (sizes.Y, sizes.X)
