"""Validate OME-NGFF 0.4 and 0.5 metadata: the official schemas plus the rules they miss.

The JSON schemas shipped by the NGFF specification (bundled in ``schemas/``, never fetched)
check shapes and types; they accept a wrong axis order, unknown units, mismatched
``dimension_names`` and growing pyramid levels. Those rules are checked here in code, each
finding with a JSON path, what was found and what was expected.
"""

from __future__ import annotations

import difflib
import html
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from bioshare.errors import MetadataError

if TYPE_CHECKING:
    from referencing import Registry
from bioshare.ngff.read import ArrayInfo

__all__ = ["Issue", "ValidationReport", "validate"]

VERSIONS = ("0.4", "0.5")
SPACE_UNITS = frozenset(
    (
        "angstrom",
        "attometer",
        "centimeter",
        "decimeter",
        "exameter",
        "femtometer",
        "foot",
        "gigameter",
        "hectometer",
        "inch",
        "kilometer",
        "megameter",
        "meter",
        "micrometer",
        "mile",
        "millimeter",
        "nanometer",
        "parsec",
        "petameter",
        "picometer",
        "terameter",
        "yard",
        "yoctometer",
        "yottameter",
        "zeptometer",
        "zettameter",
    )
)
TIME_UNITS = frozenset(
    (
        "attosecond",
        "centisecond",
        "day",
        "decisecond",
        "exasecond",
        "femtosecond",
        "gigasecond",
        "hectosecond",
        "hour",
        "kilosecond",
        "megasecond",
        "microsecond",
        "millisecond",
        "minute",
        "nanosecond",
        "petasecond",
        "picosecond",
        "second",
        "terasecond",
        "yoctosecond",
        "yottasecond",
        "zeptosecond",
        "zettasecond",
    )
)
_UNIT_ALIASES = {
    "um": "micrometer",
    "µm": "micrometer",
    "μm": "micrometer",
    "micron": "micrometer",
    "microns": "micrometer",
    "nm": "nanometer",
    "mm": "millimeter",
    "cm": "centimeter",
    "m": "meter",
    "s": "second",
    "sec": "second",
    "ms": "millisecond",
    "min": "minute",
    "h": "hour",
    "å": "angstrom",
}
_SCHEMA_FILES = {
    "image": "image.schema",
    "label": "label.schema",
    "plate": "plate.schema",
    "well": "well.schema",
    "bioformats2raw": "bf2raw.schema",
}
Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Issue:
    """One finding: where (a JSON path), what, how bad, and which rule."""

    path: str
    message: str
    severity: Severity
    rule: str


@dataclass
class ValidationReport:
    """Errors and warnings found in an OME-Zarr's metadata."""

    source: str | None
    version: str | None
    kind: str | None
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    def __bool__(self) -> bool:
        return self.ok

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return {
            "source": self.source,
            "version": self.version,
            "kind": self.kind,
            "ok": self.ok,
            "errors": [asdict(i) for i in self.errors],
            "warnings": [asdict(i) for i in self.warnings],
        }

    def to_text(self) -> str:
        """A readable report for the terminal."""
        what = f"OME-NGFF {self.version or '?'} {self.kind or 'node'}"
        head = f"{self.source or 'metadata'}: {what}: "
        head += "valid" if self.ok else f"{len(self.errors)} error(s)"
        if self.warnings:
            head += f", {len(self.warnings)} warning(s)"
        lines = [head]
        lines += [f"  error   {i.path}: {i.message} [{i.rule}]" for i in self.errors]
        lines += [f"  warning {i.path}: {i.message} [{i.rule}]" for i in self.warnings]
        return "\n".join(lines)

    __str__ = to_text

    def _repr_html_(self) -> str:
        status = "valid" if self.ok else f"{len(self.errors)} error(s)"
        rows = "".join(
            f"<tr><td>{i.severity}</td><td><code>{html.escape(i.path)}</code></td>"
            f"<td>{html.escape(i.message)}</td><td>{i.rule}</td></tr>"
            for i in (*self.errors, *self.warnings)
        )
        table = (
            "<table><thead><tr><th></th><th>where</th><th>what</th><th>rule</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
            if rows
            else ""
        )
        source = html.escape(self.source or "metadata")
        return (
            f"<div><b>{source}</b>: OME-NGFF {self.version or '?'} {self.kind or 'node'}, "
            f"<b>{status}</b>{table}</div>"
        )

    def raise_for_errors(self) -> None:
        """Raise `MetadataError` listing every error with its path."""
        if self.errors:
            details = "; ".join(f"{i.path}: {i.message}" for i in self.errors)
            raise MetadataError(f"{self.source or 'metadata'} is not valid OME-NGFF: {details}")


