"""Describe image data with community metadata: REMBI and MIFA models, ontology terms,
spreadsheets, exports (RO-Crate, JSON-LD, DataCite, Zenodo, InvenioRDM), and metadata
harvested from the images themselves.
"""

from bioshare.metadata.describe import describe_image
from bioshare.metadata.models import (
    Affiliation,
    Annotation,
    AnnotationType,
    Biosample,
    Channel,
    Contributor,
    ExternalReference,
    FileReference,
    FundingBody,
    Grant,
    ImageAcquisition,
    ImageAnalysis,
    ImageCorrelation,
    ImageData,
    Publication,
    Specimen,
    StudyComponent,
)
from bioshare.metadata.ontology import (
    OntologyTerm,
    TermNotFoundError,
    get_term,
    lookup_term,
    resolve_term,
)
from bioshare.metadata.report import CompletenessReport, Issue
from bioshare.metadata.study import Study

__all__ = [
    "Affiliation",
    "Annotation",
    "AnnotationType",
    "Biosample",
    "Channel",
    "CompletenessReport",
    "Contributor",
    "ExternalReference",
    "FileReference",
    "FundingBody",
    "Grant",
    "ImageAcquisition",
    "ImageAnalysis",
    "ImageCorrelation",
    "ImageData",
    "Issue",
    "OntologyTerm",
    "Publication",
    "Specimen",
    "Study",
    "StudyComponent",
    "TermNotFoundError",
    "describe_image",
    "get_term",
    "lookup_term",
    "resolve_term",
]
