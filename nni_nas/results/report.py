"""The report of one or more searches: the best architectures, the Pareto fronts, and plots.

Prints, per experiment, the top-k table (architecture, params, FLOPs, latency, accuracies) and the trials on the
Pareto front of accuracy against each cost the trials report (params, FLOPs, latency), and saves beside the (first)
experiment, in ``<experiment>/nni-nas-report/``:

- ``best_so_far.png``: best accuracy so far against trial number, one line per experiment, labelled by strategy;
- ``accuracy_vs_params.png``, ``accuracy_vs_flops.png``, ``accuracy_vs_latency_ms.png``: every succeeded trial,
  accuracy against that cost, the Pareto front marked; a multi-objective search (``objectives`` in its config) adds
  one plot per other pair of its objectives (``<y>_vs_<x>.png``).

Fronts come from the one non-dominated sort of :mod:`nni_nas.results.pareto`.

Reads NNI's own records, so it works while the search runs and after it stopped.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from nni_nas.errors import NasError
from nni_nas.results.pareto import Objective, cost_of
from nni_nas.results.records import ExperimentRecord, TrialRecord

REPORT_FOLDER = "nni-nas-report"
BEST_SO_FAR_FILE = "best_so_far.png"


COSTS = ("params", "flops", "latency_ms")


@dataclass
class Point:
    """One succeeded trial on an accuracy-vs-cost plane (``accuracy`` may be any metric, ``cost`` any cost)."""

    experiment_id: str
    trial_id: str
    cost: float
    accuracy: float

    @property
    def params(self) -> float:  # the plane most reports draw
        return self.cost


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
        for cost in reported_costs([record]):
            front = pareto_front(points_of(record, metric, cost), record.optimize_mode)
            if front:
                lines.append(f"Pareto front (accuracy vs {cost}): " + ", ".join(
                    f"{p.trial_id} ({p.accuracy:.4f}, {_cost(p.cost, cost)})" for p in front))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def points_of(record: ExperimentRecord, metric: str = "default", cost: str = "params") -> list[Point]:
    """Succeeded trials that report both ``metric`` and a positive ``cost``."""
    points = []
    for trial in succeeded_with(record, metric):
        value = (trial.final or {}).get(cost)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 and math.isfinite(value):
            points.append(Point(record.experiment_id, trial.trial_id, float(value), trial.metric(metric)))
    return points


def reported_costs(records: list[ExperimentRecord]) -> list[str]:
    """The costs (params, FLOPs, latency) that some succeeded trial of ``records`` reports."""
    return [cost for cost in COSTS if any(points_of(r, "default", cost) for r in records)]


def pareto_front(points: list[Point], optimize_mode: str = "maximize") -> list[Point]:
    """The points no other point beats on both counts (lower or equal cost and better or equal accuracy, one of
    them strictly), by increasing cost; identical points are all kept."""
    from nni_nas.results.pareto import pareto_indices

    sign = 1.0 if optimize_mode == "maximize" else -1.0
    front = [points[i] for i in pareto_indices([(p.cost, -sign * p.accuracy) for p in points])]
    return sorted(front, key=lambda p: (p.cost, -sign * p.accuracy))


def objective_pairs(records: list[ExperimentRecord], metric: str = "default") -> list[tuple[Objective, Objective]]:
    """(y, x) pairs to plot: ``metric`` against each reported cost, then each other pair of the first experiment's
    own objectives (a multi-objective search)."""
    from nni_nas.results.pareto import parse_objectives

    mode = "max" if records[0].optimize_mode == "maximize" else "min"
    pairs = [(Objective(metric, mode), Objective(cost, "min")) for cost in reported_costs(records)]
    if "objectives" in records[0].class_args:
        try:
            own = parse_objectives(records[0].class_args["objectives"])
        except NasError:
            own = ()
        accuracy = {"default", "val_acc", metric}
        for i, y in enumerate(own):
            for x in own[i + 1:]:
                covered = {y.metric, x.metric} & accuracy and {y.metric, x.metric} & set(COSTS)  # drawn above
                if not covered:
                    pairs.append((y, x))
    return pairs


def plot_file(y: Objective, x: Objective) -> str:
    """``accuracy_vs_params.png`` for validation accuracy, ``<y>_vs_<x>.png`` otherwise."""
    name = "accuracy" if y.metric in ("default", "val_acc") else y.metric
    return f"{name}_vs_{x.metric}.png"


def best_so_far(record: ExperimentRecord, metric: str = "default") -> list[tuple[int, float]]:
    """(trial number, best ``metric`` among the trials up to it), from the first succeeded trial on. Trial numbers
    are NNI's sequence ids, the "Trial No." of the portal, which counts from 0."""
    sign = 1.0 if record.optimize_mode == "maximize" else -1.0
    curve, best = [], None
    for trial in record.trials:
        number = trial.sequence
        value = trial.metric(metric) if trial.status == "SUCCEEDED" and not trial.over_budget else math.nan
        if not math.isnan(value) and (best is None or sign * value > sign * best):
            best = value
        if best is not None:
            curve.append((number, best))
    return curve


