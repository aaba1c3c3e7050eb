"""Checks that make an Intake 2 catalog from elsewhere safe to load.

Loading and reading an Intake 2 catalog can run code. Intake imports every ``reader:`` and
``datatype:`` dotted path when an entry is accessed, every user parameter's ``cls`` (and
any ``cls`` key of an entry or data description) as soon as the catalog is loaded, and the
``output_instance`` of an entry on tab completion; ``{func(...)}`` and ``{import(...)}``
templates import arbitrary names; ``{pickle64(...)}`` unpickles; ``{env(VAR)}`` copies an
environment variable (a token, say) into a URL that the catalog's author controls, even
with ``allow_templates=False``; and format fields such as ``{CATALOG_DIR.__class__}`` or
``{STORAGE_OPTIONS}`` walk attributes or leak the credentials the catalog was loaded with.

`check_catalog` therefore inspects the *raw* catalog (the dict parsed from YAML) before
Intake builds anything from it: only allow-listed readers, data types, user parameter
classes and output types, no dangerous templates in any string at any depth, and only plain
parameter names in template fields. `bioshare.catalog.catalogs.open_catalog` runs it unless
``trusted=True``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from typing import Any

from bioshare.errors import BioshareError

__all__ = [
    "ALLOWED_DATATYPES",
    "ALLOWED_READERS",
    "ALLOWED_USER_PARAMETERS",
    "UntrustedCatalogError",
    "check_catalog",
]


class UntrustedCatalogError(BioshareError, ValueError):
    """A catalog names code to import or templates to expand that bioshare does not trust.

    Open it with ``trusted=True`` only if you trust whoever wrote it.
    """


# Reader class -> the output type it produces (an entry may only declare that one).
# bioshare's own readers, plus two of Intake's that only read array data from the URL
# they are given through zarr/xarray and take no callables (their keyword arguments
# reach zarr.open_array / xarray.open_dataset, whose engines are chosen by name among
# the installed ones). Catalog readers of Intake's are left out on purpose: a nested
# catalog would be loaded by Intake without these checks.
ALLOWED_READERS: dict[str, str] = {
    "bioshare.catalog.readers:OMEZarrReader": "xarray:DataArray",
    "bioshare.catalog.readers:OMEZarrTreeReader": "xarray:DataTree",
    "bioshare.catalog.readers:RepositoryCatalogReader": "intake.readers.entry:Catalog",
    "intake.readers.readers:DaskZarr": "dask.array:Array",
    "intake.readers.readers:XArrayDatasetReader": "xarray:Dataset",
}
# Data types are plain records (URL, options) whose constructors only store arguments.
ALLOWED_DATATYPES: frozenset[str] = frozenset(
    {
        "bioshare.catalog.readers:OMEZarr",
        "bioshare.catalog.readers:RepositoryQuery",
        "intake.readers.datatypes:Zarr",
    }
)
# Intake's own parameter classes: they store a default and coerce to a builtin type.
ALLOWED_USER_PARAMETERS: frozenset[str] = frozenset(
    f"intake.readers.user_parameters:{name}"
    for name in (
        "BaseUserParameter",
        "SimpleUserParameter",
        "OptionsUserParameter",
        "MultiOptionUserParameter",
        "BoundedNumberUserParameter",
    )
)
# Builtin types a SimpleUserParameter may coerce to (it calls ``getattr(builtins, dtype)``).
_SAFE_DTYPES = frozenset({"str", "int", "float", "bool", "list", "tuple", "dict", "object"})
# Templates that import, unpickle or read the environment, anywhere in a string.
_DANGEROUS = re.compile(r"\{\s*(env|func|import|pickle64)\s*\(", re.IGNORECASE)
# A user parameter default that *starts* with one of these is expanded by Intake.
_DANGEROUS_DEFAULT = re.compile(r"\s*(env|func|import|pickle64)\s*\(", re.IGNORECASE)
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|data\([^(){}]*\)|\d*")
_SECRET_FIELDS = frozenset({"STORAGE_OPTIONS"})


def check_catalog(raw: Mapping[str, Any], source: str = "catalog") -> None:
    """Raise `UntrustedCatalogError` unless the raw catalog is safe to load.

    Parameters
    ----------
    raw
        The catalog as parsed from YAML (``yaml.safe_load``), before Intake sees it.
    source
        Where it came from, for messages.
    """
    if not isinstance(raw, Mapping):
        raise UntrustedCatalogError(
            f"{source}: a catalog is a mapping with 'entries' and 'data'; found "
            f"{type(raw).__name__}"
        )
    _check_strings(raw, source)
    for name, entry in _section(raw, "entries", source):
        _check_entry(name, entry, source)
    for name, data in _section(raw, "data", source):
        _check_data(name, data, source)
    for where, params in _parameter_sets(raw):
        _check_parameters(params, f"{source}: {where}")


def _section(raw: Mapping[str, Any], key: str, source: str) -> Iterator[tuple[str, Any]]:
    section = raw.get(key) or {}
    if not isinstance(section, Mapping):
        raise UntrustedCatalogError(
            f"{source}: '{key}' must be a mapping of names to descriptions; "
            f"found {type(section).__name__}"
        )
    return iter(section.items())


def _check_entry(name: str, entry: Any, source: str) -> None:
    where = f"{source}: entry {name!r}"
    desc = _description(entry, where)
    reader = desc.get("reader")
    if reader not in ALLOWED_READERS:
        raise UntrustedCatalogError(
            f"{where} uses reader {reader!r}, which bioshare does not trust (importing it "
            f"could run code); allowed readers: {', '.join(sorted(ALLOWED_READERS))}. "
            "Open the catalog with trusted=True only if you trust its author."
        )
    output = desc.get("output_instance")
    if output is not None and output != ALLOWED_READERS[reader]:
        raise UntrustedCatalogError(
            f"{where} declares output_instance {output!r}; {reader} produces "
            f"{ALLOWED_READERS[reader]!r} (Intake imports this name on tab completion)"
        )
    _check_templates(desc.get("kwargs"), f"{where} kwargs")


def _check_data(name: str, data: Any, source: str) -> None:
    where = f"{source}: data {name!r}"
    desc = _description(data, where)
    datatype = desc.get("datatype")
    if datatype not in ALLOWED_DATATYPES:
        raise UntrustedCatalogError(
            f"{where} uses datatype {datatype!r}, which bioshare does not trust (importing "
            f"it could run code); allowed datatypes: {', '.join(sorted(ALLOWED_DATATYPES))}. "
            "Open the catalog with trusted=True only if you trust its author."
        )
    _check_templates(desc.get("kwargs"), f"{where} kwargs")


def _description(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise UntrustedCatalogError(f"{where} must be a mapping; found {type(value).__name__}")
    if "cls" in value:
        raise UntrustedCatalogError(
            f"{where} has a 'cls' key ({value['cls']!r}), which Intake imports as soon as the "
            "catalog is loaded; descriptions never need one"
        )
    return value


def _parameter_sets(raw: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every user_parameters mapping: the catalog's, each entry's and each data's."""
    yield "user_parameters", raw.get("user_parameters")
    for key, label in (("entries", "entry"), ("data", "data")):
        for name, desc in (raw.get(key) or {}).items():
            if isinstance(desc, Mapping):
                yield f"{label} {name!r} user_parameters", desc.get("user_parameters")


