"""REMBI metadata as a spreadsheet researchers fill in: XLSX, CSV or TSV, read and written.

`write_template` gives an empty, documented spreadsheet; `read_spreadsheet` turns a filled
one into a `Study`, reporting every problem with its sheet, row and column at once
(`SpreadsheetError`); `write_spreadsheet` writes a `Study` back, atomically, so that
``read_spreadsheet(path)`` after ``write_spreadsheet(study, path)`` equals ``study``.

Layout
------
One *key-value sheet* per REMBI module, in this order: ``Study``, ``Authors``,
``Publications``, ``Grants``, ``Links``, ``Biosamples``, ``Specimens``, ``Image
acquisitions``, ``Image correlations``, ``Image analyses``, ``Annotations``, ``Study
components``. Column A holds the keys, the human labels of the fields (``Name``,
``E-mail``...); column B holds the first instance (the first author), column C the second
and so on. The ``Study`` sheet has a single value column, B. An entirely empty column is no
instance; rows whose key starts with ``#`` are comments.

Nested lists (the affiliations of an author, the funders of a grant, the channels of a
specimen) use numbered keys: the first field of the nested item is ``<Item> <n>``, the
others ``<Item> <n> <field>``, e.g. ``Affiliation 1``, ``Affiliation 1 ROR ID``,
``Affiliation 2``, ``Funder 1``, ``Funder 1 ID``, ``Channel 2``, ``Channel 2 content``. Add
rows with the next number for more items.

Lists of values (keywords, roles, variables, ontology terms, annotation types) share one
cell, separated by ``;`` (written ``"; "``). A semicolon inside a value is written ``\\;``
and a backslash ``\\\\``; commas need no escape. Ontology terms are written
``label (CURIE)``, e.g. ``Homo sapiens (NCBITaxon:9606)``, and read from that form (without
any lookup), a CURIE, an IRI or a label. Annotation types are the MIFA names
(``segmentation_mask``; ``segmentation mask`` is read too). Dates are ISO text
(``2024-05-01``); date cells of Excel are read too. Numbers in text fields are read as
text (``12345`` -> ``"12345"``, ``2021.0`` -> ``"2021"``); blanks around values are dropped.
Empty cells mean missing, never an error. Keys and headers match whatever their case and
spacing, and a trailing ``:`` or ``*`` is ignored.

One *file-list sheet* per study component, following the BioImage Archive file list: its
first header cell is ``Files`` (paths with ``/`` separators), then ``Size (bytes)``,
``Format``, ``URI`` and ``Source image`` (the image an annotation annotates) when used,
then any other columns (the `FileReference.attributes`, written in order of first use).
The sheet is named ``Files - <component title>``; characters Excel forbids (``[]:*?/\\``)
become ``_``, and a name longer than 31 characters, or taken already, is cut and ends in
`` ~<n>`` (n: the component's position). The ``File list sheet`` key of the ``Study
components`` sheet names it. Harvested `ImageData` (``StudyComponent.image_data``) is not
written: it comes from the images themselves (`bioshare.metadata.describe`).

Limits of the round trip: an instance or nested item with no value at all, a file
attribute whose value is empty, and the IRI of an ontology term (it follows from the CURIE
when read) are not kept; a file path alone on a CSV row and in square brackets would read
as a section header.

A ``Help`` sheet (written by `write_template`: every key, its obligation, description and
example) is ignored when reading; so are empty sheets. Key cells of XLSX files carry the
same help as cell comments, and required keys are bold.

CSV and TSV files (UTF-8, ``,`` or tab) hold the same sheets one after the other, as
sections. A row whose first cell is the sheet name in square brackets (and whose other
cells are empty) starts a section; blank rows separate sections and are ignored::

    [Study]
    Title,Mitosis in HeLa cells
    Keywords,mitosis; live imaging
    <blank>
    [Authors]
    Name,Jane Doe,John Roe
    Affiliation 1,EMBL,EMBL
    <blank>
    [Study components]
    Study component name,Time-lapse
    File list sheet,Files - Time-lapse
    <blank>
    [Files - Time-lapse]
    Files,Size (bytes),Format,Channel
    movie/t0.ome.zarr,1024,OME-Zarr,DAPI

Row numbers in error messages are the rows a spreadsheet program shows for that file, and
columns are letters (A, B, C...), for XLSX sheets and CSV sections alike.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import difflib
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font
from openpyxl.utils import column_index_from_string, get_column_letter
from pydantic import BaseModel, ValidationError

from bioshare.errors import MetadataError
from bioshare.metadata.models import FileReference, StudyComponent, obligation
from bioshare.metadata.ontology import OntologyTerm
from bioshare.metadata.study import Study

__all__ = [
    "SUFFIXES",
    "Problem",
    "SpreadsheetError",
    "read_spreadsheet",
    "write_spreadsheet",
    "write_template",
]

SUFFIXES = (".xlsx", ".csv", ".tsv")
"""The spreadsheet formats read and written."""

STUDY_SHEET = "Study"
HELP_SHEET = "Help"
FILES_HEADER = "Files"
FILE_LIST_KEY = "File list sheet"
EXAMPLE_FILE_LIST = "Files - example"
MAX_SHEET_NAME = 31
SEPARATOR = "; "

# Sheet name -> list field of `Study` it holds, in the order the sheets are written.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("Authors", "author"),
    ("Publications", "related_publication"),
    ("Grants", "grant"),
    ("Links", "see_also"),
    ("Biosamples", "biosample"),
    ("Specimens", "specimen"),
    ("Image acquisitions", "image_acquisition"),
    ("Image correlations", "image_correlation"),
    ("Image analyses", "image_analysis"),
    ("Annotations", "annotation"),
    ("Study components", "study_component"),
)
COMPONENTS_SHEET = "Study components"

_FORBIDDEN_IN_SHEET_NAMES = re.compile(r"[\[\]:*?/\\\x00-\x1f]")
_SECTION_ROW = re.compile(r"^\[(.+)\]$")
_LABELLED_TERM = re.compile(r"^(?P<label>.*\S)\s*\(\s*(?P<curie>[A-Za-z][\w.-]*[:_][^\s()]+)\s*\)$")
_SINGULAR = {"signal_channel_information": "Channel"}
_TERM_EXAMPLES = {
    "organism_classification": "Homo sapiens (NCBITaxon:9606)",
    "imaging_method": "confocal microscopy (FBbi:00000251)",
    "biological_entity": "HeLa (EFO:0001185)",
}
_FILE_COLUMNS = ("file_path", "size_in_bytes", "format", "uri", "source_image")

Cell = str | int | None  # a cell as written: text, a whole number or empty


# -- errors -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One problem of a spreadsheet: where it is and what is wrong.

    Unpacks as ``sheet, row, column, message``; ``row_label`` (the key of a key-value
    sheet) and ``column_label`` (the header of a file list) say what the row or column is.
    ``sheet``, ``row`` and ``column`` are None when the problem is the whole file's.
    """

    sheet: str | None
    row: int | None
    column: str | None
    message: str
    row_label: str | None = None
    column_label: str | None = None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.sheet, self.row, self.column, self.message))

    def describe(self, source: str, *, sections: bool = False) -> str:
        """``"meta.xlsx, sheet 'Authors', row 3 (E-mail), column C: <message>"``."""
        parts = [source]
        if self.sheet is not None:
            parts.append(f"section [{self.sheet}]" if sections else f"sheet {self.sheet!r}")
        if self.row is not None:
            parts.append(f"row {self.row}" + (f" ({self.row_label})" if self.row_label else ""))
        if self.column is not None:
            label = f" ({self.column_label})" if self.column_label else ""
            parts.append(f"column {self.column}{label}")
        return f"{', '.join(parts)}: {self.message}"


