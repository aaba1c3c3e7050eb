"""Errors raised while reading DICOM and NIfTI images."""

from __future__ import annotations

from bioshare.errors import BioshareError

__all__ = [
    "FormatError",
    "MissingSlicesError",
    "MixedOrientationError",
    "MixedShapesError",
    "MultipleSeriesError",
    "NoDicomError",
    "ShearedStackError",
]


class FormatError(BioshareError, ValueError):
    """A medical image (DICOM, NIfTI) cannot be read as one consistent volume."""


class NoDicomError(FormatError):
    """No DICOM image was found where one was expected."""


class MultipleSeriesError(FormatError):
    """The source holds several series; ``series=`` must pick one.

    Attributes
    ----------
    series
        ``(SeriesInstanceUID, description, number of images)`` for each series found.
    """

    def __init__(self, message: str, series: list[tuple[str, str, int]]) -> None:
        super().__init__(message)
        self.series = series


class MixedOrientationError(FormatError):
    """The images of one series do not share one ImageOrientationPatient."""


class MixedShapesError(FormatError):
    """The images of one series differ in rows, columns or pixel spacing."""


class MissingSlicesError(FormatError):
    """The slice positions of a series are unevenly spaced (slices missing or duplicated)."""


class ShearedStackError(FormatError):
    """The slices of a series shift within the image plane (gantry tilt): not a grid."""
