"""Jupyter widgets over the Python API: find, look, describe and publish in the notebook.

- `Browser` (and `browse`, a Browser with room for the Viewer of the opened image);
- `Viewer`: any lazily loaded DataArray or multiscale DataTree, rendered in the kernel;
- `MetadataEditor`: a REMBI form with validation as you type and autosave;
- `Publisher`: dry run and publish, with a token field never saved in the notebook.
"""

from bioshare.widgets.browser import Browser, browse
from bioshare.widgets.editor import MetadataEditor
from bioshare.widgets.publisher import Publisher
from bioshare.widgets.viewer import Viewer

__all__ = ["Browser", "MetadataEditor", "Publisher", "Viewer", "browse"]