class SpreadsheetError(MetadataError):
    """A spreadsheet could not be read (or written): every problem found, with its place.

    Attributes
    ----------
    source
        The file's name.
    problems
        The `Problem` list, in sheet, row and column order; each unpacks as
        ``(sheet, row, column, message)``.
    """

    def __init__(self, source: str, problems: Sequence[Problem], *, sections: bool = False):
        self.source = source
        self.problems = list(problems)
        lines = [p.describe(source, sections=sections) for p in self.problems]
        count = len(lines)
        head = f"{count} problem{'s' if count != 1 else ''} in {source}"
        super().__init__(lines[0] if count == 1 else head + ":\n- " + "\n- ".join(lines))


def _fail(path: Path, message: str) -> SpreadsheetError:
    return SpreadsheetError(path.name, [Problem(None, None, None, message)])


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        found = f"{suffix!r} files" if suffix else "files without an extension"
        raise _fail(
            path,
            f"cannot read or write {found}; bioshare supports {', '.join(SUFFIXES)} "
            "(save the sheet as .xlsx or .csv)",
        )
    return suffix[1:]


# -- fields and keys ------------------------------------------------------------------------


def _item_type(annotation: Any) -> Any:
    (item,) = get_args(annotation)
    return get_args(item)[0] if get_origin(item) is Annotated else item


def _kind(model: type[BaseModel], name: str) -> str:
    """How a field is written: scalar, strings, terms, enums, nested or mapping."""
    annotation = model.model_fields[name].annotation
    origin = get_origin(annotation)
    if origin is dict:
        return "mapping"
    if origin is not list:
        return "scalar"
    item = _item_type(annotation)
    if isinstance(item, type) and issubclass(item, OntologyTerm):
        return "terms"
    if isinstance(item, type) and issubclass(item, Enum):
        return "enums"
    if isinstance(item, type) and issubclass(item, BaseModel):
        return "nested"
    return "strings"


def _norm(text: str) -> str:
    """Case- and spacing-insensitive form of a key or header."""
    return " ".join(text.split()).casefold().rstrip(":*").strip()


@dataclass(frozen=True)
class _Help:
    """What a key means: its obligation, a description and an example."""

    level: str
    description: str
    example: str | None = None

    def __str__(self) -> str:
        text = f"{self.level.capitalize()}. {self.description}".strip()
        return f"{text} Example: {self.example}" if self.example else text

    def adding(self, note: str) -> _Help:
        return _Help(self.level, f"{self.description} {note}".strip(), self.example)


def _help(model: type[BaseModel], name: str, kind: str | None = None) -> _Help:
    """Obligation, description, how to write it and an example, from the field metadata."""
    info = model.model_fields[name]
    kind = kind or _kind(model, name)
    parts = [info.description.rstrip(".") + "."] if info.description else []
    if kind == "terms":
        parts.append("Ontology terms as 'label (CURIE)', a CURIE, an IRI or a name.")
    if kind == "enums":
        item = _item_type(info.annotation)
        parts.append(f"One or more of: {', '.join(m.value for m in item)}.")
    if kind in ("strings", "terms", "enums"):
        parts.append("Several values: separate them with '; ' (write \\; for a ';' inside).")
    examples = [str(e) for e in info.examples or []] or (
        [_TERM_EXAMPLES[name]] if name in _TERM_EXAMPLES else []
    )
    example = SEPARATOR.join(examples) or None
    return _Help(obligation(model, name), " ".join(parts), example)


