"""Figures: sample images with their predicted labels, latency distributions, speedups.

Every function returns the matplotlib Figure and, given `save_to`, writes a PNG there, so the
headless run leaves the figures under the work directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt


def _save(figure: Any, save_to: Path | None) -> Any:
    if save_to is not None:
        save_to.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(save_to, dpi=110, bbox_inches="tight")
    return figure


def image_grid(images: list[Any], titles: list[str], save_to: Path | None = None, columns: int = 3) -> Any:
    """Show images side by side, each with its title (e.g. 'tiger cat 38.6%')."""
    rows = -(-len(images) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 4 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, image, title in zip(axes.flat, images, titles, strict=False):
        axis.imshow(image)
        axis.set_title(title, fontsize=11)
    figure.tight_layout()
    return _save(figure, save_to)
