"""`Study`, the root of REMBI metadata, and its completeness check."""

from __future__ import annotations

import copy
import datetime as dt
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ValidationError

from bioshare.metadata.models import (
    Annotation,
    Biosample,
    Contributor,
    Doi,
    ExternalReference,
    Grant,
    ImageAcquisition,
    ImageAnalysis,
    ImageCorrelation,
    Licence,
    MetadataModel,
    Publication,
    Specimen,
    StudyComponent,
    date_or_none,
    desirable,
    obligation,
    optional,
    required,
)
from bioshare.metadata.report import CompletenessReport

__all__ = ["Study"]

ReleaseDate = Annotated[dt.date | None, BeforeValidator(date_or_none)]
# Lists of files and harvested image data are checked, not counted: a study with 10,000
# files would otherwise be scored on its file list alone.
_NOT_COUNTED = frozenset({"files", "image_data"})
_REFERENCES = {
    "biosample": "biosample",
    "specimen": "specimen",
    "image_acquisition": "image_acquisition",
    "image_correlation": "image_correlation",
    "image_analysis": "image_analysis",
    "annotation": "annotation",
}


class Study(MetadataModel):
    """A REMBI study: what was imaged, how, by whom, under which licence.

    Examples
    --------
    >>> study = Study(title="Mitosis in HeLa cells", licence="CC BY 4.0")
    >>> study.licence
    'https://creativecommons.org/licenses/by/4.0/'
    >>> study.validate().ok
    False
    """

    accession_id: str | None = optional("Accession", "Given by the repository, e.g. S-BIAD634")
    doi: Doi = optional("DOI", "Given when the data are published")
    title: str | None = required("Title", examples=["Mitosis in HeLa cells, 3D time-lapse"])
    description: str | None = required("Description")
    release_date: ReleaseDate = required("Release date", "YYYY-MM-DD")
    keyword: list[str] = required("Keywords", factory=list)
    licence: Licence = required("License", "CC0 or CC BY 4.0", examples=["CC BY 4.0"])
    author: list[Contributor] = required("Authors", factory=list)
    acknowledgement: str | None = desirable("Acknowledgements")
    funding_statement: str | None = desirable("Funding statement")
    grant: list[Grant] = desirable("Grants", factory=list)
    related_publication: list[Publication] = desirable("Publications", factory=list)
    see_also: list[ExternalReference] = desirable("Links", factory=list)
    study_component: list[StudyComponent] = required("Study components", factory=list)
    biosample: list[Biosample] = required("Biosamples", factory=list)
    specimen: list[Specimen] = required("Specimens", factory=list)
    image_acquisition: list[ImageAcquisition] = required("Image acquisitions", factory=list)
    image_correlation: list[ImageCorrelation] = desirable("Image correlations", factory=list)
    image_analysis: list[ImageAnalysis] = desirable("Image analyses", factory=list)
    annotation: list[Annotation] = desirable("Annotations", factory=list)

    # -- files ------------------------------------------------------------------------------

    @classmethod
    def from_spreadsheet(cls, path: str | os.PathLike[str]) -> Study:
        """Read a study from an XLSX, CSV or TSV file (`bioshare.metadata.spreadsheet`)."""
        from bioshare.metadata.spreadsheet import read_spreadsheet

        return read_spreadsheet(path)

    def to_spreadsheet(self, path: str | os.PathLike[str]) -> Path:
        """Write the study as XLSX, CSV or TSV (by extension), atomically."""
        from bioshare.metadata.spreadsheet import write_spreadsheet

        return write_spreadsheet(self, path)

    @classmethod
    def from_ome_zarr(
        cls, source: str | os.PathLike[str], *, storage_options: dict[str, Any] | None = None
    ) -> Study:
        """Read the study stored in an OME-Zarr's ``bioshare`` attributes."""
        from bioshare.metadata.omezarr import read_study

        return read_study(source, storage_options=storage_options)

    def to_ome_zarr(self, target: str | os.PathLike[str]) -> Path:
        """Store the study in a local OME-Zarr's ``bioshare`` attributes, atomically."""
        from bioshare.metadata.omezarr import write_study

        return write_study(self, target)

    # -- checks -----------------------------------------------------------------------------

    def validate(self) -> CompletenessReport:  # type: ignore[override]
        """Check the study: missing required and desirable fields, invalid values, a score."""
        return type(self).check(self.model_dump(mode="python"))

    @classmethod
    def valid_part(cls, data: dict[str, Any]) -> tuple[Study, list[tuple[str, str]]]:
        """The study made of the valid values of ``data``, and (path, message) of the others.

        For forms and spreadsheets being filled in: nothing is lost to one bad value.
        """
        data = copy.deepcopy(data)
        invalid: list[tuple[str, str]] = []
        for _ in range(100):
            try:
                return cls.model_validate(data), invalid
            except ValidationError as exc:
                for error in exc.errors():
                    invalid.append((_path(error["loc"]), _message(error)))
                    _drop(data, list(error["loc"]))
        raise AssertionError("unreachable: every round drops at least one value")

    @classmethod
    def check(cls, data: dict[str, Any]) -> CompletenessReport:
        """`validate` for raw data (a form, a spreadsheet), reporting every invalid value."""
        report = CompletenessReport()
        study = _lenient(cls, data, report)
        _walk(study, "", report)
        _check_references(study, report)
        return report