@dataclass(frozen=True)
class _Nested:
    """The numbered keys of a nested list field (``Affiliation 1``, ``Affiliation 1 ROR ID``)."""

    field: str
    name: str
    model: type[BaseModel]
    suffixes: dict[str, str]

    @classmethod
    def of(cls, model: type[BaseModel], name: str) -> _Nested:
        child = _item_type(model.model_fields[name].annotation)
        item = _SINGULAR.get(name, model.model_fields[name].title or name)
        suffixes = {}
        for position, (child_name, info) in enumerate(child.model_fields.items()):
            title = info.title or child_name
            if position == 0:
                suffixes[child_name] = ""
            elif title.casefold().startswith(item.casefold() + " "):
                suffixes[child_name] = title[len(item) :]
            else:
                suffixes[child_name] = f" {title}"
        return cls(name, item, child, suffixes)

    def label(self, number: int | str, child: str) -> str:
        return f"{self.name} {number}{self.suffixes[child]}"

    def parse(self, key: str) -> tuple[int, str] | None:
        match = re.match(rf"^{re.escape(_norm(self.name))} (\d+)(.*)$", key)
        if not match or int(match.group(1)) < 1:
            return None
        for child, suffix in self.suffixes.items():
            if _norm(suffix) == _norm(match.group(2)):
                return int(match.group(1)), child
        return None


_Path = tuple[Any, ...]  # (field,) or (field, number, child)


class _Keys:
    """The keys (column A) of the key-value sheet of one model."""

    def __init__(
        self,
        model: type[BaseModel],
        fields: Iterable[str],
        labels: dict[str, str] | None = None,
        kinds: dict[str, str] | None = None,
    ) -> None:
        self.model = model
        self.fields = list(fields)
        info = model.model_fields
        self.labels = {f: (labels or {}).get(f) or info[f].title or f for f in self.fields}
        self.kinds = {f: (kinds or {}).get(f) or _kind(model, f) for f in self.fields}
        self.nested = {f: _Nested.of(model, f) for f in self.fields if self.kinds[f] == "nested"}
        self._flat = {_norm(self.labels[f]): f for f in self.fields if f not in self.nested}

    def rows(self, counts: dict[str, int]) -> list[tuple[str, _Path]]:
        """Every key with its path, ``counts[field]`` items for each nested field."""
        out: list[tuple[str, _Path]] = []
        for name in self.fields:
            nest = self.nested.get(name)
            if nest is None:
                out.append((self.labels[name], (name,)))
                continue
            for number in range(1, counts.get(name, 1) + 1):
                out += [(nest.label(number, c), (name, number, c)) for c in nest.suffixes]
        return out

    def parse(self, key: str) -> _Path | None:
        """The path a key stands for; None for an unknown key."""
        norm = _norm(key)
        if norm in self._flat:
            return (self._flat[norm],)
        for name, nest in self.nested.items():
            found = nest.parse(norm)
            if found is not None:
                return (name, *found)
        return None

    def kind(self, path: _Path) -> str:
        if len(path) == 1:
            return self.kinds[path[0]]
        nest = self.nested[path[0]]
        return _kind(nest.model, path[2])

    def help(self, path: _Path) -> _Help:
        if len(path) == 1:
            return _help(self.model, path[0], self.kinds[path[0]])
        nest = self.nested[path[0]]
        found = _help(nest.model, path[2])
        if path[2] != next(iter(nest.suffixes)):
            return found
        return found.adding(f"Add rows '{nest.label(path[1] + 1, path[2])}'... for more.")

    def required(self, path: _Path) -> bool:
        if len(path) == 1:
            return obligation(self.model, path[0]) == "required"
        return obligation(self.nested[path[0]].model, path[2]) == "required"

    def known(self) -> list[str]:
        """Every key, nested ones as ``Affiliation <n> ROR ID``."""
        known = []
        for name in self.fields:
            nest = self.nested.get(name)
            if nest is None:
                known.append(self.labels[name])
            else:
                known += [nest.label("<n>", child) for child in nest.suffixes]
        return known

    def suggest(self, key: str) -> str | None:
        number = re.search(r"\d+", key)
        candidates = [label for label, _ in self.rows({})]
        if number:
            candidates += [
                nest.label(number.group(), c)
                for nest in self.nested.values()
                for c in nest.suffixes
            ]
        by_norm = {_norm(c): c for c in candidates}
        close = difflib.get_close_matches(_norm(key), list(by_norm), n=1, cutoff=0.6)
        return by_norm[close[0]] if close else None


def _study_fields() -> list[str]:
    in_sections = {name for _, name in SECTIONS}
    order = {"required": 0, "desirable": 1, "optional": 2}
    fields = [f for f in Study.model_fields if f not in in_sections]
    return sorted(fields, key=lambda f: order[obligation(Study, f)])


def _section_keys(name: str) -> _Keys:
    model = _item_type(Study.model_fields[name].annotation)
    if model is not StudyComponent:
        return _Keys(model, model.model_fields)
    return _Keys(
        StudyComponent,
        [f for f in StudyComponent.model_fields if f != "image_data"],
        labels={"files": FILE_LIST_KEY},
        kinds={"files": "sheetref"},
    )


STUDY_KEYS = _Keys(Study, _study_fields())
SECTION_KEYS = {sheet: _section_keys(name) for sheet, name in SECTIONS}
FILE_COLUMN_LABELS = {
    name: FileReference.model_fields[name].title or name for name in _FILE_COLUMNS
}
_FILE_COLUMN_NAMES = {
    **{_norm(label): name for name, label in FILE_COLUMN_LABELS.items()},
    **{_norm(name): name for name in _FILE_COLUMNS},
}


# -- values ---------------------------------------------------------------------------------


def _escape(item: str) -> str:
    return item.replace("\\", "\\\\").replace(";", "\\;")


