"""REMBI and MIFA metadata as pydantic models, named as the BioImage Archive names them.

Field names follow ``bia-shared-datamodels`` (``title``, ``licence``, ``author``,
``protocol_description``...), so that mapping to a BioImage Archive submission is direct.
Every field says how much it matters (``obligation``: required, desirable or optional, as
the archive's submission form asks) and carries a human label (``title``) used by the
spreadsheets and the completeness report.

Values are checked when set (e-mail, ORCID check digit, ROR, DOI, licence, dates, ontology
terms); missing values are not errors until `Study.validate` reports them, so a study can
be written down bit by bit.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from bioshare.metadata import checks
from bioshare.metadata.ontology import OntologyTerm, TermNotFoundError, resolve_term

__all__ = [
    "Affiliation",
    "Annotation",
    "AnnotationType",
    "Biosample",
    "Channel",
    "Contributor",
    "ExternalReference",
    "FileReference",
    "FundingBody",
    "Grant",
    "ImageAcquisition",
    "ImageAnalysis",
    "ImageCorrelation",
    "ImageData",
    "MetadataModel",
    "Obligation",
    "Publication",
    "Specimen",
    "StudyComponent",
    "obligation",
]

Obligation = Literal["required", "desirable", "optional"]


def _field(
    obligation: Obligation,
    title: str,
    description: str = "",
    *,
    default: Any = None,
    factory: Callable[[], Any] | None = None,
    examples: list[Any] | None = None,
) -> Any:
    extra: dict[str, Any] = {"obligation": obligation}
    if factory is not None:
        return Field(
            default_factory=factory,
            title=title,
            description=description,
            examples=examples,
            json_schema_extra=extra,
        )
    return Field(
        default, title=title, description=description, examples=examples, json_schema_extra=extra
    )


def required(title: str, description: str = "", **kwargs: Any) -> Any:
    """A field the BioImage Archive requires (missing: an error in the report)."""
    return _field("required", title, description, **kwargs)


def desirable(title: str, description: str = "", **kwargs: Any) -> Any:
    """A field the BioImage Archive asks for (missing: a warning in the report)."""
    return _field("desirable", title, description, **kwargs)


def optional(title: str, description: str = "", **kwargs: Any) -> Any:
    """A field nobody asks for, kept when given."""
    return _field("optional", title, description, **kwargs)


def obligation(model: type[BaseModel], name: str) -> Obligation:
    """How much field ``name`` of ``model`` matters."""
    extra = model.model_fields[name].json_schema_extra
    value = extra.get("obligation") if isinstance(extra, dict) else None
    return value if value in ("required", "desirable") else "optional"  # type: ignore[return-value]


# -- checked value types ----------------------------------------------------------------------


def _checked(func: Callable[[str], str]) -> Callable[[str | None], str | None]:
    def check(value: str | None) -> str | None:
        return None if value is None else func(value)

    return check


def _term_in(ontology: str | tuple[str, ...]) -> Callable[[Any], Any]:
    def resolve(value: Any) -> Any:
        if isinstance(value, str):
            # "Homo sapiens (NCBITaxon:9606)", as spreadsheets show terms
            labelled = re.match(r"^.*\(\s*([A-Za-z]+[:_]\w+)\s*\)\s*$", value)
            value = labelled.group(1) if labelled else value
        try:
            return resolve_term(value, ontology)
        except (TermNotFoundError, TypeError) as exc:
            raise ValueError(str(exc)) from None

    return resolve


Email = Annotated[str | None, AfterValidator(_checked(checks.normalize_email))]
Orcid = Annotated[str | None, AfterValidator(_checked(checks.normalize_orcid))]
Ror = Annotated[str | None, AfterValidator(_checked(checks.normalize_ror))]
Doi = Annotated[str | None, AfterValidator(_checked(checks.normalize_doi))]
Licence = Annotated[str | None, AfterValidator(_checked(checks.normalize_licence))]
Taxon = Annotated[OntologyTerm, BeforeValidator(_term_in("ncbitaxon"))]
ImagingMethod = Annotated[OntologyTerm, BeforeValidator(_term_in("fbbi"))]
BiologicalTerm = Annotated[OntologyTerm, BeforeValidator(_term_in(("efo", "cl", "uberon")))]


class MetadataModel(BaseModel):
    """Shared behaviour: unknown fields rejected, blank strings read as missing."""

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, validate_assignment=True, frozen=False
    )

    @model_validator(mode="before")
    @classmethod
    def _blanks_are_missing(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}


# -- study-level ----------------------------------------------------------------------------------


class Affiliation(MetadataModel):
    """An organisation a contributor belongs to."""

    display_name: str | None = required("Organisation", examples=["EMBL-EBI"])
    rorid: Ror = desirable("ROR ID", "https://ror.org/... of the organisation")
    address: str | None = optional("Address")
    website: str | None = optional("Website")


class Contributor(MetadataModel):
    """An author or contact of the study."""

    display_name: str | None = required("Name", "Full name", examples=["Josiah Carberry"])
    contact_email: Email = required("E-mail")
    affiliation: list[Affiliation] = required("Affiliation", factory=list)
    orcid: Orcid = desirable("ORCID", examples=["0000-0002-1825-0097"])
    role: list[str] = optional(
        "Role",
        "corresponding author, data acquisition, first author, principal investigator, "
        "submitter...",
        factory=list,
    )
    address: str | None = optional("Address")
    website: str | None = optional("Website")

    @property
    def orcid_url(self) -> str | None:
        return f"https://orcid.org/{self.orcid}" if self.orcid else None


class Publication(MetadataModel):
    """A publication describing or using the data."""

    title: str | None = required("Publication title")
    authors_name: str | None = required("Authors", examples=["Carberry J, Doe J"])
    doi: Doi = desirable("DOI")
    publication_year: int | None = desirable("Year")
    pubmed_id: str | None = optional("PubMed ID")


class FundingBody(MetadataModel):
    """A funder."""

    display_name: str | None = required("Funder", examples=["Wellcome Trust"])
    id: str | None = optional("Funder ID", "ROR or Crossref Funder ID")


class Grant(MetadataModel):
    """A grant that funded the work."""

    id: str | None = required("Grant ID")
    funder: list[FundingBody] = required("Funder", factory=list)


class ExternalReference(MetadataModel):
    """A related web page (code, protocol, another dataset)."""

    link: str | None = required("Link", examples=["https://github.com/lab/analysis"])
    description: str | None = desirable("Link description")


# -- REMBI modules ------------------------------------------------------------------------------


class Biosample(MetadataModel):
    """REMBI Biosample: what was imaged, biologically."""

    title: str | None = required("Biosample title", "Short name others refer to it by")
    organism_classification: list[Taxon] = required(
        "Organism", "NCBITaxon term(s): CURIE, IRI or name", factory=list
    )
    biological_entity_description: str | None = required(
        "Biological entity", examples=["HeLa cells", "mouse brain slices"]
    )
    biological_entity: list[BiologicalTerm] = optional(
        "Biological entity terms",
        "Cell line (EFO), cell type (CL), anatomy (UBERON)",
        factory=list,
    )
    description: str | None = desirable("Description")
    experimental_variable_description: list[str] = desirable("Experimental variable", factory=list)
    extrinsic_variable_description: list[str] = desirable("Extrinsic variable", factory=list)
    intrinsic_variable_description: list[str] = desirable("Intrinsic variable", factory=list)


class Channel(MetadataModel):
    """What one channel shows (REMBI Specimen channel information)."""

    channel_label: str | None = required("Channel", examples=["DAPI"])
    channel_content_description: str | None = desirable("Channel content", examples=["DNA"])
    channel_biological_entity: str | None = desirable(
        "Channel biological entity", examples=["nuclei"]
    )
    signal_contrast_mechanism_description: str | None = optional(
        "Signal/contrast mechanism", examples=["fluorescence"]
    )


class Specimen(MetadataModel):
    """REMBI Specimen: how the biosample was prepared for imaging."""

    title: str | None = required("Specimen title")
    protocol_description: str | None = required("Sample preparation protocol")
    growth_protocol: str | None = desirable("Growth protocol")
    signal_channel_information: list[Channel] = optional("Channels", factory=list)
    experimental_status: str | None = optional("Experimental status", examples=["control"])
    location_within_biosample: str | None = optional("Location within biosample")


class ImageAcquisition(MetadataModel):
    """REMBI Image Acquisition: instrument, parameters and imaging method."""

    title: str | None = required("Image acquisition title")
    imaging_instrument_description: str | None = required(
        "Imaging instrument", examples=["Zeiss LSM 880, 63x/1.4 oil objective"]
    )
    protocol_description: str | None = required(
        "Image acquisition parameters", examples=["pixel dwell 1.5 µs, 405/488 nm lasers"]
    )
    imaging_method: list[ImagingMethod] = required(
        "Imaging method", "FBbi term(s): CURIE, IRI or name", factory=list
    )

    @property
    def fbbi_id(self) -> list[str]:
        """The BioImage Archive's ``fbbi_id`` list."""
        return [t.curie for t in self.imaging_method]

    @property
    def imaging_method_name(self) -> list[str]:
        """The BioImage Archive's ``imaging_method_name`` list."""
        return [t.label for t in self.imaging_method]


