"""`MetadataEditor`: a notebook form for REMBI metadata, checked as you type and autosaved.

The form is generated from the `bioshare.metadata` models: one section per REMBI module,
required fields marked, field help from the models' titles, descriptions and examples.
What the form holds (`MetadataEditor.values`) is the raw data `Study.check` takes, so an
unfinished or wrong entry is never lost: it is reported (`issues`, `score`, `ok`) and
written to a local JSON file after every change, from which a new editor starts again
after a kernel restart or a closed tab.

>>> editor = MetadataEditor(autosave=None)  # doctest: +SKIP
>>> editor.set_value("title", "Mitosis in HeLa cells")  # doctest: +SKIP
>>> editor.study.title  # doctest: +SKIP
'Mitosis in HeLa cells'
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from enum import Enum
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin

import anywidget
import traitlets
from pydantic import BaseModel

from bioshare.errors import BioshareError, MetadataError
from bioshare.metadata.checks import LICENCES
from bioshare.metadata.models import StudyComponent, obligation
from bioshare.metadata.ontology import ONTOLOGIES, OntologyTerm, lookup_term
from bioshare.metadata.report import CompletenessReport
from bioshare.metadata.study import Study

__all__ = [
    "AUTOSAVE",
    "MetadataEditor",
    "check_values",
    "form_schema",
    "parse_path",
    "read_autosave",
    "values_of",
    "write_autosave",
]

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
AUTOSAVE = "bioshare-metadata.json"
"""The default autosave file, in the notebook's working folder."""
FORMAT = "bioshare-metadata-form"
LOOKUP_LIMIT = 10

# Sections of the form: Study fields holding lists of REMBI modules, in REMBI's order.
# Every other Study field (title, licence, grants, publications...) is in "Study".
SECTIONS = (
    ("author", "Authors"),
    ("biosample", "Biosamples"),
    ("specimen", "Specimens"),
    ("image_acquisition", "Image acquisitions"),
    ("image_correlation", "Image correlations"),
    ("image_analysis", "Image analyses"),
    ("annotation", "Annotations"),
    ("study_component", "Study components"),
)
# The ontologies each term field takes (the models' validators say the same).
TERM_ONTOLOGIES = {
    "organism_classification": ["ncbitaxon"],
    "biological_entity": ["efo", "cl", "uberon"],
    "imaging_method": ["fbbi"],
}
# Study component fields naming another module by its title.
REFERENCES = {
    "biosample",
    "specimen",
    "image_acquisition",
    "image_correlation",
    "image_analysis",
    "annotation",
}
ITEM_LABELS = {
    "author": "Author",
    "related_publication": "Publication",
    "see_also": "Link",
    "grant": "Grant",
    "funder": "Funder",
    "affiliation": "Affiliation",
    "signal_channel_information": "Channel",
    "files": "File",
    "image_data": "Image",
    "biosample": "Biosample",
    "specimen": "Specimen",
    "image_acquisition": "Image acquisition",
    "image_correlation": "Image correlation",
    "image_analysis": "Image analysis",
    "annotation": "Annotation",
    "study_component": "Study component",
}
READ_ONLY = {"image_data"}  # harvested from the images, not typed
_LONG_TEXT = re.compile(r"(description|protocol|statement|acknowledgement|matrix|criteria)$")
_INDEX = re.compile(r"\[(\d+)\]")


# -- the form description ---------------------------------------------------------------------


def form_schema() -> dict[str, Any]:
    """The form, described from the models for the widget's JavaScript.

    Returns
    -------
    dict
        ``{"sections": [...]}``. A section has ``key``, ``title``, ``path`` (the Study
        field; ``""`` for the study itself), ``repeatable``, ``item_label``,
        ``obligation`` and ``fields``. A field has ``key``, ``label``, ``description``,
        ``example``, ``obligation`` and ``kind`` (``text``, ``textarea``, ``date``,
        ``number``, ``choice``, ``list``, ``multichoice``, ``term``, ``reference``,
        ``mapping`` or ``group``) with what the kind needs: ``choices``, ``ontology``,
        ``collection``, ``value_type``, ``fields``, ``item_label``, ``readonly``.
    """
    names = {name for name, _ in SECTIONS}
    study = {
        "key": "study",
        "title": "Study",
        "path": "",
        "repeatable": False,
        "obligation": "required",
        "description": _first_line(Study.__doc__),
        "fields": [_field(Study, name) for name in Study.model_fields if name not in names],
    }
    sections = [study]
    for name, title in SECTIONS:
        group = _field(Study, name)
        sections.append(
            {
                "key": name,
                "title": title,
                "path": name,
                "repeatable": True,
                "item_label": group["item_label"],
                "obligation": group["obligation"],
                "description": group["description"],
                "fields": group["fields"],
            }
        )
    return {"sections": sections}


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if text and text.strip() else ""


