"""The report of one or more searches: the best architectures, the Pareto front, and two plots.

Prints, per experiment, the top-k table (architecture, params, FLOPs, latency, accuracies) and the trials on the
accuracy-vs-params Pareto front, and saves beside the (first) experiment, in ``<experiment>/nni-nas-report/``:

- ``best_so_far.png``: best accuracy so far against trial number, one line per experiment, labelled by strategy;
- ``accuracy_vs_params.png``: every succeeded trial, accuracy against parameter count, the Pareto front marked.

Reads NNI's own records, so it works while the search runs and after it stopped.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from nni_nas.results.records import ExperimentRecord, TrialRecord

REPORT_FOLDER = "nni-nas-report"
BEST_SO_FAR_FILE = "best_so_far.png"
PARETO_FILE = "accuracy_vs_params.png"


@dataclass
class Point:
    """One succeeded trial on the accuracy-vs-params plane."""

    experiment_id: str
    trial_id: str
    params: float
    accuracy: float


def default_folder(records: list[ExperimentRecord]) -> Path:
    """``<first experiment>/nni-nas-report``, with a sub-folder naming the others when several are compared."""
    folder = records[0].directory / REPORT_FOLDER
    if len(records) > 1:
        folder = folder / ("vs-" + "-".join(r.experiment_id for r in records[1:]))
    return folder


def strategy_name(record: ExperimentRecord) -> str:
    """The strategy's short name (``evolution``, ``random``, ``darts`` ...) from the config's tuner."""
    import strategies

    return strategies.strategy_label(record.config.get("tuner") or {})


def report_text(records: list[ExperimentRecord], top: int = 5, metric: str = "default") -> str:
    """Each experiment's header, top-``top`` table and Pareto-optimal trials, as terminal text."""
    from nni_nas.results.tables import top_table

    blocks = []
    for record in records:
        summary = record.status_summary("no trials yet")
        args = record.class_args
        header = (f"experiment {record.experiment_id}: strategy {strategy_name(record)}, space {args.get('space')}, "
                  f"data {args.get('data')}, {record.optimize_mode} {metric}; trials: {summary}")
        lines = [header, top_table(record, top, key=metric)]
        front = pareto_front(points_of(record, metric), record.optimize_mode)
        if front:
            lines.append("Pareto front (accuracy vs params): " + ", ".join(
                f"{p.trial_id} ({p.accuracy:.4f}, {_params(p.params)} params)" for p in front))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def points_of(record: ExperimentRecord, metric: str = "default") -> list[Point]:
    """Succeeded trials that report both ``metric`` and ``params``."""
    points = []
    for trial in succeeded_with(record, metric):
        params = (trial.final or {}).get("params")
        if isinstance(params, int | float) and params > 0:
            points.append(Point(record.experiment_id, trial.trial_id, float(params), trial.metric(metric)))
    return points


def pareto_front(points: list[Point], optimize_mode: str = "maximize") -> list[Point]:
    """The points no other point beats on both counts (fewer or equal params and better or equal accuracy,
    one of them strictly), by increasing params; identical points are all kept."""
    sign = 1.0 if optimize_mode == "maximize" else -1.0
    front: list[Point] = []
    best = -math.inf
    for point in sorted(points, key=lambda p: (p.params, -sign * p.accuracy)):
        twin = front and (point.params, point.accuracy) == (front[-1].params, front[-1].accuracy)
        if sign * point.accuracy > best or twin:
            front.append(point)
            best = sign * point.accuracy
    return front


def best_so_far(record: ExperimentRecord, metric: str = "default") -> list[tuple[int, float]]:
    """(trial number, best ``metric`` among the trials up to it), from the first succeeded trial on."""
    sign = 1.0 if record.optimize_mode == "maximize" else -1.0
    curve, best = [], None
    for number, trial in enumerate(record.trials, start=1):
        value = trial.metric(metric) if trial.status == "SUCCEEDED" and not trial.over_budget else math.nan
        if not math.isnan(value) and (best is None or sign * value > sign * best):
            best = value
        if best is not None:
            curve.append((number, best))
    return curve


def save_plots(records: list[ExperimentRecord], out: Path, metric: str = "default") -> list[Path]:
    """Write the two PNGs into ``out`` (each atomically); return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    label = _metric_label(metric)
    paths = [out / BEST_SO_FAR_FILE, out / PARETO_FILE]
    _save(_best_so_far_figure(records, metric, label), paths[0])
    _save(_pareto_figure(records, metric, label), paths[1])
    return paths


def _best_so_far_figure(records: list[ExperimentRecord], metric: str, label: str):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.subplots()
    for index, record in enumerate(records):
        color = f"C{index}"
        trials = [(n, t.metric(metric)) for n, t in enumerate(record.trials, start=1)
                  if t.status == "SUCCEEDED" and not t.over_budget and not math.isnan(t.metric(metric))]
        if trials:
            axes.scatter(*zip(*trials), s=12, color=color, alpha=0.35, linewidths=0)
        curve = best_so_far(record, metric)
        if curve:
            axes.step(*zip(*curve), where="post", color=color, linewidth=2,
                      label=f"{strategy_name(record)} ({record.experiment_id}), best {curve[-1][1]:.4f}")
    axes.set_xlabel("trial number (submission order)")
    axes.set_ylabel(f"best {label} so far")
    axes.set_title("Search progress: best so far (line) and each trial (dots)")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    return figure


def _pareto_figure(records: list[ExperimentRecord], metric: str, label: str):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.subplots()
    everything: list[Point] = []
    for index, record in enumerate(records):
        points = points_of(record, metric)
        everything += points
        if points:
            axes.scatter([p.params for p in points], [p.accuracy for p in points], s=18, color=f"C{index}",
                         alpha=0.7, label=f"{strategy_name(record)} ({record.experiment_id})")
    front = pareto_front(everything, records[0].optimize_mode)
    if front:
        axes.step([p.params for p in front], [p.accuracy for p in front], where="post", color="black",
                  linewidth=1.2, zorder=3)
        axes.scatter([p.params for p in front], [p.accuracy for p in front], s=70, facecolors="none",
                     edgecolors="black", linewidths=1.5, zorder=4, label=f"Pareto front ({len(front)} trials)")
    if everything and max(p.params for p in everything) > 10 * min(p.params for p in everything):
        axes.set_xscale("log")
    axes.set_xlabel("parameters")
    axes.set_ylabel(label)
    axes.set_title(f"{label.capitalize()} against model size")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    return figure


def _save(figure, path: Path) -> None:
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}.png")
    figure.savefig(partial, dpi=120)
    partial.replace(path)


def succeeded_with(record: ExperimentRecord, metric: str) -> list[TrialRecord]:
    return [t for t in record.succeeded() if not math.isnan(t.metric(metric))]


def _metric_label(metric: str) -> str:
    return "validation accuracy" if metric in ("default", "val_acc") else metric.replace("_", " ")


def _params(value: float) -> str:
    from nni_nas.results.tables import format_count

    return format_count(value)