class ImageCorrelation(MetadataModel):
    """REMBI Image Correlation: how images were aligned to each other."""

    title: str | None = required("Image correlation title")
    protocol_description: str | None = required("Spatial and temporal alignment")
    fiducials_used: str | None = desirable("Fiducials used")
    transformation_matrix: str | None = desirable("Transformation matrix")


class ImageAnalysis(MetadataModel):
    """REMBI Analysed Data: how images were analysed."""

    title: str | None = required("Image analysis title")
    protocol_description: str | None = required("Image analysis overview")
    features_analysed: str | None = optional("Features analysed")


class AnnotationType(StrEnum):
    """MIFA annotation types."""

    class_labels = "class_labels"
    bounding_boxes = "bounding_boxes"
    counts = "counts"
    derived_annotations = "derived_annotations"
    geometrical_annotations = "geometrical_annotations"
    graphs = "graphs"
    point_annotations = "point_annotations"
    segmentation_mask = "segmentation_mask"
    tracks = "tracks"
    weak_annotations = "weak_annotations"
    other = "other"


class Annotation(MetadataModel):
    """MIFA annotations: what was annotated, how and how well (for AI-ready data)."""

    title: str | None = required("Annotation title")
    protocol_description: str | None = required("Annotation overview")
    method_type: list[AnnotationType] = required("Annotation type", factory=list)
    annotation_method: str | None = required("Annotation method", examples=["manual in napari"])
    annotation_criteria: str | None = desirable("Annotation criteria")
    annotation_coverage: str | None = desirable("Annotation coverage")
    annotation_confidence_level: str | None = desirable("Annotation confidence level")
    transformation_description: str | None = optional("Transformations")
    spatial_information: str | None = optional("Spatial information")


