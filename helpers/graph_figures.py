"""The pictures of notebook 02's "inside the compiler" (client side): what graph_view reads, drawn.

Three figures, each readable at 100 % zoom (11-12 pt labels, nothing packed tighter than a row):

- `plot_node_funnel`: the node count at each stage, all nodes and the computing ones, so the
  compiler's work reads as one shrinking funnel;
- `plot_stage_counts`: one panel per stage with its most frequent operator types (small
  multiples instead of one bar table of every type times every stage);
- `plot_fusion`: one block of the model before (the generated graph's operators) and after (the
  CPU plugin's kernels), an arrow from every operator to the kernel that absorbed it.

Each returns the matplotlib Figure and, given `save_to`, writes a PNG there (helpers.plots).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

from helpers.graph_view import count_table, node_totals
from helpers.plots import save_figure

FONT = 11


def plot_node_funnel(stages: dict[str, Counter[str]], save_to: Path | None = None) -> Any:
    """Horizontal bars, one pair per stage from top to bottom: all nodes, and the computing ones."""
    totals = node_totals(stages)
    names = list(totals)[::-1]
    figure, axis = plt.subplots(figsize=(9, 0.9 * len(names) + 1.2))
    rows = range(len(names))
    every = axis.barh([y + 0.2 for y in rows], [totals[n]["all"] for n in names], height=0.4,
                      color="tab:gray", alpha=0.55, label="all nodes (with weights, input, output)")
    computing = axis.barh([y - 0.2 for y in rows], [totals[n]["computing"] for n in names], height=0.4,
                          color="tab:orange", label="nodes that compute")
    for bars in (every, computing):
        axis.bar_label(bars, padding=3, fontsize=FONT)
    axis.set_yticks(list(rows), names, fontsize=FONT + 1)
    axis.set_xlabel("nodes", fontsize=FONT)
    axis.set_xlim(0, max(t["all"] for t in totals.values()) * 1.15)
    axis.set_title("Each stage leaves fewer nodes: the compiler's funnel", fontsize=FONT + 2)
    axis.legend(loc="lower right", fontsize=FONT)
    axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return save_figure(figure, save_to)


def plot_stage_counts(stages: dict[str, Counter[str]], save_to: Path | None = None, top: int = 10) -> Any:
    """One panel per stage: how many operators of each of the `top` most frequent types it holds."""
    shown = count_table(stages, top=top)[:-1]
    labels = [r["operator type"] for r in shown][::-1]
    figure, axes = plt.subplots(1, len(stages), figsize=(3.3 * len(stages) + 1.5, 0.42 * len(labels) + 1.6),
                                sharey=True, squeeze=False)
    colours = plt.get_cmap("tab10").colors
    for axis, colour, (stage, counts) in zip(axes[0], colours, stages.items(), strict=False):
        values = [r[stage] for r in shown][::-1]
        bars = axis.barh(labels, values, color=colour)
        axis.bar_label(bars, labels=[str(v) if v else "" for v in values], padding=2, fontsize=FONT - 1)
        axis.set_title(f"{stage}\n{sum(counts.values())} nodes", fontsize=FONT + 1)
        axis.set_xlim(0, max(max(values, default=1), 1) * 1.3)
        axis.tick_params(axis="y", labelsize=FONT)
        axis.tick_params(axis="x", labelsize=FONT - 1)
        axis.grid(axis="x", alpha=0.3)
    figure.suptitle(f"Operators by type at each stage (the {top} most frequent types; the rest summed)",
                    fontsize=FONT + 2)
    figure.tight_layout()
    return save_figure(figure, save_to)


def _box(axis: Any, x: float, y: float, width: float, height: float, text: str, colour: str) -> None:
    axis.add_patch(FancyBboxPatch((x, y), width, height, boxstyle="round,pad=0.02,rounding_size=0.08",
                                  facecolor=colour, edgecolor="black", linewidth=0.8))
    axis.text(x + width / 2, y + height / 2, text, ha="center", va="center", fontsize=FONT)


def plot_fusion(example: list[dict[str, Any]], save_to: Path | None = None) -> Any:
    """One block before and after fusion: a box per generated operator (left), per kernel (right).

    `example` is graph_view.fusion_example's list: each kernel with the operator types it absorbed.
    """
    rows = sum(len(group["before"]) for group in example)
    figure, axis = plt.subplots(figsize=(10, 0.55 * rows + 1.4))
    row = 0
    for group in example:
        top = rows - row
        for i, op_type in enumerate(group["before"]):
            y = top - i - 0.9
            _box(axis, 0.0, y, 3.2, 0.75, op_type, "#dbe9f6")
            axis.annotate("", xy=(5.0, top - len(group["before"]) / 2), xytext=(3.25, y + 0.375),
                          arrowprops={"arrowstyle": "->", "color": "gray", "linewidth": 0.8})
        span = len(group["before"])
        time = f", {group['time_us']} µs" if group.get("time_us") is not None else ""
        _box(axis, 5.0, top - span + 0.05, 4.6, span - 0.2, f"{group['type']}\n{group['kernel']}{time}", "#fde3c8")
        row += span
    axis.text(1.6, rows + 0.3, f"generated graph: {rows} operators", ha="center", fontsize=FONT + 1, weight="bold")
    axis.text(7.3, rows + 0.3, f"CPU runtime graph: {len(example)} kernels", ha="center", fontsize=FONT + 1,
              weight="bold")
    axis.set_xlim(-0.2, 9.8)
    axis.set_ylim(-0.2, rows + 0.9)
    axis.axis("off")
    axis.set_title("One block before and after fusion", fontsize=FONT + 2)
    figure.tight_layout()
    return save_figure(figure, save_to)