def _field(model: type[BaseModel], name: str) -> dict[str, Any]:
    info = model.model_fields[name]
    field: dict[str, Any] = {
        "key": name,
        "label": info.title or name.replace("_", " ").capitalize(),
        "description": info.description or "",
        "example": "; ".join(str(e) for e in info.examples or []),
        "obligation": obligation(model, name),
    }
    field.update(_kind(model, name, info.annotation))
    return field


def _kind(model: type[BaseModel], name: str, annotation: Any) -> dict[str, Any]:
    """How the form shows a field, from its type."""
    origin = get_origin(annotation)
    if origin is dict:
        value = get_args(annotation)[1]
        return {"kind": "mapping", "value_type": "number" if value in (int, float) else "text"}
    if origin is list:
        return _list_kind(name, _item_type(annotation))
    scalar = _scalar_type(annotation)
    if name == "licence":
        return {"kind": "choice", "choices": _licence_choices()}
    if model is StudyComponent and name in REFERENCES:
        return {"kind": "reference", "collection": name}
    if scalar is dt.date:
        return {"kind": "date"}
    if scalar in (int, float):
        return {"kind": "number"}
    return {"kind": "textarea" if _LONG_TEXT.search(name) else "text"}


def _list_kind(name: str, item: Any) -> dict[str, Any]:
    if isinstance(item, type) and issubclass(item, OntologyTerm):
        return {"kind": "term", "ontology": TERM_ONTOLOGIES.get(name, list(ONTOLOGIES))}
    if isinstance(item, type) and issubclass(item, Enum):
        choices = [{"value": m.value, "label": m.value.replace("_", " ")} for m in item]
        return {"kind": "multichoice", "choices": choices}
    if isinstance(item, type) and issubclass(item, BaseModel):
        return {
            "kind": "group",
            "item_label": ITEM_LABELS.get(name, _words(item.__name__)),
            "readonly": name in READ_ONLY,
            "fields": [_field(item, child) for child in item.model_fields],
        }
    return {"kind": "list", "value_type": "number" if item in (int, float) else "text"}


def _item_type(annotation: Any) -> Any:
    args = get_args(annotation)
    item = args[0] if args else Any
    while get_args(item) and get_origin(item) is not list and hasattr(item, "__metadata__"):
        item = get_args(item)[0]  # Annotated[OntologyTerm, ...]
    return item


def _scalar_type(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, UnionType):
        args = [a for a in get_args(annotation) if a is not NoneType]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _words(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).capitalize()


def _licence_choices() -> list[dict[str, str]]:
    return [{"value": url, "label": spdx} for spdx, url in LICENCES.items()]


# -- values -----------------------------------------------------------------------------------


def values_of(study: Study) -> dict[str, Any]:
    """A study as form values: JSON data without empty fields."""
    return _compact(study.model_dump(mode="json", exclude_none=True))


def _compact(value: Any) -> Any:
    if isinstance(value, dict):
        pairs = ((k, _compact(v)) for k, v in value.items())
        return {k: v for k, v in pairs if v not in (None, "", [], {})}
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return value


def parse_path(path: str) -> list[str | int]:
    """``"author[0].contact_email"`` or ``"author.0.contact_email"`` -> its parts."""
    text = _INDEX.sub(r".\1", path.strip())
    parts: list[str | int] = []
    for part in text.split("."):
        if not part:
            raise ValueError(f"{path!r} is not a field path; expected e.g. author[0].contact_email")
        parts.append(int(part) if part.isdigit() else part)
    return parts


def _set(data: dict[str, Any], parts: Sequence[str | int], value: Any) -> None:
    """Set ``value`` at ``parts`` in nested form data, making the lists and dicts on the way.

    An empty value (None or ``""``) removes a field, or a list item.
    """
    node: Any = data
    for part, following in itertools.pairwise(parts):
        empty: Any = [] if isinstance(following, int) else {}
        if isinstance(part, int):
            while len(node) <= part:
                node.append(copy.copy(empty))
            if not isinstance(node[part], list | dict):
                node[part] = empty
        elif not isinstance(node.get(part), list | dict):
            node[part] = empty
        node = node[part]
    last = parts[-1]
    if value is None or value == "":
        if isinstance(last, int) and last < len(node):
            node.pop(last)
        elif isinstance(node, dict):
            node.pop(last, None)
    elif isinstance(last, int):
        while len(node) <= last:
            node.append(None)
        node[last] = value
    else:
        node[last] = value


