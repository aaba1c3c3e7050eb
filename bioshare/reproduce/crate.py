"""A captured analysis as a Process Run Crate (RO-Crate 1.2, written with ``rocrate``).

Layout of the crate (a folder, or the same as a zip)::

    ro-crate-metadata.json     root Dataset conformsTo the Process Run Crate 0.5 profile
    <notebook>.ipynb           the notebook (File, SoftwareSourceCode): the run's instrument
    <notebook>.executed.ipynb  the notebook as executed at capture time (a result)
    inputs/<parameter>/...     local input files, copied (objects, with sha256)
    outputs/<name>.<ext>       every recorded output (results, with sha256)
    bioshare-analysis.json     parameters, inputs, outputs with tolerances and the
                               environment, exactly; what `bioshare.rerun` reads

The graph tells people and RO-Crate tools what ran (``CreateAction`` with ``instrument``,
``object``: input files and parameters as ``PropertyValue``, ``result``, ``agent``,
``startTime``/``endTime``), and which Python and package versions it ran with
(``SoftwareApplication`` entities under the notebook's ``softwareRequirements``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote

from bioshare.errors import BioshareError, WriteError
from bioshare.reproduce.outputs import MEDIA_TYPES, OutputSpec

__all__ = [
    "ANALYSIS_FILE",
    "PROFILE",
    "Analysis",
    "InputRecord",
    "is_process_crate",
    "open_crate",
    "write_crate",
]

PROFILE = "https://w3id.org/ro/wfrun/process/0.5"
CRATE_VERSION = "1.2"
METADATA_FILE = "ro-crate-metadata.json"
ANALYSIS_FILE = "bioshare-analysis.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class InputRecord:
    """An input of the analysis: a notebook parameter naming a file, folder or URL.

    ``path`` is where a copy lives in the crate (None when not included: URLs, or files
    too large to include); ``sha256`` is the content's checksum when it was local.
    """

    parameter: str
    value: str
    kind: str  # "file", "directory" or "url"
    sha256: str | None = None
    size: int | None = None
    path: str | None = None


@dataclass
class Analysis:
    """A captured analysis: what ran, with what, and what it gave."""

    title: str
    notebook: str
    parameters: dict[str, Any]
    inputs: list[InputRecord]
    outputs: list[OutputSpec]
    environment: dict[str, Any]
    start: str
    end: str
    executed: str | None = None
    agent: str | None = None
    description: str = ""
    license: str | None = None  # an SPDX id or licence URL
    bioshare_version: str = ""
    path: Path | None = field(default=None, compare=False)  # the crate, once written or read

    def output(self, name: str) -> OutputSpec:
        """The declared output ``name``."""
        for spec in self.outputs:
            if spec.name == name:
                return spec
        known = ", ".join(s.name for s in self.outputs) or "none"
        raise KeyError(f"no output {name!r} in this analysis; recorded: {known}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("path")
        data["outputs"] = [s.to_dict() for s in self.outputs]
        data["format"] = FORMAT_VERSION
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path | None = None) -> Analysis:
        try:
            analysis = cls(
                title=str(data["title"]),
                notebook=str(data["notebook"]),
                parameters=dict(data.get("parameters") or {}),
                inputs=[InputRecord(**i) for i in data.get("inputs") or []],
                outputs=[OutputSpec.from_dict(o) for o in data.get("outputs") or []],
                environment=dict(data.get("environment") or {}),
                start=str(data.get("start") or ""),
                end=str(data.get("end") or ""),
                executed=data.get("executed"),
                agent=data.get("agent"),
                description=str(data.get("description") or ""),
                license=data.get("license"),
                bioshare_version=str(data.get("bioshare_version") or ""),
                path=path,
            )
        except (KeyError, TypeError) as exc:
            raise BioshareError(
                f"{path or ANALYSIS_FILE}: not a bioshare analysis description ({exc}); "
                "expected title, notebook, parameters, inputs, outputs and environment"
            ) from exc
        # Paths come from a downloaded file: none may lead out of the crate.
        where = path or ANALYSIS_FILE
        _inside(analysis.notebook, f"{where}: notebook")
        for spec in analysis.outputs:
            _inside(f"outputs/{spec.file}", f"{where}: output {spec.name!r}")
        for item in analysis.inputs:
            if item.path is not None:
                _inside(item.path, f"{where}: input {item.parameter!r}")
        return analysis

    def _repr_html_(self) -> str:
        import html

        rows = "".join(
            f"<tr><td>{html.escape(s.name)}</td><td>{s.kind}</td><td><code>{s.sha256[:12]}</code>"
            "</td></tr>"
            for s in self.outputs
        )
        where = html.escape(str(self.path)) if self.path else "(not written)"
        return (
            f"<p><b>{html.escape(self.title)}</b>: notebook <code>{html.escape(self.notebook)}"
            f"</code>, {len(self.parameters)} parameter(s), {len(self.inputs)} input(s), "
            f"Python {html.escape(str(self.environment.get('python', '?')))} with "
            f"{len(self.environment.get('packages', {}))} package(s); crate {where}</p>"
            f"<table><tr><th>output</th><th>kind</th><th>sha256</th></tr>{rows}</table>"
        )


def _inside(relative: str, what: str) -> None:
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts or "\\" in relative or not relative:
        raise BioshareError(f"{what} is {relative!r}; expected a path inside the crate")


# -- writing ------------------------------------------------------------------------------------


def write_crate(
    analysis: Analysis,
    files: dict[str, Path],
    dest: Path,
    *,
    overwrite: bool = False,
) -> Path:
    """Write ``analysis`` with ``files`` (crate path -> source) as a crate at ``dest``.

    ``dest`` ending in ``.zip`` gives a zip. Built in a temporary sibling and moved into
    place when complete.
    """
    from rocrate.rocrate import ROCrate

    dest = Path(dest)
    if (dest.exists() or dest.is_symlink()) and not overwrite:
        raise WriteError(f"{dest} already exists; pass overwrite=True to replace it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    try:
        payload = staging / "crate"
        payload.mkdir()
        crate = ROCrate(version=CRATE_VERSION)
        _describe(crate, analysis, files, payload)
        if dest.suffix.lower() == ".zip":
            built = staging / "crate.zip"
            crate.write_zip(built)
        else:
            crate.write(payload)
            built = payload
        if (dest.exists() or dest.is_symlink()) and overwrite:
            if dest.is_dir():
                shutil.rmtree(dest)
            else:
                dest.unlink()
        os.replace(built, dest)
    except OSError as exc:
        raise WriteError(f"cannot write the analysis crate {dest}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    analysis.path = dest
    return dest


def _describe(crate: Any, analysis: Analysis, files: dict[str, Path], payload: Path) -> None:
    from rocrate.model.contextentity import ContextEntity

    def add_file(rel: str, source: Path, props: dict[str, Any]) -> Any:
        target = payload / PurePosixPath(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
            return crate.add_dataset(target, dest_path=rel, properties=props)
        shutil.copyfile(source, target)
        props.setdefault("contentSize", str(target.stat().st_size))
        return crate.add_file(target, dest_path=rel, properties=props)

    def context(node_id: str, props: dict[str, Any]) -> Any:
        return crate.add(ContextEntity(crate, node_id, properties=props))

    root = crate.root_dataset
    root["name"] = analysis.title
    root["description"] = analysis.description or f"A run of the notebook {analysis.notebook}"
    root["datePublished"] = analysis.end
    context(
        PROFILE,
        {"@type": ["CreativeWork", "Profile"], "name": "Process Run Crate", "version": "0.5"},
    )
    root["conformsTo"] = {"@id": PROFILE}
    root["license"] = {"@id": _licence(crate, analysis.license)}

    environment = analysis.environment
    python = context(
        "#python",
        {
            "@type": "SoftwareApplication",
            "name": f"{environment.get('implementation', 'Python')}",
            "url": "https://www.python.org/",
            "version": str(environment.get("python", "")),
            "operatingSystem": str(environment.get("platform", "")),
        },
    )
    packages = [
        context(
            f"#package-{name}",
            {
                "@type": "SoftwareApplication",
                "name": name,
                "url": f"https://pypi.org/project/{name}/",
                "version": str(version),
            },
        )
        for name, version in sorted((environment.get("packages") or {}).items())
    ]
    notebook = add_file(
        analysis.notebook,
        files[analysis.notebook],
        {
            "@type": ["File", "SoftwareSourceCode"],
            "name": analysis.notebook,
            "encodingFormat": "application/x-ipynb+json",
            "programmingLanguage": "Python",
            "runtimePlatform": f"Python {environment.get('python', '')}".strip(),
            "softwareRequirements": [{"@id": python.id}, *({"@id": p.id} for p in packages)],
        },
    )
    objects: list[Any] = []
    for item in analysis.inputs:
        props = {
            "name": f"{item.parameter} (input)",
            "description": f"Parameter {item.parameter!r} of the notebook; originally {item.value}",
            "alternateName": item.value,
        }
        if item.sha256:
            props["sha256"] = item.sha256
        if item.path is not None:
            objects.append(add_file(item.path, files[item.path], props))
        else:
            kind = "CreativeWork" if item.kind == "url" else "File"
            node = item.value if item.kind == "url" else f"#input-{item.parameter}"
            objects.append(context(node, {"@type": kind, **props}))
    for name, value in analysis.parameters.items():
        shown = value if isinstance(value, str | int | float | bool) else json.dumps(value)
        objects.append(
            context(f"#parameter-{name}", {"@type": "PropertyValue", "name": name, "value": shown})
        )
    results = []
    for spec in analysis.outputs:
        rel = f"outputs/{spec.file}"
        results.append(
            add_file(
                rel,
                files[rel],
                {
                    "name": f"{spec.name} (output)",
                    "description": f"Output {spec.name!r} ({spec.kind}) recorded by the notebook",
                    "encodingFormat": MEDIA_TYPES[spec.kind],
                    "sha256": spec.sha256,
                },
            )
        )
    if analysis.executed:
        results.append(
            add_file(
                analysis.executed,
                files[analysis.executed],
                {
                    "name": "Executed notebook",
                    "description": "The notebook with its outputs, as executed at capture time",
                    "encodingFormat": "application/x-ipynb+json",
                },
            )
        )
    add_file(
        ANALYSIS_FILE,
        files[ANALYSIS_FILE],
        {
            "name": "bioshare analysis description",
            "description": "Parameters, inputs, outputs with comparison tolerances and the "
            "environment, as read by bioshare.rerun",
            "encodingFormat": "application/json",
        },
    )
    action: dict[str, Any] = {
        "@type": "CreateAction",
        "name": f"Run of {analysis.notebook}",
        "description": "papermill execution with parameters "
        + json.dumps(analysis.parameters, sort_keys=True),
        "instrument": {"@id": notebook.id},
        "object": [{"@id": o.id} for o in objects],
        "result": [{"@id": r.id} for r in results],
        "startTime": analysis.start,
        "endTime": analysis.end,
        "actionStatus": {"@id": "http://schema.org/CompletedActionStatus"},
    }
    if analysis.agent:
        agent_id = analysis.agent if analysis.agent.startswith("https://") else "#agent"
        name = analysis.agent if agent_id == "#agent" else analysis.agent.rsplit("/", 1)[-1]
        context(agent_id, {"@type": "Person", "name": name})
        action["agent"] = {"@id": agent_id}
    run = context(f"#run-{uuid.uuid4()}", action)
    root["mentions"] = {"@id": run.id}


def _licence(crate: Any, licence: str | None) -> str:
    """The licence entity's id; without one, an entity saying that none was given."""
    from rocrate.model.contextentity import ContextEntity

    if licence and "://" in licence:
        node, props = licence, {"@type": "CreativeWork", "name": licence}
    elif licence:
        node = f"https://spdx.org/licenses/{licence}"
        props = {"@type": "CreativeWork", "name": licence, "identifier": licence}
    else:
        node = "#no-licence"
        props = {
            "@type": "CreativeWork",
            "name": "No licence given",
            "description": "No licence was chosen when this analysis was captured; ask its "
            "author before reusing it",
        }
    crate.add(ContextEntity(crate, node, properties=props))
    return node