def _split(text: str) -> list[str]:
    """``"a; b\\; c"`` -> ``["a", "b; c"]``: split on unescaped semicolons.

    Only ``\\;`` and ``\\\\`` are escapes; any other backslash is kept as typed.
    """
    items, current, position = [], [], 0
    while position < len(text):
        char, pair = text[position], text[position : position + 2]
        if pair in ("\\;", "\\\\"):
            current.append(pair[1])
            position += 1
        elif char == ";":
            items.append("".join(current))
            current = []
        else:
            current.append(char)
        position += 1
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def _to_cell(value: Any, kind: str) -> Cell:
    """A field's value as a cell."""
    if kind in ("strings", "terms", "enums"):
        items = [item.value if isinstance(item, Enum) else str(item) for item in value]
        return SEPARATOR.join(_escape(item) for item in items) or None
    if value is None or (isinstance(value, int | str) and not isinstance(value, bool)):
        return value
    if isinstance(value, dt.date):
        return value.isoformat()
    return value.value if isinstance(value, Enum) else str(value)


def _term(item: str) -> Any:
    """``"Homo sapiens (NCBITaxon:9606)"`` -> a CURIE and label (no lookup); else the text."""
    match = _LABELLED_TERM.match(item)
    return {"curie": match["curie"], "label": match["label"]} if match else item


def _enum(item: str, enum: type[Enum]) -> str:
    values = {m.value for m in enum}
    candidate = re.sub(r"[\s-]+", "_", item.casefold())
    return candidate if item not in values and candidate in values else item


def _from_cell(text: str, kind: str, model: type[BaseModel], name: str) -> Any:
    """A cell's text as the value pydantic validates."""
    if kind == "strings":
        return _split(text)
    if kind == "terms":
        return [_term(item) for item in _split(text)]
    if kind == "enums":
        enum = _item_type(model.model_fields[name].annotation)
        return [_enum(item, enum) for item in _split(text)]
    return text