def save_plots(records: list[ExperimentRecord], out: Path, metric: str = "default") -> list[Path]:
    """Write the PNGs into ``out`` (each atomically): best so far, and one front per objective pair."""
    out.mkdir(parents=True, exist_ok=True)
    label = metric_label(metric)
    paths = [out / BEST_SO_FAR_FILE]
    _save(_best_so_far_figure(records, metric, label), paths[0])
    for y, x in objective_pairs(records, metric):
        paths.append(out / plot_file(y, x))
        _save(_pareto_figure(records, y, x), paths[-1])
    return paths


def _best_so_far_figure(records: list[ExperimentRecord], metric: str, label: str):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.subplots()
    for index, record in enumerate(records):
        color = f"C{index}"
        trials = [(t.sequence, t.metric(metric)) for t in record.trials
                  if t.status == "SUCCEEDED" and not t.over_budget and not math.isnan(t.metric(metric))]
        if trials:
            axes.scatter(*zip(*trials), s=12, color=color, alpha=0.35, linewidths=0)
        curve = best_so_far(record, metric)
        if curve:
            axes.step(*zip(*curve), where="post", color=color, linewidth=2,
                      label=f"{strategy_name(record)} ({record.experiment_id}), best {curve[-1][1]:.4f}")
    axes.set_xlabel("trial number (submission order, from 0 as in the NNI portal)")
    axes.set_ylabel(f"best {label} so far")
    axes.set_title("Search progress: best so far (line) and each trial (dots)")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    return figure


def _pareto_figure(records: list[ExperimentRecord], y: Objective, x: Objective):
    from matplotlib.figure import Figure

    from nni_nas.results.front import front_trials

    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.subplots()
    everything: list[tuple[TrialRecord, float, float]] = []
    for index, record in enumerate(records):
        trials = [t for t in record.succeeded() if cost_of(t.final, (y, x)) is not None]
        points = [(t, t.metric(x.metric), t.metric(y.metric)) for t in trials]
        everything += points
        if points:
            axes.scatter([p[1] for p in points], [p[2] for p in points], s=18, color=f"C{index}", alpha=0.7,
                         label=f"{strategy_name(record)} ({record.experiment_id})")
    merged = ExperimentRecord("all", records[0].directory, records[0].config, [p[0] for p in everything])
    front = [(t.metric(x.metric), t.metric(y.metric)) for t in front_trials(merged, (y, x))]
    front.sort()
    if front:
        axes.step([p[0] for p in front], [p[1] for p in front], where="post" if y.mode == "max" else "pre",
                  color="black", linewidth=1.2, zorder=3)
        axes.scatter([p[0] for p in front], [p[1] for p in front], s=70, facecolors="none", edgecolors="black",
                     linewidths=1.5, zorder=4, label=f"Pareto front ({len(front)} trials)")
    xs = [p[1] for p in everything]
    if xs and min(xs) > 0 and max(xs) > 10 * min(xs):
        axes.set_xscale("log")
    x_label, y_label = _axis_label(x), _axis_label(y)
    axes.set_xlabel(f"{x_label} ({x.mode}imise)")
    axes.set_ylabel(f"{y_label} ({y.mode}imise)")
    axes.set_title(f"{y_label.capitalize()} against {x_label}: Pareto front")
    axes.grid(alpha=0.3)
    axes.legend(loc="best")
    return figure


def _axis_label(objective: Objective) -> str:
    return {"params": "parameters", "flops": "FLOPs", "latency_ms": "latency (ms per sample)"}.get(
        objective.metric, metric_label(objective.metric))


def _save(figure, path: Path) -> None:
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}.png")
    figure.savefig(partial, dpi=120)
    partial.replace(path)


def succeeded_with(record: ExperimentRecord, metric: str) -> list[TrialRecord]:
    return [t for t in record.succeeded() if not math.isnan(t.metric(metric))]


def metric_label(metric: str) -> str:
    """How a plot names ``metric``."""
    return "validation accuracy" if metric in ("default", "val_acc") else metric.replace("_", " ")


def _cost(value: float, cost: str) -> str:
    from nni_nas.results.tables import format_count, format_number

    if cost == "latency_ms":
        return f"{format_number(value, 3)} ms"
    return f"{format_count(value)} {'params' if cost == 'params' else cost.upper()}"