def _valid_part(values: dict[str, Any]) -> tuple[Study, list[str]]:
    """The study from ``values`` without the invalid values, and where those were."""
    study, invalid = Study.valid_part(values)
    return study, [path for path, _ in invalid]


def _key(values: dict[str, Any]) -> str:
    return json.dumps(values, sort_keys=True, default=str)


def check_values(values: dict[str, Any]) -> dict[str, Any]:
    """`Study.check` of form values as widget state: ``issues``, ``score`` and ``ok``."""
    try:
        report = Study.check(values)
    except Exception as exc:  # a malformed form must not break the widget
        log.debug("checking the form failed", exc_info=True)
        issue = {"path": "(form)", "level": "invalid", "message": str(exc)}
        return {"issues": [issue], "score": 0.0, "ok": False}
    issues = [{"path": i.path, "level": i.level, "message": i.message} for i in report.issues]
    return {"issues": issues, "score": report.score, "ok": report.ok}


# -- autosave ---------------------------------------------------------------------------------


def write_autosave(path: Path, values: dict[str, Any]) -> str:
    """Write the form values to ``path`` atomically; return the time saved (ISO 8601)."""
    saved_at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    record = {"format": FORMAT, "version": 1, "saved_at": saved_at, "values": values}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=1, ensure_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return saved_at