def _lenient(cls: type[Study], data: dict[str, Any], report: CompletenessReport) -> Study:
    """Validate ``data``, reporting and dropping each invalid value until the rest passes."""
    study, invalid = cls.valid_part(data)
    for path, message in invalid:
        report.add(path, "invalid", message)
    return study


def _message(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return "unknown field; check its spelling"
    return message


def _drop(data: Any, loc: list[Any]) -> None:
    """Remove the value at ``loc`` (pydantic's error location) from nested data."""
    if not loc:  # the whole input was rejected
        data.clear()
        return
    *parents, last = loc
    node = data
    for key in parents:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(node, dict):
        node.pop(last, None)
    elif isinstance(node, list) and isinstance(last, int) and last < len(node):
        node.pop(last)


def _path(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(study)"


def _empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, list | dict) and not value)


def _walk(model: BaseModel, path: str, report: CompletenessReport) -> None:
    invalid = {issue.path for issue in report.invalid}
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        where = f"{path}.{name}" if path else name
        level = obligation(type(model), name)
        if level != "optional" and name not in _NOT_COUNTED:
            report.count(level, not _empty(value))
            if _empty(value) and where not in invalid:  # an invalid value was reported
                hint = f" ({info.description})" if info.description else ""
                message = f"missing {level} field '{info.title}'{hint}"
                report.add(where, f"missing-{level}", message)  # type: ignore[arg-type]
        if name == "files":
            for index, item in enumerate(value):
                if not item.file_path:
                    report.add(f"{where}[{index}]", "invalid", "a file list row without a path")
            continue
        if name in _NOT_COUNTED:
            continue
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            if isinstance(item, MetadataModel):
                _walk(item, f"{where}[{index}]" if isinstance(value, list) else where, report)


def _check_references(study: Study, report: CompletenessReport) -> None:
    """Study components name their biosample, specimen... by title: those must exist."""
    for index, component in enumerate(study.study_component):
        for attribute, collection in _REFERENCES.items():
            name = getattr(component, attribute)
            if not name:
                continue
            titles = [item.title for item in getattr(study, collection)]
            if name not in titles:
                known = ", ".join(repr(t) for t in titles if t) or "none yet"
                report.add(
                    f"study_component[{index}].{attribute}",
                    "invalid",
                    f"{name!r} names no {attribute.replace('_', ' ')} of the study "
                    f"(known: {known})",
                )