def _check_parameters(params: Any, where: str) -> None:
    if params is None:
        return
    if not isinstance(params, Mapping):
        raise UntrustedCatalogError(f"{where} must be a mapping; found {type(params).__name__}")
    for name, param in params.items():
        here = f"{where} {name!r}"
        if not isinstance(param, Mapping):
            _check_default(param, here)
            continue
        cls = param.get("cls")
        if cls is not None and cls not in ALLOWED_USER_PARAMETERS:
            raise UntrustedCatalogError(
                f"{here} has class {cls!r}, which Intake imports when the catalog is loaded; "
                f"allowed: {', '.join(sorted(ALLOWED_USER_PARAMETERS))}"
            )
        dtype = param.get("dtype")
        if dtype is not None and dtype not in _SAFE_DTYPES:
            raise UntrustedCatalogError(
                f"{here} has dtype {dtype!r}; expected one of {sorted(_SAFE_DTYPES)}"
            )
        for key in ("default", "options", "min", "max"):
            if key in param:
                _check_default(param[key], f"{here} {key}")


def _check_default(value: Any, where: str) -> None:
    for text in _strings(value):
        if _DANGEROUS_DEFAULT.match(text):
            raise UntrustedCatalogError(
                f"{where} is {_shorten(text)!r}: Intake expands a default that starts with "
                "env(, func(, import( or pickle64( (reading the environment or importing "
                "code); use a literal value"
            )
    _check_templates(value, where)


def _check_strings(raw: Mapping[str, Any], source: str) -> None:
    """No env/func/import/pickle64 template in any key or value, at any depth."""
    for path, text in _walk(raw, ""):
        match = _DANGEROUS.search(text)
        if match:
            kind = match.group(1).lower()
            raise UntrustedCatalogError(
                f"{source}: {path or 'a key'} holds a {{{kind}(...)}} template "
                f"({_shorten(text)!r}); {_WHY[kind]}. Templates allowed in untrusted "
                "catalogs: {data(<name>)} and {<user parameter>}"
            )


_WHY = {
    "env": "it would copy an environment variable (a token, say) into the catalog's values",
    "func": "it would import arbitrary code",
    "import": "it would import arbitrary code",
    "pickle64": "it would unpickle arbitrary objects, which runs code",
}


def _check_templates(value: Any, where: str) -> None:
    """Template fields in values Intake formats must be plain parameter names or data(...)."""
    for text in _strings(value):
        for field in _fields(text):
            if not _FIELD.fullmatch(field):
                raise UntrustedCatalogError(
                    f"{where}: template field {{{_shorten(field)}}} in {_shorten(text)!r} is "
                    "not a plain parameter name; attribute and item access ('.', '[') and "
                    "other expressions are not allowed in untrusted catalogs"
                )
            if field in _SECRET_FIELDS:
                raise UntrustedCatalogError(
                    f"{where}: template field {{{field}}} in {_shorten(text)!r} would copy the "
                    "storage options (credentials) the catalog was loaded with into a value"
                )


def _fields(text: str) -> Iterator[str]:
    """Field names of a format string, nested ones included; none if it is not one."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError:
        return  # not a valid format string: Intake leaves it as it is
    for _, field, spec, _ in parsed:
        if field is None:
            continue
        yield field
        if spec:
            yield from _fields(spec)


def _walk(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, text) of every string key and value, recursively."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(key, str):
                yield here, key
            yield from _walk(item, here)
    elif isinstance(value, list | tuple | set):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]")


def _strings(value: Any) -> Iterator[str]:
    for _, text in _walk(value, ""):
        yield text


def _shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