def _text(value: Any) -> str | None:
    """A cell as read (any type) -> stripped text; None when empty."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime):
        value = value.date() if value.time() == dt.time() else value
    if isinstance(value, dt.date | dt.time):
        value = value.isoformat()
    text = str(value).strip()
    return text or None


# -- reading --------------------------------------------------------------------------------


@dataclass
class _Sheet:
    """A sheet (or CSV section) as read: its name and its rows of text, numbered."""

    name: str
    rows: list[tuple[int, list[str | None]]] = field(default_factory=list)
    start: int = 1  # the row of the section header (CSV)


@dataclass(frozen=True)
class _Where:
    sheet: str
    row: int | None
    column: int | None
    row_label: str | None = None
    column_label: str | None = None

    def problem(self, message: str) -> Problem:
        letter = get_column_letter(self.column) if self.column else None
        return Problem(self.sheet, self.row, letter, message, self.row_label, self.column_label)


def read_spreadsheet(path: str | os.PathLike[str]) -> Study:
    """Read a study from an XLSX, CSV or TSV spreadsheet in the layout of this module.

    Parameters
    ----------
    path
        A ``.xlsx``, ``.csv`` or ``.tsv`` file, as written by `write_template` or
        `write_spreadsheet` and filled in.

    Returns
    -------
    Study
        The study; missing values stay missing (see `Study.validate` for what is lacking).

    Raises
    ------
    SpreadsheetError
        The file cannot be read, or some values are malformed or misplaced: all problems
        at once, each with its sheet, row and column.
    FileNotFoundError
        There is no file at ``path``.

    Examples
    --------
    >>> study = read_spreadsheet("metadata.xlsx")  # doctest: +SKIP
    >>> print(study.validate())  # doctest: +SKIP
    """
    path = Path(path)
    kind = _format(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such spreadsheet")
    problems: list[Problem] = []
    if kind == "xlsx":
        sheets = _load_xlsx(path)
    else:
        sheets, problems = _load_text(path, "\t" if kind == "tsv" else ",")
    reader = _Reader(sheets, problems)
    study = reader.read()
    if reader.problems:
        raise SpreadsheetError(path.name, reader.sorted_problems(), sections=kind != "xlsx")
    assert study is not None
    return study


def _load_xlsx(path: Path) -> list[_Sheet]:
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise _fail(
            path,
            f"cannot open it as an Excel workbook ({type(exc).__name__}: {exc}); expected an "
            ".xlsx file saved by Excel, LibreOffice or bioshare",
        ) from exc
    try:
        sheets = []
        for sheet in book.worksheets:
            sheet.reset_dimensions()
            rows = sheet.iter_rows(values_only=True)
            sheets.append(
                _Sheet(sheet.title, [(n, [_text(v) for v in row]) for n, row in enumerate(rows, 1)])
            )
        return sheets
    except Exception as exc:
        raise _fail(path, f"cannot read the workbook ({type(exc).__name__}: {exc})") from exc
    finally:
        book.close()


def _load_text(path: Path, delimiter: str) -> tuple[list[_Sheet], list[Problem]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            records = list(csv.reader(handle, delimiter=delimiter))
    except UnicodeDecodeError as exc:
        raise _fail(
            path, f"is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as 'CSV UTF-8'"
        ) from exc
    except csv.Error as exc:
        raise _fail(path, f"cannot read it as {delimiter!r}-separated values ({exc})") from exc
    sheets: list[_Sheet] = []
    problems: list[Problem] = []
    for number, record in enumerate(records, 1):
        cells = [_text(value) for value in record]
        header = _SECTION_ROW.match(cells[0] or "") if cells else None
        if header and not any(cells[1:]):
            sheets.append(_Sheet(header.group(1).strip(), start=number))
        elif sheets:
            sheets[-1].rows.append((number, cells))
        elif any(cells) and not problems:
            problems.append(
                Problem(None, number, "A", "a value before the first section; start with [Study]")
            )
    return sheets, problems


class _Reader:
    """Turns sheets of text into study data, remembering which cell each value came from."""

    def __init__(self, sheets: list[_Sheet], problems: list[Problem]) -> None:
        self.sheets = sheets
        self.problems = list(problems)
        self.cells: dict[_Path, _Where] = {}
        self.order = {sheet.name: index for index, sheet in enumerate(sheets)}

    def add(self, where: _Where, message: str) -> None:
        self.problems.append(where.problem(message))

    def sorted_problems(self) -> list[Problem]:
        def key(p: Problem) -> tuple[int, int, int]:
            column = column_index_from_string(p.column) if p.column else 0
            return (self.order.get(p.sheet, -1) if p.sheet else -1, p.row or 0, column)

        return sorted(self.problems, key=key)

    def read(self) -> Study | None:
        by_name = self._by_name()
        data: dict[str, Any] = {}
        study = by_name.pop(_norm(STUDY_SHEET), None)
        if study is not None:
            instances = self._key_sheet(study, STUDY_KEYS, ())
            data.update(instances[0][0] if instances else {})
        refs: list[tuple[int, str, _Where]] = []
        for sheet_name, name in SECTIONS:
            sheet = by_name.pop(_norm(sheet_name), None)
            if sheet is None:
                continue
            items = self._key_sheet(sheet, SECTION_KEYS[sheet_name], (name,))
            data[name] = [item for item, _ in items]
            if name == "study_component":
                refs = [
                    (i, ref, where) for i, (_, found) in enumerate(items) for ref, where in found
                ]
        self._file_lists(data, refs, by_name)
        return self._validate(data)

    def _by_name(self) -> dict[str, _Sheet]:
        by_name: dict[str, _Sheet] = {}
        for sheet in self.sheets:
            key = _norm(sheet.name)
            if key == _norm(HELP_SHEET):
                continue
            if key in by_name:
                first = by_name[key].start
                where = _Where(sheet.name, sheet.start, 1)
                self.add(where, f"a second [{sheet.name}] section (the first is at row {first})")
                continue
            by_name[key] = sheet
        return by_name

    # key-value sheets

    def _key_sheet(
        self, sheet: _Sheet, keys: _Keys, prefix: _Path
    ) -> list[tuple[dict[str, Any], list[tuple[str, _Where]]]]:
        """Instances of a key-value sheet: their data and the file-list sheets they name."""
        entries = self._entries(sheet, keys)
        columns = sorted({c for _, _, _, values in entries for c, v in enumerate(values) if v})
        if not prefix and len(columns) > 1:
            for row, label, _, values in entries:
                extra = next((c for c, v in enumerate(values) if v and c > 0), None)
                if extra is not None:
                    where = _Where(sheet.name, row, extra + 2, row_label=label)
                    self.add(where, "the Study sheet takes one value, in column B")
            columns = columns[:1]
        out = []
        for index, column in enumerate(columns):
            path = (*prefix, index) if prefix else ()
            cells = [(row, label, key, _at(values, column)) for row, label, key, values in entries]
            out.append(self._instance(sheet.name, column + 2, keys, cells, path))
        return out

    def _entries(self, sheet: _Sheet, keys: _Keys) -> list[tuple[int, str, _Path, list[Any]]]:
        """The rows of known keys, reporting unknown, repeated and missing keys."""
        entries: list[tuple[int, str, _Path, list[Any]]] = []
        seen: dict[_Path, int] = {}
        for row, cells in sheet.rows:
            key, values = (cells[0] if cells else None), cells[1:]
            if key is None:
                first = next((c for c, v in enumerate(values) if v), None)
                if first is not None:
                    where = _Where(sheet.name, row, first + 2)
                    self.add(where, "a value without a key in column A")
                continue
            if key.startswith("#"):
                continue
            path = keys.parse(key)
            where = _Where(sheet.name, row, 1, row_label=key)
            if path is None:
                self.add(where, self._unknown_key(key, sheet.name, keys))
            elif path in seen:
                self.add(where, f"key {key!r} appears twice (first in row {seen[path]})")
            else:
                seen[path] = row
                entries.append((row, key, path, values))
        return entries

    @staticmethod
    def _unknown_key(key: str, sheet: str, keys: _Keys) -> str:
        close = keys.suggest(key)
        hint = f"; did you mean {close!r}?" if close else ""
        known = ", ".join(keys.known())
        return f"unknown key {key!r}{hint} Known keys: {known}"

    def _instance(
        self,
        sheet: str,
        column: int,
        keys: _Keys,
        cells: list[tuple[int, str, _Path, str | None]],
        prefix: _Path,
    ) -> tuple[dict[str, Any], list[tuple[str, _Where]]]:
        data: dict[str, Any] = {}
        nested: dict[str, dict[int, dict[str, tuple[Any, _Where]]]] = {}
        refs: list[tuple[str, _Where]] = []
        if prefix:
            self.cells[prefix] = _Where(sheet, None, column)
        for row, label, path, text in cells:
            if text is None:
                continue
            where = _Where(sheet, row, column, row_label=label)
            kind = keys.kind(path)
            if kind == "sheetref":
                refs.append((text, where))
            elif len(path) == 1:
                data[path[0]] = _from_cell(text, kind, keys.model, path[0])
                self.cells[(*prefix, path[0])] = where
            else:
                name, number, child = path
                value = _from_cell(text, kind, keys.nested[name].model, child)
                nested.setdefault(name, {}).setdefault(number, {})[child] = (value, where)
        for name, items in nested.items():
            data[name] = []
            for index, number in enumerate(sorted(items)):
                data[name].append({child: value for child, (value, _) in items[number].items()})
                for child, (_, where) in items[number].items():
                    self.cells[(*prefix, name, index, child)] = where
        return data, refs

    # file lists

    def _file_lists(
        self, data: dict[str, Any], refs: list[tuple[int, str, _Where]], rest: dict[str, _Sheet]
    ) -> None:
        used: dict[str, _Where] = {}
        for index, name, where in refs:
            sheet = rest.get(_norm(name))
            if sheet is None:
                self.add(where, self._missing_sheet(name, rest))
                continue
            if _norm(name) in used:
                first = used[_norm(name)]
                self.add(where, f"file list {name!r} is named already (row {first.row})")
                continue
            used[_norm(name)] = where
            prefix = ("study_component", index, "files")
            data["study_component"][index]["files"] = self._file_list(sheet, prefix)
        for key, sheet in rest.items():
            if key not in used:
                self._stray(sheet)

    @staticmethod
    def _missing_sheet(name: str, rest: dict[str, _Sheet]) -> str:
        lists = [s.name for s in rest.values() if _is_file_list(s)]
        known = ", ".join(repr(n) for n in lists) or "none"
        return f"there is no file-list sheet {name!r} (file-list sheets: {known})"

    def _stray(self, sheet: _Sheet) -> None:
        """A sheet that is no module and no file list named by a study component."""
        header = _header(sheet)
        if header is None:
            return  # empty: ignored
        row = header[0]
        if _is_file_list(sheet):
            if any(any(c) for r, c in sheet.rows if r > row):
                self.add(
                    _Where(sheet.name, row, 1),
                    f"file list not named by any study component; put {sheet.name!r} in "
                    f"the {FILE_LIST_KEY!r} row of sheet {COMPONENTS_SHEET!r}",
                )
            return
        names = [STUDY_SHEET, *(s for s, _ in SECTIONS), HELP_SHEET]
        close = difflib.get_close_matches(sheet.name, names, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        self.add(
            _Where(sheet.name, row, 1),
            f"unknown sheet {sheet.name!r}; {hint}Expected {', '.join(names)} or a file list "
            f"(first header cell {FILES_HEADER!r}) named in sheet {COMPONENTS_SHEET!r}",
        )

    def _file_list(self, sheet: _Sheet, prefix: _Path) -> list[dict[str, Any]]:
        header = _header(sheet)
        if header is None:
            return []
        row, cells = header
        if _norm(cells[0] or "") != _norm(FILES_HEADER):
            self.add(
                _Where(sheet.name, row, 1),
                f"the first header cell of a file list must be {FILES_HEADER!r}, not {cells[0]!r}",
            )
            return []
        columns = self._columns(sheet, row, cells)
        files: list[dict[str, Any]] = []
        for number, values in sheet.rows:
            if number > row and any(values):
                item = self._file_row(sheet.name, number, values, columns, (*prefix, len(files)))
                if item is not None:
                    files.append(item)
        return files

    def _columns(self, sheet: _Sheet, row: int, cells: list[str | None]) -> dict[int, str]:
        """Column position -> field name (or ``attributes.<header>``) of a file list."""
        columns: dict[int, str] = {}
        seen: dict[str, str] = {}
        width = max((len(c) for _, c in sheet.rows), default=0)
        for position in range(width):
            header = cells[position] if position < len(cells) else None
            where = _Where(sheet.name, row, position + 1, column_label=header)
            if header is None:
                if any(len(c) > position and c[position] for r, c in sheet.rows if r > row):
                    self.add(where, "values in a column without a header")
                continue
            target = _FILE_COLUMN_NAMES.get(_norm(header), f"attributes.{header}")
            if _norm(target) in seen:
                self.add(where, f"a second {header!r} column (the first is {seen[_norm(target)]})")
                continue
            seen[_norm(target)] = get_column_letter(position + 1)
            columns[position] = target
        return columns

    def _file_row(
        self,
        sheet: str,
        row: int,
        values: list[str | None],
        columns: dict[int, str],
        prefix: _Path,
    ) -> dict[str, Any] | None:
        if not values[0]:
            self.add(_Where(sheet, row, 1, column_label=FILES_HEADER), "a file without a path")
            return None
        item: dict[str, Any] = {}
        self.cells[prefix] = _Where(sheet, row, None)
        for position, target in columns.items():
            text = values[position] if position < len(values) else None
            if text is None:
                continue
            name, _, attribute = target.partition(".")
            label = attribute or FILE_COLUMN_LABELS[name]
            where = _Where(sheet, row, position + 1, column_label=label)
            if attribute:
                item.setdefault("attributes", {})[attribute] = text
                self.cells[(*prefix, "attributes", attribute)] = where
            else:
                item[name] = text
                self.cells[(*prefix, name)] = where
        return item

    # validation

    def _validate(self, data: dict[str, Any]) -> Study | None:
        try:
            return Study.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors():
                self._pydantic_problem(error)
            return None

    def _pydantic_problem(self, error: Any) -> None:
        loc = tuple(error["loc"])
        message = str(error["msg"])
        if error["type"] == "value_error":
            message = message.removeprefix("Value error, ")
        else:
            shown = error.get("input")
            message = f"{shown!r} is not valid: {message[:1].lower()}{message[1:]}"
        for end in range(len(loc), -1, -1):
            where = self.cells.get(loc[:end])
            if where is not None:
                self.add(where, message)
                return
        self.problems.append(Problem(None, None, None, f"{'.'.join(map(str, loc))}: {message}"))


def _at(values: list[str | None], position: int) -> str | None:
    return values[position] if position < len(values) else None


def _is_file_list(sheet: _Sheet) -> bool:
    header = _header(sheet)
    return header is not None and _norm(header[1][0] or "") == _norm(FILES_HEADER)


def _header(sheet: _Sheet) -> tuple[int, list[str | None]] | None:
    """The first non-empty row of a sheet."""
    return next(((row, cells) for row, cells in sheet.rows if any(cells)), None)


# -- writing --------------------------------------------------------------------------------


@dataclass
class _OutSheet:
    """A sheet to write: rows of cells, comments and bold cells (0-based positions)."""

    name: str
    kind: str  # "keys", "files" or "help"
    rows: list[list[Cell]] = field(default_factory=list)
    comments: dict[tuple[int, int], _Help] = field(default_factory=dict)
    bold: set[tuple[int, int]] = field(default_factory=set)
    text_columns: int = 0  # format the first value columns as text (the template)


def write_spreadsheet(study: Study, path: str | os.PathLike[str]) -> Path:
    """Write a study as an XLSX, CSV or TSV spreadsheet (see the module docs for the layout).

    The file is written beside ``path`` under a temporary name and renamed onto ``path``
    when complete, so an existing file is replaced whole or left as it was.

    Parameters
    ----------
    study
        The study; its components' `ImageData` is not written.
    path
        Where to write, ending in ``.xlsx``, ``.csv`` or ``.tsv``.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    SpreadsheetError
        Unsupported extension, or a file-list column that cannot be written (an attribute
        named like a standard column, or a value XLSX cannot hold).

    Examples
    --------
    >>> write_spreadsheet(Study(title="Mitosis"), "metadata.xlsx")  # doctest: +SKIP
    PosixPath('metadata.xlsx')
    """
    path = Path(path)
    kind = _format(path)
    return _save(_study_sheets(study, path), path, kind)


def write_template(path: str | os.PathLike[str]) -> Path:
    """Write an empty spreadsheet to fill in: every key, with its obligation and help.

    Required keys are bold, and each key cell of an XLSX template carries a comment with
    the field's obligation, description and an example; a ``Help`` sheet (or ``[Help]``
    section) lists the same for every key. Reading the untouched template gives an empty
    `Study`.

    Parameters
    ----------
    path
        Where to write, ending in ``.xlsx``, ``.csv`` or ``.tsv``.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    kind = _format(path)
    return _save(_template_sheets(), path, kind)