def read_autosave(path: Path) -> tuple[dict[str, Any], str]:
    """The values in an autosave file (or a study's JSON) and when they were saved.

    Raises
    ------
    MetadataError
        The file is not JSON, or holds no form values.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MetadataError(f"{path}: cannot read the saved form ({exc})") from exc
    if isinstance(data, dict) and data.get("format") == FORMAT:
        values, saved_at = data.get("values"), str(data.get("saved_at") or "")
    else:
        values, saved_at = data, ""  # a study as JSON
    if not isinstance(values, dict):
        raise MetadataError(f"{path}: expected form values (a JSON object), not {type(values)}")
    return values, saved_at


# -- the widget -------------------------------------------------------------------------------


class MetadataEditor(anywidget.AnyWidget):
    """A form for REMBI metadata (`bioshare.metadata.Study`), checked as you type.

    Parameters
    ----------
    study
        The study to start from (when there is no autosave file yet).
    image
        Path or URL of an OME-Zarr: its Image Data (dimensions, sizes, channels...) are
        harvested with `describe_image` into the first study component.
    autosave
        The JSON file every change is written to (atomically), and which a new editor
        starts from when it exists, so that a kernel restart loses nothing. None: no
        autosave.

    Attributes
    ----------
    values : dict
        The form's data, exactly as `Study.check` takes it; assign a new dict (or use
        `set_value`) to change it from Python.
    issues : list of dict
        ``{"path", "level", "message"}`` for every missing or invalid value.
    score : float
        Completeness, 0 to 100.
    ok : bool
        Nothing required is missing and nothing is invalid.
    suggestions : dict
        The latest ontology terms suggested per field path.
    """

    _esm = STATIC / "editor.js"
    _css = STATIC / "editor.css"

    schema = traitlets.Dict().tag(sync=True)
    values = traitlets.Dict().tag(sync=True)
    issues: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    score = traitlets.Float(0.0).tag(sync=True)
    ok = traitlets.Bool(False).tag(sync=True)
    suggestions = traitlets.Dict().tag(sync=True)
    saved_at = traitlets.Unicode("").tag(sync=True)
    autosave_path = traitlets.Unicode("").tag(sync=True)
    message = traitlets.Dict({"level": "info", "text": ""}).tag(sync=True)

    def __init__(
        self,
        study: Study | None = None,
        *,
        image: str | os.PathLike[str] | None = None,
        autosave: str | os.PathLike[str] | None = AUTOSAVE,
        **kwargs: Any,
    ) -> None:
        self._autosave = Path(autosave).expanduser().resolve() if autosave else None
        self._lock = threading.Lock()
        self._answering = threading.Lock()
        self._latest: dict[str, int] = {}
        self._requests = itertools.count(1)
        self._lookups: dict[tuple[str, tuple[str, ...]], list[dict[str, str]]] = {}
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bioshare-lookup")
        values, saved_at, note = self._start_values(study)
        self._checked = _key(values)
        super().__init__(
            schema=form_schema(),
            values=values,
            saved_at=saved_at,
            autosave_path=str(self._autosave or ""),
            **check_values(values),
            **kwargs,
        )
        if not saved_at:
            self._save()  # the starting point, so that a restart finds it
        if image is not None:
            self._prefill(image)
        if note:
            self._say(note)
        self.on_msg(self._on_message)

    def _start_values(self, study: Study | None) -> tuple[dict[str, Any], str, str]:
        """The first values (the autosave's, else the study's), when saved, and a note."""
        fresh = values_of(study) if study is not None else {}
        path = self._autosave
        if path is None or not path.exists():
            return fresh, "", ""
        try:
            values, saved_at = read_autosave(path)
        except MetadataError as exc:
            return fresh, "", self._set_aside(path, exc)
        when = f" (saved {saved_at})" if saved_at else ""
        note = f"restored the form from {path.name}{when}"
        if study is not None:
            note += "; delete that file or pass autosave=None to start from `study`"
        return values, saved_at, note

    def _set_aside(self, path: Path, error: MetadataError) -> str:
        """Keep an unreadable autosave file under another name, so it is not overwritten."""
        aside = path.with_name(f"{path.name}.unreadable")
        try:
            os.replace(path, aside)
        except OSError:
            self._autosave = None
            return f"{error}; autosave is off so that the file is not overwritten"
        return f"{error}; kept it as {aside.name} and started afresh"

    # -- the model --------------------------------------------------------------------------

    @property
    def report(self) -> CompletenessReport:
        """The completeness report of the form's values (`Study.check`)."""
        return Study.check(self.values)

    @property
    def study(self) -> Study:
        """The form as a validated `Study`.

        Raises
        ------
        MetadataError
            Some values are invalid; the message lists each with its field path.
        """
        invalid = self.report.invalid
        if invalid:
            lines = "\n".join(f"- {i.path}: {i.message}" for i in invalid)
            raise MetadataError(f"the metadata form has {len(invalid)} invalid value(s):\n{lines}")
        return Study.model_validate(self.values)

    @study.setter
    def study(self, study: Study) -> None:
        self.values = values_of(study)

    def set_value(self, path: str, value: Any) -> None:
        """Set one field: ``editor.set_value("author[0].contact_email", "ada@example.org")``.

        An empty value (None or ``""``) removes the field.
        """
        values = copy.deepcopy(self.values)
        _set(values, parse_path(path), value)
        self.values = values

    # -- checking and saving ----------------------------------------------------------------

    @traitlets.observe("values")
    def _on_values(self, change: dict[str, Any]) -> None:
        self._refresh()

    def _refresh(self) -> None:
        """Check the values and autosave them (both skipped when nothing changed)."""
        key = _key(self.values)
        if key == self._checked:
            return
        self._checked = key
        for name, value in check_values(self.values).items():
            setattr(self, name, value)
        self._save()

    def _save(self) -> None:
        if self._autosave is None:
            return
        try:
            self.saved_at = write_autosave(self._autosave, self.values)
        except (OSError, TypeError, ValueError) as exc:
            self._say(f"autosave to {self._autosave} failed: {exc}", "error")

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the form values now (to the autosave file, or to ``path``)."""
        target = Path(path).expanduser() if path else self._autosave
        if target is None:
            raise ValueError("this editor has no autosave file: pass a path")
        saved_at = write_autosave(target, self.values)
        if target == self._autosave:
            self.saved_at = saved_at
        return target

    # -- image data -------------------------------------------------------------------------

    def add_image(self, source: str | os.PathLike[str]) -> dict[str, Any]:
        """Harvest an OME-Zarr's Image Data into the first study component.

        An entry for the same file is replaced. Returns the Image Data added.
        """
        from bioshare.metadata.describe import describe_image

        data = _compact(describe_image(source).model_dump(mode="json", exclude_none=True))
        values = copy.deepcopy(self.values)
        components = values.setdefault("study_component", [])
        if not components:
            components.append({})
        images = components[0].setdefault("image_data", [])
        same = [i for i, item in enumerate(images) if item.get("file_path") == data["file_path"]]
        if same:
            images[same[0]] = data
        else:
            images.append(data)
        self.values = values
        return data

    def _prefill(self, image: str | os.PathLike[str]) -> None:
        try:
            self.add_image(image)
        except (BioshareError, OSError, ValueError) as exc:
            self._say(f"could not harvest Image Data from {image}: {exc}", "error")

    # -- spreadsheets -----------------------------------------------------------------------

    def import_spreadsheet(self, path: str | os.PathLike[str]) -> Study:
        """Replace the form with a filled metadata spreadsheet (XLSX, CSV or TSV).

        Image Data already harvested into the form is kept when the spreadsheet has none.

        Raises
        ------
        MetadataError
            The spreadsheet cannot be read; the message lists every problem with its place.
        """
        study = Study.from_spreadsheet(Path(path).expanduser())
        values = values_of(study)
        images = [c.get("image_data") for c in self.values.get("study_component", [])]
        components = values.get("study_component", [])
        for component, harvested in zip(components, images, strict=False):
            if harvested and not component.get("image_data"):
                component["image_data"] = harvested
        if images and images[0] and not components:
            values["study_component"] = [{"image_data": images[0]}]
        self.values = values
        return study

    def export_spreadsheet(self, path: str | os.PathLike[str]) -> tuple[Path, list[str]]:
        """Write the form as a metadata spreadsheet (XLSX, CSV or TSV, by extension).

        Invalid values cannot be written: they are left out, and their paths returned.

        Returns
        -------
        tuple
            The file written, and the paths of the values left out.
        """
        study, dropped = _valid_part(self.values)
        return study.to_spreadsheet(Path(path).expanduser()), dropped

    # -- ontology terms ---------------------------------------------------------------------

    def lookup(
        self, text: str, ontology: str | Sequence[str] | None = None
    ) -> list[dict[str, str]]:
        """Ontology terms for ``text`` (`lookup_term`; bundled terms when offline), cached."""
        scope = tuple([ontology] if isinstance(ontology, str) else ontology or ONTOLOGIES)
        key = (" ".join(text.casefold().split()), scope)
        with self._lock:
            cached = self._lookups.get(key)
        if cached is not None:
            return cached
        if len(key[0]) < 2:
            return []
        terms = [t.model_dump() for t in lookup_term(text, list(scope), limit=LOOKUP_LIMIT)]
        with self._lock:
            if len(self._lookups) > 512:
                self._lookups.clear()
            self._lookups[key] = terms
        return terms

    def _request_lookup(self, content: dict[str, Any]) -> None:
        path = str(content.get("path") or "")
        ontology = content.get("ontology")
        scope = [str(o) for o in ontology] if isinstance(ontology, list) else ontology
        request = {"path": path, "text": str(content.get("text") or ""), "ontology": scope}
        with self._lock:
            number = self._latest[path] = next(self._requests)
        self._executor.submit(self._answer_lookup, request, number, content.get("seq"))

    def _answer_lookup(self, request: dict[str, Any], number: int, seq: Any) -> None:
        path = request["path"]
        if not self._is_latest(path, number):
            return
        try:
            terms = self.lookup(request["text"], request["ontology"])
            error = ""
        except (BioshareError, ValueError, TypeError) as exc:
            terms, error = [], str(exc)
        except Exception as exc:  # a worker thread must report, never die silently
            log.warning("ontology lookup failed", exc_info=True)
            terms, error = [], f"lookup failed: {exc}"
        answer = {"type": "suggestions", "path": path, "seq": seq, "terms": terms}
        if error:
            answer["error"] = error
        with self._answering:  # checked and sent at once: a stale answer never comes last
            if not self._is_latest(path, number):
                return
            self.suggestions = {**self.suggestions, path: terms}
            self.send(answer)

    def _is_latest(self, path: str, number: int) -> bool:
        with self._lock:
            return self._latest.get(path) == number

    # -- messages from the browser ----------------------------------------------------------

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "lookup":
            self._request_lookup(content)
        elif kind == "import":
            self._import_from(str(content.get("path") or ""))
        elif kind == "export":
            self._export_to(str(content.get("path") or ""))

    def _import_from(self, path: str) -> None:
        if not path:
            self._say("give the spreadsheet's path first", "error")
            return
        try:
            self.import_spreadsheet(path)
        except (BioshareError, OSError, ValueError) as exc:
            self._say(f"could not import {path}: {exc}", "error")
        else:
            self._say(f"imported {path}")

    def _export_to(self, path: str) -> None:
        if not path:
            self._say("give the spreadsheet's path first (.xlsx, .csv or .tsv)", "error")
            return
        try:
            written, dropped = self.export_spreadsheet(path)
        except (BioshareError, OSError, ValueError) as exc:
            self._say(f"could not export to {path}: {exc}", "error")
            return
        note = f"; left out invalid values at {', '.join(dropped)}" if dropped else ""
        self._say(f"exported to {written}{note}", "error" if dropped else "info")

    def _say(self, text: str, level: str = "info") -> None:
        self.message = {"level": level, "text": text}

    def close(self) -> None:
        """Close the widget and stop its lookup threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        super().close()