# -- reading ------------------------------------------------------------------------------------


def is_process_crate(folder: Path) -> bool:
    """True when ``folder`` holds a crate whose root conforms to the Process Run Crate profile."""
    path = folder / METADATA_FILE
    if not path.is_file():
        return False
    try:
        graph = json.loads(path.read_text()).get("@graph", [])
    except ValueError:
        return False
    root = next((e for e in graph if isinstance(e, dict) and e.get("@id") == "./"), {})
    return PROFILE.rsplit("/", 1)[0] in json.dumps(root.get("conformsTo", ""))


def open_crate(path: Path, workdir: Path) -> Analysis:
    """Read the analysis crate at ``path`` (a folder, or a zip extracted into ``workdir``)."""
    from rocrate.rocrate import ROCrate

    path = Path(path)
    if path.is_file() and zipfile.is_zipfile(path):
        folder = workdir / "crate"
        _extract(path, folder)
        path = folder
    if not is_process_crate(path):
        raise BioshareError(
            f"{path} is not a captured analysis: expected {METADATA_FILE} whose root Dataset "
            f"conformsTo {PROFILE}"
        )
    crate = ROCrate(path)
    actions = [e for e in crate.get_entities() if e.type == "CreateAction"]
    if not actions:
        raise BioshareError(f"{path / METADATA_FILE}: no CreateAction; expected the notebook's run")
    described = path / ANALYSIS_FILE
    if not described.is_file():
        raise BioshareError(f"{path}: {ANALYSIS_FILE} is missing; it holds what bioshare re-runs")
    analysis = Analysis.from_dict(json.loads(described.read_text()), path)
    instrument = actions[0].get("instrument")
    # rocrate percent-encodes ids: "count nuclei.ipynb" is "count%20nuclei.ipynb"
    named = getattr(instrument, "id", None)
    if instrument is not None and (named is None or unquote(named) != analysis.notebook):
        raise BioshareError(
            f"{path}: the CreateAction's instrument is {getattr(instrument, 'id', instrument)!r} "
            f"but {ANALYSIS_FILE} names the notebook {analysis.notebook!r}"
        )
    return analysis


def _extract(archive: Path, folder: Path) -> None:
    """Extract a zip, refusing entries that would land outside ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    base = folder.resolve()
    with zipfile.ZipFile(archive) as zf:
        for name in zf.namelist():
            target = (folder / name).resolve()
            if not target.is_relative_to(base):
                raise BioshareError(f"{archive}: entry {name!r} would be written outside the crate")
        zf.extractall(folder)
    # a crate zipped with its folder (zip -r x.zip x/) has one top folder
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if not (folder / METADATA_FILE).exists() and len(entries) == 1 and entries[0].is_dir():
        inner = entries[0]
        for child in inner.iterdir():
            os.replace(child, folder / child.name)
        inner.rmdir()
