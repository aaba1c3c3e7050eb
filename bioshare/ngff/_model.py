"""Parse OME-NGFF group attributes (0.1 to 0.5) into small immutable objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bioshare.errors import MetadataError, NotOMEZarrError, UnsupportedVersionError

SUPPORTED_VERSIONS = ("0.1", "0.2", "0.3", "0.4", "0.5")
# Versions before 0.4 have no axes objects; 0.1 and 0.2 are always 5D t, c, z, y, x.
_IMPLICIT_AXES = ("t", "c", "z", "y", "x")
_AXIS_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}


@dataclass(frozen=True)
class Axis:
    name: str
    type: str | None = None
    unit: str | None = None


@dataclass(frozen=True)
class Level:
    """One pyramid level: its array path and its effective physical transform."""

    path: str
    scale: tuple[float, ...]
    translation: tuple[float, ...]


@dataclass(frozen=True)
class Multiscale:
    """The multiscales entry of an image (or label image), ready to build coordinates from."""

    version: str
    name: str | None
    axes: tuple[Axis, ...]
    levels: tuple[Level, ...]
    omero: dict[str, Any] | None = None
    image_label: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def dims(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.axes)

    def level(self, level: int | str) -> Level:
        """Return a level by index or by its path."""
        if isinstance(level, str):
            for candidate in self.levels:
                if candidate.path == level:
                    return candidate
            paths = [lv.path for lv in self.levels]
            raise KeyError(f"no pyramid level with path {level!r}; levels are {paths}")
        try:
            return self.levels[level]
        except IndexError:
            raise IndexError(
                f"level {level} does not exist; this image has {len(self.levels)} level(s) "
                f"(0 to {len(self.levels) - 1})"
            ) from None


def ome_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    """Return the NGFF namespace of group attributes: ``attrs["ome"]`` in 0.5, else attrs."""
    ome = attrs.get("ome")
    return ome if isinstance(ome, dict) else attrs


def node_kind(attrs: dict[str, Any]) -> str | None:
    """Which NGFF node the attributes describe: image, plate, well, labels, bioformats2raw."""
    ome = ome_attrs(attrs)
    if "multiscales" in ome:
        return "image"
    if "plate" in ome:
        return "plate"
    if "well" in ome:
        return "well"
    if "bioformats2raw.layout" in ome:
        return "bioformats2raw"
    if "labels" in ome:
        return "labels"
    return None


def ngff_version(attrs: dict[str, Any]) -> str | None:
    """The NGFF version declared in group attributes, or None."""
    ome = attrs.get("ome")
    if isinstance(ome, dict) and "version" in ome:
        return str(ome["version"])
    for key in ("multiscales", "plate", "well"):
        value = attrs.get(key)
        entry = value[0] if isinstance(value, list) and value else value
        if isinstance(entry, dict) and "version" in entry:
            return str(entry["version"])
    return None


def parse_multiscale(attrs: dict[str, Any], url: str, index: int = 0) -> Multiscale:
    """Parse the ``index``-th multiscales entry of an image group's attributes."""
    ome = ome_attrs(attrs)
    multiscales = ome.get("multiscales")
    if not isinstance(multiscales, list) or not multiscales:
        kind = node_kind(attrs)
        found = f"a {kind} group" if kind else f"attributes with keys {sorted(attrs)}"
        raise NotOMEZarrError(
            f"{url} is not an OME-Zarr image: found {found}; "
            "expected a 'multiscales' list in the group attributes"
        )
    entry = multiscales[index]
    version = ngff_version(attrs) or _required(entry, "version", url, "multiscales[0]")
    if version not in SUPPORTED_VERSIONS:
        raise UnsupportedVersionError(
            f"{url}: OME-NGFF version {version!r} is not supported; "
            f"expected one of {', '.join(SUPPORTED_VERSIONS)}"
        )
    where = f"multiscales[{index}]"
    axes = _parse_axes(entry, version, url, where)
    global_scale, global_translation = _parse_transforms(
        entry.get("coordinateTransformations", []),
        len(axes),
        url,
        f"{where}.coordinateTransformations",
    )
    datasets = _required(entry, "datasets", url, where)
    levels = []
    for i, dataset in enumerate(datasets):
        ds_where = f"{where}.datasets[{i}]"
        path = str(_required(dataset, "path", url, ds_where))
        scale, translation = _parse_transforms(
            dataset.get("coordinateTransformations", []),
            len(axes),
            url,
            f"{ds_where}.coordinateTransformations",
        )
        levels.append(
            Level(
                path=path,
                scale=tuple(gs * s for gs, s in zip(global_scale, scale, strict=True)),
                translation=tuple(
                    gs * t + gt
                    for gs, t, gt in zip(global_scale, translation, global_translation, strict=True)
                ),
            )
        )
    return Multiscale(
        version=version,
        name=entry.get("name"),
        axes=axes,
        levels=tuple(levels),
        omero=ome.get("omero"),
        image_label=ome.get("image-label"),
        raw=entry,
    )


def _parse_axes(entry: dict[str, Any], version: str, url: str, where: str) -> tuple[Axis, ...]:
    axes = entry.get("axes")
    if axes is None:
        if version in ("0.1", "0.2"):
            return tuple(Axis(n, _AXIS_TYPES[n]) for n in _IMPLICIT_AXES)
        raise MetadataError(f"{url}: {where}.axes is missing; expected a list of axes")
    parsed = []
    for i, axis in enumerate(axes):
        if isinstance(axis, str):  # 0.3 lists names only
            parsed.append(Axis(axis, _AXIS_TYPES.get(axis)))
        elif isinstance(axis, dict) and isinstance(axis.get("name"), str):
            parsed.append(Axis(axis["name"], axis.get("type"), axis.get("unit")))
        else:
            raise MetadataError(
                f"{url}: {where}.axes[{i}] is {axis!r}; expected an object with a 'name'"
            )
    names = [a.name for a in parsed]
    if len(set(names)) != len(names):
        raise MetadataError(f"{url}: {where}.axes has repeated names {names}; expected unique")
    return tuple(parsed)


def _parse_transforms(
    transforms: list[dict[str, Any]], ndim: int, url: str, where: str
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    scale = [1.0] * ndim
    translation = [0.0] * ndim
    for i, transform in enumerate(transforms):
        kind = transform.get("type")
        if kind == "identity":
            continue
        if kind not in ("scale", "translation"):
            raise MetadataError(
                f"{url}: {where}[{i}].type is {kind!r}; expected 'scale' or 'translation'"
            )
        values = transform.get(kind)
        if values is None:
            raise MetadataError(
                f"{url}: {where}[{i}] has no {kind!r} values (a 'path' to binary transform "
                "data is not supported)"
            )
        if len(values) != ndim:
            raise MetadataError(
                f"{url}: {where}[{i}].{kind} has {len(values)} values; expected {ndim}, "
                "one per axis"
            )
        target = scale if kind == "scale" else translation
        target[:] = [float(v) for v in values]
    return tuple(scale), tuple(translation)


def _required(obj: dict[str, Any], key: str, url: str, where: str) -> Any:
    if key not in obj:
        raise MetadataError(f"{url}: {where}.{key} is missing")
    return obj[key]
