"""Capture an analysis as a Process Run Crate, and re-run it to check its results.

In the notebook, declare what a re-run must reproduce::

    from bioshare.reproduce import record
    record("nuclei_count", count)            # exact
    record("mean_area", area, rtol=1e-3)     # within a tolerance
    record("areas", table)                   # a pandas DataFrame
    record("overview", fig)                  # a matplotlib Figure, compared as an image

Then ``analysis = bioshare.reproduce.capture("analysis.ipynb", parameters)`` runs it and
writes the crate, ``bioshare.publish(..., analysis=analysis)`` publishes it with the data,
and ``bioshare.rerun(doi)`` runs it again and reports what matched and what drifted.
"""

from __future__ import annotations

from typing import Any

from bioshare.reproduce.recording import record, record_figure, record_table

__all__ = [
    "Analysis",
    "RerunReport",
    "capture",
    "record",
    "record_figure",
    "record_table",
    "rerun",
]

# capture/rerun load papermill, rocrate and friends; `record` in a kernel must stay light.
_LAZY = {
    "capture": "bioshare.reproduce.capturing",
    "rerun": "bioshare.reproduce.rerunning",
    "Analysis": "bioshare.reproduce.crate",
    "RerunReport": "bioshare.reproduce.report",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bioshare.reproduce' has no attribute {name!r}")