def _save(sheets: list[_OutSheet], path: Path, kind: str) -> Path:
    if kind == "xlsx":
        _atomically(path, lambda tmp: _save_xlsx(sheets, tmp, path))
    else:
        delimiter = "\t" if kind == "tsv" else ","
        _atomically(path, lambda tmp: _save_text(sheets, tmp, delimiter))
    return path


def _atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Run ``write(temporary file beside path)``, then rename it onto ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(Path(name))
        os.chmod(name, mode)
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise


def _key_sheet(
    name: str,
    keys: _Keys,
    instances: Sequence[BaseModel],
    overrides: dict[str, Sequence[Cell]] | None = None,
) -> _OutSheet:
    counts = {f: max([1, *(len(getattr(item, f)) for item in instances)]) for f in keys.nested}
    sheet = _OutSheet(name, "keys")
    for row, (label, path) in enumerate(keys.rows(counts)):
        if overrides and path[0] in overrides:
            values = overrides[path[0]]
        else:
            values = [_to_cell(_get(item, path), keys.kind(path)) for item in instances]
        sheet.rows.append([label, *values])
        sheet.comments[(row, 0)] = keys.help(path)
        if keys.required(path):
            sheet.bold.add((row, 0))
    return sheet


def _get(item: BaseModel, path: _Path) -> Any:
    value = getattr(item, path[0])
    if len(path) == 1:
        return value
    return getattr(value[path[1] - 1], path[2]) if path[1] <= len(value) else None