def validate(
    source_or_attrs: str | os.PathLike[str] | Mapping[str, Any],
    *,
    strict: bool = False,
    storage_options: dict[str, Any] | None = None,
    arrays: Mapping[str, ArrayInfo | Mapping[str, Any]] | None = None,
    version: str | None = None,
) -> ValidationReport:
    """Validate OME-NGFF metadata (0.4 or 0.5): images, labels, plates, wells.

    Parameters
    ----------
    source_or_attrs
        A URL or path of an OME-Zarr (its metadata and its arrays' metadata are fetched),
        or the group attributes themselves (0.4 ``.zattrs``, 0.5 ``attributes``, or a whole
        0.5 ``zarr.json``).
    strict
        Also apply the strict schemas (``name``, ``type`` and ``metadata`` required).
    arrays
        With attributes: the arrays' metadata by dataset path (shape, dtype,
        dimension_names), to check them against the axes.
    version
        Validate as this version instead of the declared one.

    Returns
    -------
    ValidationReport
    """
    source: str | None = None
    if isinstance(source_or_attrs, Mapping):
        attrs = dict(source_or_attrs)
    else:
        from bioshare.ngff.read import fetch_metadata

        node = fetch_metadata(source_or_attrs, storage_options=storage_options)
        source, attrs, arrays = node.url, node.attrs, node.arrays
    if attrs.get("zarr_format") == 3 and "attributes" in attrs:
        attrs = dict(attrs["attributes"])
    infos = {path: _as_info(info) for path, info in (arrays or {}).items()}
    return _Validator(attrs, source, strict, infos, version).run()


def _as_info(info: ArrayInfo | Mapping[str, Any]) -> ArrayInfo:
    if isinstance(info, ArrayInfo):
        return info
    names = info.get("dimension_names")
    return ArrayInfo(
        shape=tuple(info["shape"]),
        dtype=str(np.dtype(info["dtype"])),
        chunks=tuple(info.get("chunks", info["shape"])),
        dimension_names=tuple(names) if names is not None else None,
    )


