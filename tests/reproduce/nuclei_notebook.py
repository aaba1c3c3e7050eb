"""A small image analysis notebook and its input images, built for the reproduce tests."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np

ANALYSIS = """\
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from skimage import measure

from bioshare.reproduce import record

image = np.load(image_path)
labels = measure.label(image > threshold)
properties = ("label", "area", "intensity_mean")
table = pd.DataFrame(measure.regionprops_table(labels, image, properties=properties))
record("nuclei_count", int(labels.max()))
record("mean_area", float(table["area"].mean()), rtol=1e-3)
record("areas", table)
record("label_image", labels)
figure, axes = plt.subplots(figsize=(2, 2))
axes.imshow(labels, cmap="viridis")
axes.set_axis_off()
record("labels_figure", figure)
record("summary", {"threshold": threshold, "shape": list(image.shape), "note": note})
"""


def write_notebook(path: Path) -> Path:
    """The analysis notebook, with a ``parameters`` cell as papermill expects."""
    notebook = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell('image_path = ""\nthreshold = 0.5\nnote = "nuclei"')
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Counting nuclei"),
        parameters,
        nbformat.v4.new_code_cell(ANALYSIS),
    ]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, str(path))
    return path


def write_image(path: Path, blobs: int, seed: int = 0) -> Path:
    """A 64x64 image with ``blobs`` bright 6x6 squares on faint noise."""
    rng = np.random.default_rng(seed)
    image = rng.normal(0.1, 0.02, (64, 64))
    for i in range(blobs):
        y, x = 4 + 12 * (i // 5), 4 + 12 * (i % 5)
        image[y : y + 6, x : x + 6] = 0.9 + 0.01 * i
    np.save(path, image)
    return path