def _study_sheets(study: Study, path: Path) -> list[_OutSheet]:
    sheets = [_key_sheet(STUDY_SHEET, STUDY_KEYS, [study])]
    components = study.study_component
    names = _file_sheet_names(components)
    for section, field_name in SECTIONS:
        overrides: dict[str, Sequence[Cell]] | None = None
        if field_name == "study_component":
            overrides = {"files": names}
        sheets.append(
            _key_sheet(section, SECTION_KEYS[section], getattr(study, field_name), overrides)
        )
    problems: list[Problem] = []
    for component, sheet_name in zip(components, names, strict=True):
        if sheet_name is not None:
            sheets.append(_file_sheet(sheet_name, component.files, problems))
    if problems:
        raise SpreadsheetError(path.name, problems)
    return sheets


def _file_sheet_names(components: Sequence[StudyComponent]) -> list[str | None]:
    """Deterministic, unique, valid sheet names for the components' file lists."""
    taken = {_norm(n) for n in (STUDY_SHEET, HELP_SHEET, *(s for s, _ in SECTIONS))}
    names: list[str | None] = []
    for number, component in enumerate(components, 1):
        if not component.files:
            names.append(None)
            continue
        title = _FORBIDDEN_IN_SHEET_NAMES.sub("_", component.title or "")
        title = " ".join(title.split()).strip("'") or f"component {number}"
        base = f"{FILES_HEADER} - {title}"
        candidates = [base] if len(base) <= MAX_SHEET_NAME else []
        for suffix in (f" ~{number}", *(f" ~{number}-{k}" for k in range(2, 1000))):
            candidates.append(base[: MAX_SHEET_NAME - len(suffix)].rstrip() + suffix)
        name = next(c for c in candidates if _norm(c) not in taken)
        taken.add(_norm(name))
        names.append(name)
    return names


def _file_sheet(name: str, files: Sequence[FileReference], problems: list[Problem]) -> _OutSheet:
    used = [c for c in _FILE_COLUMNS if c == "file_path" or any(getattr(f, c) for f in files)]
    attributes = list(dict.fromkeys(key for f in files for key in f.attributes))
    for key in attributes:
        if _norm(key) in _FILE_COLUMN_NAMES or not key.strip():
            message = f"a file attribute named {key!r} would be read back as a standard column"
            problems.append(Problem(name, 1, None, message))
    sheet = _OutSheet(name, "files")
    sheet.rows.append([*(FILE_COLUMN_LABELS[c] for c in used), *attributes])
    for position, column in enumerate(used):
        sheet.comments[(0, position)] = _help(FileReference, column)
    sheet.bold.add((0, 0))
    for item in files:
        values = [_to_cell(getattr(item, c), "scalar") for c in used]
        sheet.rows.append(values + [item.attributes.get(key) for key in attributes])
    return sheet