class _Validator:
    def __init__(
        self,
        attrs: dict[str, Any],
        source: str | None,
        strict: bool,
        arrays: dict[str, ArrayInfo],
        version: str | None,
    ) -> None:
        self.attrs = attrs
        self.strict = strict
        self.arrays = arrays
        self.v05 = isinstance(attrs.get("ome"), dict)
        self.ome: dict[str, Any] = attrs["ome"] if self.v05 else attrs
        self.root = "$.ome" if self.v05 else "$"
        self.kind = _kind(self.ome)
        self.version = version or _declared_version(self.ome)
        self.report = ValidationReport(source, self.version, self.kind)

    def add(self, path: str, message: str, rule: str, severity: Severity = "error") -> None:
        issue = Issue(path, message, severity, rule)
        (self.report.errors if severity == "error" else self.report.warnings).append(issue)

    def run(self) -> ValidationReport:
        if self.kind is None:
            self.add(
                "$",
                "no OME-NGFF metadata found: expected 'multiscales', 'plate', 'well', "
                "'labels' or 'bioformats2raw.layout' (under 'ome' in 0.5)",
                "kind",
            )
            return self.report
        if self.version not in VERSIONS:
            self.add(
                f"{self.root}.version" if self.v05 else "$",
                f"version {self.version!r} "
                f"cannot be validated; expected one of {', '.join(VERSIONS)}",
                "version",
            )
            return self.report
        if (self.version == "0.5") != self.v05:
            where = "under 'ome' in zarr.json" if self.version == "0.5" else "at the top level"
            self.add(self.root, f"version {self.version} metadata belongs {where}", "layout")
        self._schemas()
        if self.kind in ("image", "label"):
            for i, multiscale in enumerate(self.ome.get("multiscales") or []):
                if isinstance(multiscale, dict):
                    self._multiscale(multiscale, f"{self.root}.multiscales[{i}]")
            self._omero()
            if self.kind == "label":
                self._image_label()
        elif self.kind == "plate":
            self._plate()
        return self.report

    # -- schemas --------------------------------------------------------------------------------

    def _schemas(self) -> None:
        if self.kind not in _SCHEMA_FILES and self.kind != "label":
            return  # a labels listing has no schema of its own
        names = [_SCHEMA_FILES["image" if self.kind == "label" else str(self.kind)]]
        if self.kind == "label":
            names.append(_SCHEMA_FILES["label"])
        if self.strict and self.kind in ("image", "label"):
            names.append("strict_image.schema")
        for name in names:
            schema = _schema(self.version or "", name)
            if schema is None:
                continue
            from jsonschema import Draft202012Validator  # slow to import: only when used

            validator = Draft202012Validator(schema, registry=_registry())
            for error in sorted(validator.iter_errors(self.attrs), key=lambda e: list(e.path)):
                self.add(_json_path(error.absolute_path), error.message, "schema")

    # -- multiscales ----------------------------------------------------------------------------

    def _multiscale(self, ms: dict[str, Any], where: str) -> None:
        axes = [a for a in ms.get("axes") or [] if isinstance(a, dict)]
        self._axes(axes, f"{where}.axes")
        ndim = len(axes)
        previous_scale: list[float] | None = None
        previous_shape: tuple[int, ...] | None = None
        for d, dataset in enumerate(ms.get("datasets") or []):
            dw = f"{where}.datasets[{d}]"
            scale = self._transforms(dataset.get("coordinateTransformations") or [], ndim, dw)
            if _any_pair(scale, previous_scale, lambda new, old: new < old):
                self.add(
                    f"{dw}.coordinateTransformations",
                    f"scale {scale} is smaller than "
                    f"the previous level's {previous_scale} on some axis; levels must "
                    "go from highest to lowest resolution",
                    "levels-shrink",
                )
            previous_scale = scale or previous_scale
            previous_shape = self._array(dataset, axes, dw, previous_shape)

    def _axes(self, axes: list[dict[str, Any]], where: str) -> None:
        if not 2 <= len(axes) <= 5:
            self.add(where, f"{len(axes)} axes; expected 2 to 5", "axis-count")
        types = [a.get("type") for a in axes]
        names = [a.get("name") for a in axes]
        space = types.count("space")
        if not 2 <= space <= 3:
            self.add(where, f"{space} axes of type 'space'; expected 2 or 3", "axis-count")
        if types.count("time") > 1:
            self.add(where, "more than one axis of type 'time'; expected at most one", "axis-count")
        others = [n for n, t in zip(names, types, strict=True) if t not in ("space", "time")]
        if len(others) > 1:
            self.add(
                where,
                f"axes {others} are channel or custom axes; expected at most one",
                "axis-count",
            )
        if len(set(names)) != len(names):
            self.add(where, f"axis names {names} repeat; expected unique names", "axis-names")
        rank = [0 if t == "time" else 2 if t == "space" else 1 for t in types]
        if rank != sorted(rank):
            self.add(
                where,
                f"axis order {names} ({types}); expected time first, then channel "
                "or custom, then space",
                "axis-order",
            )
        spatial = [n for n, t in zip(names, types, strict=True) if t == "space"]
        if set(spatial) <= {"z", "y", "x"} and spatial != [n for n in "zyx" if n in spatial]:
            self.add(
                where, f"spatial axes {spatial}; should be ordered z, y, x", "axis-order", "warning"
            )
        for i, axis in enumerate(axes):
            self._unit(axis, f"{where}[{i}]")

    def _unit(self, axis: dict[str, Any], where: str) -> None:
        kind, unit = axis.get("type"), axis.get("unit")
        allowed = {"space": SPACE_UNITS, "time": TIME_UNITS}.get(str(kind))
        if allowed is None:
            return
        if unit is None:
            example = "micrometer" if kind == "space" else "second"
            self.add(
                where,
                f"{kind} axis {axis.get('name')!r} has no unit; should have one "
                f"such as {example!r}",
                "unit",
                "warning",
            )
            return
        if unit in allowed:
            return
        guess = _UNIT_ALIASES.get(str(unit).casefold()) or next(
            iter(difflib.get_close_matches(str(unit), allowed, n=1)), None
        )
        hint = f"; did you mean {guess!r}?" if guess in allowed else ""
        self.add(
            f"{where}.unit",
            f"unit {unit!r} is not a UDUNITS-2 {kind} unit from the spec's list{hint}",
            "unit",
            "warning",
        )

    def _transforms(self, transforms: list[Any], ndim: int, where: str) -> list[float] | None:
        types = [t.get("type") for t in transforms if isinstance(t, dict)]
        tw = f"{where}.coordinateTransformations"
        if types not in (["scale"], ["scale", "translation"]):
            self.add(
                tw,
                f"transformations {types}; expected exactly one 'scale', optionally "
                "followed by one 'translation'",
                "transform-order",
            )
        scale = None
        for i, transform in enumerate(transforms):
            if not isinstance(transform, dict):
                continue
            kind = transform.get("type")
            values = transform.get(kind) if kind in ("scale", "translation") else None
            if not isinstance(values, list):
                continue
            if len(values) != ndim:
                self.add(
                    f"{tw}[{i}].{kind}",
                    f"{len(values)} values; expected {ndim}, one per axis",
                    "transform-length",
                )
            if kind == "scale":
                scale = [float(v) for v in values if isinstance(v, int | float)]
                if any(v <= 0 for v in scale):
                    self.add(
                        f"{tw}[{i}].scale",
                        f"scale {values} has values <= 0; expected positive",
                        "scale-positive",
                    )
        return scale

    def _array(
        self,
        dataset: dict[str, Any],
        axes: list[dict[str, Any]],
        where: str,
        previous: tuple[int, ...] | None,
    ) -> tuple[int, ...] | None:
        if not self.arrays:
            return previous
        path = str(dataset.get("path"))
        info = self.arrays.get(path)
        if info is None:
            self.add(
                f"{where}.path",
                f"dataset {path!r} has no array (its metadata was not found)",
                "array-missing",
            )
            return previous
        names = [a.get("name") for a in axes]
        if len(info.shape) != len(axes):
            self.add(
                f"{where}.path",
                f"array {path!r} has {len(info.shape)} dimensions; "
                f"expected {len(axes)}, one per axis {names}",
                "shape-axes",
            )
        if self.version == "0.5":
            if info.dimension_names is None:
                self.add(
                    f"{where}.path",
                    f"array {path!r} has no dimension_names; 0.5 requires "
                    f"them to equal the axis names {names}",
                    "dimension-names",
                )
            elif list(info.dimension_names) != names:
                self.add(
                    f"{where}.path",
                    f"array {path!r} has dimension_names "
                    f"{list(info.dimension_names)}; expected the axis names {names}",
                    "dimension-names",
                )
        if self.kind == "label" and not np.issubdtype(np.dtype(info.dtype), np.integer):
            self.add(
                f"{where}.path",
                f"label array {path!r} has dtype {info.dtype}; expected an integer dtype",
                "label-dtype",
            )
        if _any_pair(list(info.shape), previous, lambda new, old: new > old):
            self.add(
                f"{where}.path",
                f"array {path!r} has shape {list(info.shape)}, larger "
                f"than the previous level's {list(previous or ())}",
                "levels-shrink",
            )
        return info.shape

    # -- omero, labels, plates ------------------------------------------------------------------

    def _omero(self) -> None:
        omero = self.ome.get("omero")
        if not isinstance(omero, dict):
            return
        where = f"{self.root}.omero"
        channels = omero.get("channels") or []
        for i, channel in enumerate(channels):
            if not isinstance(channel, dict):
                continue
            color = channel.get("color")
            if color is not None and not _is_hex_color(color):
                self.add(
                    f"{where}.channels[{i}].color",
                    f"color {color!r}; expected 6 hexadecimal digits such as 'FF0000'",
                    "omero",
                )
            window = channel.get("window")
            missing = {"min", "max", "start", "end"} - set(window or {})
            if missing:
                self.add(
                    f"{where}.channels[{i}].window",
                    f"window lacks {sorted(missing)}; expected min, max, start and end",
                    "omero",
                )
        size = self._channel_axis_size()
        if size is not None and channels and len(channels) != size:
            self.add(
                f"{where}.channels",
                f"{len(channels)} channels; the channel axis has {size}",
                "omero",
                "warning",
            )

    def _channel_axis_size(self) -> int | None:
        multiscales = self.ome.get("multiscales") or [{}]
        axes = multiscales[0].get("axes") or []
        datasets = multiscales[0].get("datasets") or []
        info = self.arrays.get(str(datasets[0].get("path"))) if datasets else None
        for i, axis in enumerate(axes):
            if isinstance(axis, dict) and axis.get("type") == "channel" and info is not None:
                return info.shape[i] if i < len(info.shape) else None
        return None

    def _image_label(self) -> None:
        label = self.ome.get("image-label") or {}
        where = f"{self.root}.image-label"
        seen: set[Any] = set()
        for i, color in enumerate(label.get("colors") or []):
            value = color.get("label-value") if isinstance(color, dict) else None
            if not isinstance(value, int) or isinstance(value, bool):
                self.add(
                    f"{where}.colors[{i}].label-value",
                    f"label-value {value!r}; expected an integer",
                    "image-label",
                )
            elif value in seen:
                self.add(
                    f"{where}.colors[{i}].label-value",
                    f"label-value {value} repeats; expected each value once",
                    "image-label",
                )
            seen.add(value)
            rgba = color.get("rgba") if isinstance(color, dict) else None
            if rgba is not None and not (
                isinstance(rgba, list)
                and len(rgba) == 4
                and all(isinstance(c, int) and 0 <= c <= 255 for c in rgba)
            ):
                self.add(
                    f"{where}.colors[{i}].rgba",
                    f"rgba {rgba!r}; expected four integers from 0 to 255",
                    "image-label",
                )

    def _plate(self) -> None:
        plate = self.ome.get("plate") or {}
        where = f"{self.root}.plate"
        rows = [r.get("name") for r in plate.get("rows") or [] if isinstance(r, dict)]
        columns = [c.get("name") for c in plate.get("columns") or [] if isinstance(c, dict)]
        paths: set[str] = set()
        for i, well in enumerate(plate.get("wells") or []):
            if not isinstance(well, dict):
                continue
            ww = f"{where}.wells[{i}]"
            row, column = well.get("rowIndex"), well.get("columnIndex")
            path = str(well.get("path"))
            if not isinstance(row, int) or not 0 <= row < len(rows):
                self.add(
                    f"{ww}.rowIndex", f"rowIndex {row!r}; expected 0 to {len(rows) - 1}", "plate"
                )
                continue
            if not isinstance(column, int) or not 0 <= column < len(columns):
                self.add(
                    f"{ww}.columnIndex",
                    f"columnIndex {column!r}; expected 0 to {len(columns) - 1}",
                    "plate",
                )
                continue
            expected = f"{rows[row]}/{columns[column]}"
            if path != expected:
                self.add(
                    f"{ww}.path",
                    f"path {path!r}; expected {expected!r} from its row and column",
                    "plate",
                )
            if path in paths:
                self.add(f"{ww}.path", f"well {path!r} is listed twice", "plate")
            paths.add(path)


