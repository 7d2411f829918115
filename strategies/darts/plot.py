"""A picture of a DARTS genotype's normal and reduction cells, in the style of the paper's Figures 4 and 5.

Nodes: the cell inputs ``c_{k-2}``, ``c_{k-1}``, the intermediate nodes ``0 .. n-1`` and the output ``c_{k}``
(their concatenation); each edge is labelled with its operation. Drawn with matplotlib alone (no graphviz).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch
from matplotlib.path import Path as CurvePath

OP_COLOURS = {
    "max_pool_3x3": "tab:blue", "avg_pool_3x3": "tab:cyan", "skip_connect": "tab:gray",
    "sep_conv_3x3": "tab:red", "sep_conv_5x5": "tab:orange", "dil_conv_3x3": "tab:green",
    "dil_conv_5x5": "tab:olive", "none": "lightgray",
}


def _node_positions(num_nodes: int) -> dict[int | str, tuple[float, float]]:
    positions: dict[int | str, tuple[float, float]] = {0: (0.0, 1.2), 1: (0.0, -1.2)}
    for node in range(num_nodes):
        positions[node + 2] = (1.6 * (node + 1), 0.9 if node % 2 == 0 else -0.9)
    positions["out"] = (1.6 * (num_nodes + 1), 0.0)
    return positions


def _node_name(node: int | str) -> str:
    if node == "out":
        return "c_{k}"
    return {0: "c_{k-2}", 1: "c_{k-1}"}.get(node, str(int(node) - 2))  # type: ignore[arg-type]


def _arc(start: tuple[float, float], end: tuple[float, float], bend: float) -> tuple[CurvePath, tuple[float, float]]:
    """A quadratic curve from ``start`` to ``end`` in data coordinates, bowed sideways by ``bend`` times its length
    and trimmed at both ends to clear the node boxes, and its midpoint (where the label goes)."""
    (x0, y0), (x2, y2) = start, end
    control = ((x0 + x2) / 2 + bend * (y2 - y0), (y0 + y2) / 2 - bend * (x2 - x0))

    def point(t: float) -> tuple[float, float]:
        return (float((1 - t) ** 2 * x0 + 2 * (1 - t) * t * control[0] + t ** 2 * x2),
                float((1 - t) ** 2 * y0 + 2 * (1 - t) * t * control[1] + t ** 2 * y2))

    length = math.hypot(x2 - x0, y2 - y0)
    trim = min(0.35 / max(length, 1e-6), 0.3)
    return CurvePath([point(t) for t in np.linspace(trim, 1 - trim, 30)]), point(0.5)


def draw_cell(ax: Axes, edges: list[tuple[str, int]], concat: range, title: str) -> None:
    """Draw one cell: ``edges`` lists two ``(op, source)`` pairs per intermediate node, node by node."""
    num_nodes = len(edges) // 2
    positions = _node_positions(num_nodes)
    for index, (op, source) in enumerate(edges):
        target = index // 2 + 2
        bend = 0.25 if index % 2 == 0 else -0.25  # the two inputs of a node bow to opposite sides
        curve, middle = _arc(positions[source], positions[target], bend)
        colour = OP_COLOURS.get(op, "black")
        ax.add_patch(FancyArrowPatch(path=curve, arrowstyle="-|>", mutation_scale=12, color=colour, linewidth=1.6))
        ax.text(*middle, op, fontsize=7, ha="center", va="center", color=colour,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85})
    for node in concat:
        (x0, y0), (x1, y1) = positions[node], positions["out"]
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=10, shrinkA=14,
                                     shrinkB=14, color="silver", linestyle="--", linewidth=1.0))
    for node, (x, y) in positions.items():
        is_io = node in (0, 1, "out")
        ax.text(x, y, _node_name(node), ha="center", va="center", fontsize=9,
                bbox={"boxstyle": "round,pad=0.4", "fc": "lightsteelblue" if is_io else "wheat", "ec": "black"})
    xs = [p[0] for p in positions.values()]
    ax.set_xlim(min(xs) - 0.8, max(xs) + 0.8)
    ax.set_ylim(-2.0, 2.0)
    ax.set_title(title)
    ax.axis("off")


def plot_cells(genotype, path: str | Path, title: str = "") -> Path:
    """Save the normal and the reduction cell of ``genotype`` (a :class:`model_spaces.darts.Genotype`) as a PNG."""
    figure = Figure(figsize=(14, 4.8))
    FigureCanvasAgg(figure)
    normal_ax, reduce_ax = figure.subplots(1, 2)
    draw_cell(normal_ax, genotype.normal, genotype.normal_concat, "normal cell")
    draw_cell(reduce_ax, genotype.reduce, genotype.reduce_concat, "reduction cell")
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    path = Path(path)
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    figure.savefig(partial, dpi=110)
    partial.replace(path)  # a crash while drawing never leaves a half-written picture
    return path