def _template_sheets() -> list[_OutSheet]:
    sheets = [_key_sheet(STUDY_SHEET, STUDY_KEYS, [])]
    sheets += [_key_sheet(s, SECTION_KEYS[s], []) for s, _ in SECTIONS]
    for sheet in sheets:
        sheet.text_columns = 1 if sheet.name == STUDY_SHEET else 4
    files = _OutSheet(EXAMPLE_FILE_LIST, "files")
    files.rows.append([FILE_COLUMN_LABELS[c] for c in _FILE_COLUMNS])
    for position, column in enumerate(_FILE_COLUMNS):
        files.comments[(0, position)] = _help(FileReference, column)
    files.bold.add((0, 0))
    return [*sheets, files, _help_sheet(sheets)]


_INSTRUCTIONS = (
    "How to fill in this spreadsheet (bioshare REMBI metadata)",
    "Keys are in column A; write the first author, biosample... in column B, the next in C.",
    "Bold keys are required. Empty cells mean missing. Several values in one cell: a; b; c.",
    "Ontology terms: 'label (CURIE)', e.g. 'Homo sapiens (NCBITaxon:9606)', or a CURIE.",
    "Nested items are numbered: add 'Affiliation 2', 'Affiliation 2 ROR ID'... rows for more.",
    f"File lists: copy sheet {EXAMPLE_FILE_LIST!r} for each study component (first header "
    f"cell {FILES_HEADER!r}, '/' in paths) and put its name in the {FILE_LIST_KEY!r} row.",
    "This Help sheet is ignored when the spreadsheet is read.",
)


def _help_sheet(sheets: list[_OutSheet]) -> _OutSheet:
    help_sheet = _OutSheet(HELP_SHEET, "help")
    help_sheet.rows += [[line] for line in _INSTRUCTIONS]
    help_sheet.rows.append([])
    help_sheet.rows.append(["Sheet", "Key", "Obligation", "Description", "Example"])
    help_sheet.bold.update((len(help_sheet.rows) - 1, c) for c in range(5))
    section_fields = dict(SECTIONS)
    for sheet in sheets:
        if sheet.name in section_fields:
            name = section_fields[sheet.name]
            level = obligation(Study, name)
            doc = (_item_type(Study.model_fields[name].annotation).__doc__ or "").splitlines()
            help_sheet.rows.append([sheet.name, "(the sheet)", level, doc[0], None])
        for row, cells in enumerate(sheet.rows):
            found = sheet.comments[(row, 0)]
            description = found.description or None
            help_sheet.rows.append([sheet.name, cells[0], found.level, description, found.example])
    return help_sheet


def _save_xlsx(sheets: list[_OutSheet], tmp: Path, path: Path) -> None:
    book = Workbook()
    book.remove(book.active)
    problems: list[Problem] = []
    for sheet in sheets:
        _fill_worksheet(book.create_sheet(sheet.name), sheet, problems)
    if problems:
        raise SpreadsheetError(path.name, problems)
    book.save(tmp)


def _fill_worksheet(worksheet: Any, sheet: _OutSheet, problems: list[Problem]) -> None:
    bold = Font(bold=True)
    for row, cells in enumerate(sheet.rows, 1):
        for column, value in enumerate(cells, 1):
            if value is None:
                continue
            cell = worksheet.cell(row, column)
            try:
                cell.value = value
            except ValueError as exc:  # openpyxl's IllegalCharacterError
                where = Problem(sheet.name, row, get_column_letter(column), "")
                problems.append(_with_message(where, f"XLSX cannot hold this text ({exc})"))
                continue
            if isinstance(value, str):
                cell.data_type = "s"  # text, even when it starts with '='
        if sheet.kind == "keys" and sheet.text_columns:
            for column in range(2, 2 + sheet.text_columns):
                worksheet.cell(row, column).number_format = "@"
    for (row, column), found in sheet.comments.items():
        comment = Comment(str(found), "bioshare")
        comment.width, comment.height = 300, 120
        worksheet.cell(row + 1, column + 1).comment = comment
    for row, column in sheet.bold:
        worksheet.cell(row + 1, column + 1).font = bold
    _layout_worksheet(worksheet, sheet)


def _with_message(problem: Problem, message: str) -> Problem:
    return Problem(problem.sheet, problem.row, problem.column, message)


def _layout_worksheet(worksheet: Any, sheet: _OutSheet) -> None:
    widths = {"keys": (34, 40), "files": (40, 18), "help": (22, 40)}[sheet.kind]
    columns = max((len(r) for r in sheet.rows), default=1)
    for column in range(1, max(columns, 2) + 1):
        width = widths[0] if column == 1 else widths[1]
        worksheet.column_dimensions[get_column_letter(column)].width = width
    if sheet.kind == "keys":
        worksheet.freeze_panes = "B1"
    elif sheet.kind == "files":
        worksheet.freeze_panes = "A2"


def _save_text(sheets: list[_OutSheet], tmp: Path, delimiter: str) -> None:
    with tmp.open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        for index, sheet in enumerate(sheets):
            if index:
                writer.writerow([])
            writer.writerow([f"[{sheet.name}]"])
            for cells in sheet.rows:
                writer.writerow(_trimmed(cells))


def _trimmed(cells: list[Cell]) -> list[str]:
    text = ["" if value is None else str(value) for value in cells]
    while text and not text[-1]:
        text.pop()
    return text