# -- data -----------------------------------------------------------------------------------------


class FileReference(MetadataModel):
    """One row of a file list: a file (or OME-Zarr) and what varies between files."""

    file_path: str | None = required("Files", "Path inside the dataset, with / separators")
    size_in_bytes: int | None = optional("Size (bytes)")
    format: str | None = optional("Format", examples=["OME-Zarr"])
    uri: str | None = optional("URI")
    source_image: str | None = optional("Source image", "For annotations: the image annotated")
    attributes: dict[str, str] = optional("Other columns", factory=dict)


class ImageData(MetadataModel):
    """REMBI Image Data, harvested from the image itself (`describe_image`)."""

    file_path: str | None = optional("Files")
    image_format: str | None = optional("Format", examples=["OME-Zarr"])
    ngff_version: str | None = optional("OME-NGFF version")
    kind: str | None = optional("Kind", "image or plate")
    dims: list[str] = optional("Dimensions", factory=list)
    shape: list[int] = optional("Dimension extents", factory=list)
    dtype: str | None = optional("Data type")
    physical_size: dict[str, float] = optional("Pixel/voxel size", factory=dict)
    units: dict[str, str] = optional("Units", factory=dict)
    channels: list[str] = optional("Channels", factory=list)
    levels: int | None = optional("Resolution levels")
    total_size_in_bytes: int | None = optional("Size on disk (bytes)")
    uncompressed_size_in_bytes: int | None = optional("Uncompressed size (bytes)")
    wells: int | None = optional("Wells")
    fields: int | None = optional("Fields")


class StudyComponent(MetadataModel):
    """A REMBI Study Component (a BioImage Archive dataset): files made the same way.

    It names, by title, the biosample, specimen and acquisition (and correlation,
    analysis, annotation) of the study that describe its files.
    """

    title: str | None = required("Study component name")
    description: str | None = required("Study component description")
    biosample: str | None = required("Biosample", "Title of one of the study's biosamples")
    specimen: str | None = required("Specimen", "Title of one of the study's specimens")
    image_acquisition: str | None = required(
        "Image acquisition", "Title of one of the study's image acquisitions"
    )
    image_correlation: str | None = optional("Image correlation")
    image_analysis: str | None = optional("Image analysis")
    annotation: str | None = optional("Annotation")
    files: list[FileReference] = required("File list", factory=list)
    image_data: list[ImageData] = optional("Image data", factory=list)


def date_or_none(value: Any) -> Any:
    """Dates as spreadsheets give them: ``datetime`` (XLSX) or ISO text."""
    if isinstance(value, dt.datetime):
        return value.date()
    return value