def _any_pair(new: Any, old: Any, test: Any) -> bool:
    """True when ``new`` and ``old`` have the same length and ``test`` holds on some pair."""
    if new is None or old is None or len(new) != len(old):
        return False
    return any(test(n, o) for n, o in zip(new, old, strict=True))


def _kind(ome: dict[str, Any]) -> str | None:
    if "multiscales" in ome:
        return "label" if "image-label" in ome else "image"
    for key, kind in (
        ("plate", "plate"),
        ("well", "well"),
        ("bioformats2raw.layout", "bioformats2raw"),
        ("labels", "labels"),
    ):
        if key in ome:
            return kind
    return None


def _declared_version(ome: dict[str, Any]) -> str | None:
    if "version" in ome:
        return str(ome["version"])
    for key in ("multiscales", "plate", "well", "image-label"):
        value = ome.get(key)
        entry = value[0] if isinstance(value, list) and value else value
        if isinstance(entry, dict) and "version" in entry:
            return str(entry["version"])
    return None


def _is_hex_color(value: Any) -> bool:
    return (
        isinstance(value, str)
        and len(value) == 6
        and all(c in "0123456789abcdefABCDEF" for c in value)
    )


def _json_path(parts: Any) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


@cache
def _schema(version: str, name: str) -> dict[str, Any] | None:
    resource = files("bioshare.ngff") / "schemas" / f"v{version.replace('.', '_')}" / name
    if not resource.is_file():
        return None
    return dict(json.loads(resource.read_text(encoding="utf-8")))


@cache
def _registry() -> Registry:
    from referencing import Registry, Resource

    resources = []
    for version in VERSIONS:
        folder = files("bioshare.ngff") / "schemas" / f"v{version.replace('.', '_')}"
        for entry in folder.iterdir():
            if entry.name.endswith(".schema"):
                contents = json.loads(entry.read_text(encoding="utf-8"))
                contents.setdefault("$schema", "https://json-schema.org/draft/2020-12/schema")
                resources.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources)
