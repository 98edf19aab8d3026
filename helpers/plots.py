"""Figures: sample images with their predicted labels, latency distributions, speedups.

Every function returns the matplotlib Figure and, given `save_to`, writes a PNG there, so the
headless run leaves the figures under the work directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.ticker import LogFormatter


def save_figure(figure: Any, save_to: Path | None) -> Any:
    """Write `figure` to `save_to` (creating its folder) when given; return the figure."""
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
    return save_figure(figure, save_to)


def latency_distributions(samples: dict[str, list[float]], title: str, save_to: Path | None = None) -> Any:
    """One box per engine (median line, quartile box, whiskers to 1.5 IQR, outliers as dots).

    Boxes show the tail that a single average hides; the axis turns logarithmic when the
    engines differ by more than 10x, so the fast ones do not shrink to a line. Its labels stay
    plain milliseconds (4, 10, 40), not matplotlib's default 4 × 10^0, 10^1, 4 × 10^1.
    """
    labels = list(samples)
    data = [samples[label] for label in labels]
    figure, axis = plt.subplots(figsize=(max(6.0, 1.3 * len(labels)), 4.5))
    axis.boxplot(data, tick_labels=labels, showfliers=True, flierprops={"markersize": 3})
    values = [v for series in data for v in series if v > 0]
    if values and max(values) / min(values) > 10:
        axis.set_yscale("log")
        axis.yaxis.set_major_formatter(LogFormatter())
        axis.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.4)))
    axis.set_ylabel("latency (ms)")
    axis.set_title(title)
    axis.grid(axis="y", alpha=0.3, which="both")
    axis.tick_params(axis="x", labelrotation=20)
    figure.tight_layout()
    return save_figure(figure, save_to)


def speedup_bars(rows: list[dict[str, Any]], save_to: Path | None = None, batch: int = 1) -> Any:
    """Median speedup over eager PyTorch per engine at one batch size, with a line at 1x.

    fp32 rows and reduced-precision rows (bf16) get a panel each, with its own title, so a bf16
    bar is never read beside the fp32 results it must not be compared with.
    """
    chosen = [r for r in rows if r["batch"] == batch and r.get("speedup_vs_eager")]
    panels = [("fp32", [r for r in chosen if r["precision"] == "fp32"]),
              ("reduced precision (bf16): not comparable with fp32",
               [r for r in chosen if r["precision"] != "fp32"])]
    panels = [(title, panel) for title, panel in panels if panel] or [("fp32", [])]
    widths = [max(len(panel), 2) for _, panel in panels]
    figure, axes = plt.subplots(1, len(panels), figsize=(max(6.0, 1.6 * sum(widths)), 4.8), squeeze=False,
                                gridspec_kw={"width_ratios": widths})
    top = max((r["speedup_vs_eager"] for r in chosen), default=1.0) * 1.18
    for axis, (title, panel) in zip(axes[0], panels, strict=True):
        values = [r["speedup_vs_eager"] for r in panel]
        bars = axis.bar([r["engine"] for r in panel], values,
                        color=["tab:orange" if r["engine"].startswith("neo-local") else "tab:blue" for r in panel])
        axis.bar_label(bars, labels=[f"{v:.1f}x" for v in values], padding=2, fontsize=12)
        axis.axhline(1.0, color="black", linewidth=1, linestyle="--")
        axis.set_title(title, fontsize=12)
        axis.set_ylim(0, top)
        axis.tick_params(axis="x", labelsize=11, rotation=20)
    axes[0][0].set_ylabel("speedup vs eager (median latency)", fontsize=12)
    figure.suptitle(f"Speedup over eager PyTorch, batch {batch}", fontsize=13)
    figure.tight_layout()
    return save_figure(figure, save_to)


SPLIT_PARTS = ("preprocessing (input_fn)", "model (predict_fn)", "answer (output_fn)",
               "model server (rest of ModelLatency)", "OverheadLatency", "client and network")


def latency_split(splits: dict[str, dict[str, float]], title: str, save_to: Path | None = None) -> Any:
    """One stacked bar per endpoint: its mean round trip in the parts `latency_split.split` names.

    The first four parts add up to ModelLatency (SageMaker's view of the container), then
    SageMaker's OverheadLatency, then what neither metric sees (the client and the network).
    """
    labels = list(splits)
    figure, axis = plt.subplots(figsize=(max(6.0, 2.2 * len(labels)), 4.8))
    bottoms = [0.0] * len(labels)
    colours = plt.get_cmap("tab10").colors
    for colour, part in zip(colours, SPLIT_PARTS, strict=False):
        values = [max(splits[label].get(part, 0.0), 0.0) for label in labels]
        axis.bar(labels, values, bottom=bottoms, color=colour, label=part, width=0.5)
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    for x, (label, top) in enumerate(zip(labels, bottoms, strict=True)):
        axis.annotate(f"{splits[label]['round trip']:.1f} ms round trip", (x, top), ha="center", va="bottom",
                      xytext=(0, 3), textcoords="offset points")
    axis.set_ylabel("mean time per invocation (ms)")
    axis.set_title(title)
    axis.set_ylim(0, max(bottoms, default=1.0) * 1.15)
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9)
    figure.tight_layout()
    return save_figure(figure, save_to)
