"""How much of the accuracy-parameters front a search finds, on tabular benchmarks, at the same query budget.

For NAS-Bench-201 and NAS-Bench-Macro (accuracies from the tables, parameter counts of the spaces' own networks
from :mod:`model_spaces.costs`), each of ``--seeds`` seeds gives every strategy ``--budget`` table queries:

- ``pareto``: NasParetoEvolution (objectives val_acc max, params min);
- ``random``: random search;
- ``penalty_grid``: the single-objective regularised evolution run once per penalty of a grid, each run maximising
  ``acc_n - lambda * params_n`` (both normalised to [0, 1] over the table) with ``budget / len(grid)`` queries;
  the runs' queries are pooled (the usual way to get a front from a scalarising search);

and the hypervolume of the front of everything each one queried is compared with the others' and with the table's
true front. Hypervolume on normalised axes (accuracy and params each scaled to [0, 1] over the whole table, the
reference point the worst accuracy and the largest network), so 1.0 would be one network that is both the most
accurate and the smallest. Printed: mean and standard error over seeds of each paired difference; the last line is
one JSON object. A PNG per table shows seed 0's fronts.

    python benchmarks/pareto_front.py --budget 100 --seeds 20

The tuners run in this process through their NNI tuner API (:func:`nni_nas.evaluation.tabular.query_search`), as
``benchmarks/search_quality.py`` runs them.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

warnings.filterwarnings("ignore")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import nni_nas  # noqa: E402, F401  (filters NNI's import warning)
from nni_nas.evaluation.tabular import BenchmarkQuery, EvaluatorSettings, load_table, query_search  # noqa: E402
from nni_nas.results.pareto import hypervolume, pareto_indices  # noqa: E402

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "benchmarks"
TABLES = {"nb201": SHIPPED / "nb201_cifar_12epoch.csv", "macro": SHIPPED / "nas_bench_macro_cifar10.json"}
# Tiny widths: the tuners build the space only to read its choices (as in search_quality.py).
SPACE_ARGS = {"nasbench201": {"channels": 4, "cells_per_stage": 1},
              "nas_bench_macro": {"init_channels": 4, "head_channels": 8}}
POPULATION, SAMPLE = 20, 5
PENALTIES = (0.0, 0.25, 1.0, 4.0)


class CostedQuery(BenchmarkQuery):
    """Table lookups whose result also holds the architecture's params and FLOPs (:mod:`model_spaces.costs`),
    and, with a ``penalty``, ``default`` = normalised accuracy - penalty * normalised params."""

    costs: dict[str, dict[str, int]]
    scale: dict[str, tuple[float, float]]
    penalty: float | None = None

    def result(self, arch: dict[str, Any]) -> dict[str, Any]:
        result = super().result(arch)
        result.update(self.costs[result["benchmark_key"]])
        if self.penalty is not None:
            acc, params = normalised(self.scale, result["val_acc"], result["params"])
            result["default"] = acc - self.penalty * params
        return result


def normalised(scale: dict[str, tuple[float, float]], acc: float, params: float) -> tuple[float, float]:
    (acc_low, acc_high), (params_low, params_high) = scale["acc"], scale["params"]
    return (acc - acc_low) / (acc_high - acc_low), (params - params_low) / (params_high - params_low)


def front_hypervolume(points: list[tuple[float, float]], scale: dict[str, tuple[float, float]]) -> float:
    """Hypervolume of the (accuracy, params) points on normalised axes; reference (worst accuracy, largest net)."""
    costs = [(-a, p) for a, p in (normalised(scale, acc, params) for acc, params in points)]
    return hypervolume(costs, (0.0, 1.0))


def front_points(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return sorted(points[i] for i in pareto_indices([(-acc, params) for acc, params in points]))


def run_strategy(name: str, query: CostedQuery, budget: int, seed: int) -> list[str]:
    """The table keys ``name`` queried (in order; a key queried by two penalty runs counts twice)."""
    from strategies.evolution import RegularizedEvolutionTuner
    from strategies.pareto_evolution import ParetoEvolutionTuner
    from strategies.random_search import RandomTuner

    common = {"space_args": SPACE_ARGS[query.space], "seed": seed}
    query.penalty = None
    if name == "random":
        return [r.key for r in query_search(RandomTuner(query.space, **common), query, budget)]
    if name == "pareto":
        tuner = ParetoEvolutionTuner(query.space, population_size=POPULATION, sample_size=SAMPLE, **common)
        return [r.key for r in query_search(tuner, query, budget)]
    keys: list[str] = []
    per_run = [budget // len(PENALTIES) + (i < budget % len(PENALTIES)) for i in range(len(PENALTIES))]
    for index, (penalty, queries) in enumerate(zip(PENALTIES, per_run)):
        population = max(2, min(POPULATION, queries // 2))  # half random start, half evolution, as P/budget above
        tuner = RegularizedEvolutionTuner(query.space, population_size=population,
                                          sample_size=max(1, min(SAMPLE, population // 2)),
                                          **{**common, "seed": seed * 100 + index})
        query.penalty = penalty
        keys += [r.key for r in query_search(tuner, query, queries)]
    query.penalty = None
    return keys


STRATEGIES = ("pareto", "random", "penalty_grid")


def benchmark_table(label: str, budget: int, seeds: int, plot_dir: Path) -> dict[str, Any]:
    from model_spaces.costs import benchmark_cost_table

    table = load_table(TABLES[label])
    query = CostedQuery.from_evaluator(EvaluatorSettings(kind="benchmark", table=TABLES[label]), table.space)
    query.costs = benchmark_cost_table(table.space)
    everything = [(table.value(key, query.metric), float(query.costs[key]["params"])) for key in table.rows]
    query.scale = {"acc": (min(a for a, _ in everything), max(a for a, _ in everything)),
                   "params": (min(p for _, p in everything), max(p for _, p in everything))}
    true_front = front_points(everything)
    true_hv = front_hypervolume(true_front, query.scale)
    print(f"{table.path.name}: {len(table):,} architectures, accuracy {query.metric}, params from model_spaces.costs "
          f"({query.scale['params'][0]:,.0f} to {query.scale['params'][1]:,.0f}); true front {len(true_front)} "
          f"points, hypervolume {true_hv:.4f}; budget {budget}, seeds {seeds}", flush=True)
    hv: dict[str, list[float]] = {name: [] for name in STRATEGIES}
    sizes: dict[str, list[int]] = {name: [] for name in STRATEGIES}
    fronts0: dict[str, list[tuple[float, float]]] = {}
    start = time.perf_counter()
    for seed in range(seeds):
        for name in STRATEGIES:
            keys = run_strategy(name, query, budget, seed)
            assert len(keys) <= budget
            points = [(table.value(key, query.metric), float(query.costs[key]["params"])) for key in set(keys)]
            hv[name].append(front_hypervolume(points, query.scale))
            sizes[name].append(len(front_points(points)))
            if seed == 0:
                fronts0[name] = front_points(points)
    print(f"  {seeds} seeds x {len(STRATEGIES)} strategies in {time.perf_counter() - start:.0f} s")
    summary: dict[str, Any] = {"true_hv": round(true_hv, 4), "true_front": len(true_front)}
    for name in STRATEGIES:
        values = np.array(hv[name])
        summary[name] = {"hv": round(float(values.mean()), 4), "se": round(standard_error(values), 4),
                         "of_true": round(float(values.mean()) / true_hv, 4),
                         "front_size": round(float(np.mean(sizes[name])), 1)}
        print(f"  {name:13s} hypervolume {values.mean():.4f} ± {standard_error(values):.4f} (SE), "
              f"{values.mean() / true_hv:6.1%} of the true front's; front of {np.mean(sizes[name]):.1f} points")
    pareto = np.array(hv["pareto"])
    for peer in ("random", "penalty_grid"):
        diff = pareto - np.array(hv[peer])
        summary[f"pareto_minus_{peer}"] = {"mean": round(float(diff.mean()), 4), "se": round(standard_error(diff), 4),
                                           "wins": int((diff > 0).sum())}
        print(f"  pareto - {peer:12s} {diff.mean():+.4f} ± {standard_error(diff):.4f} (SE), pareto ahead in "
              f"{(diff > 0).sum()} of {seeds} seeds")
    gap = true_hv - pareto
    summary["true_minus_pareto"] = {"mean": round(float(gap.mean()), 4), "se": round(standard_error(gap), 4),
                                    "percent": round(100 * float(gap.mean()) / true_hv, 2)}
    print(f"  true - pareto       {gap.mean():+.4f} ± {standard_error(gap):.4f} (SE), "
          f"{100 * gap.mean() / true_hv:.2f}% of the true front's hypervolume")
    plot_fronts(true_front, fronts0, f"{table.path.name}: fronts found with {budget} queries (seed 0)",
                plot_dir / f"pareto_front_{label}.png")
    return summary


def standard_error(values: np.ndarray) -> float:
    return float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else float("nan")


def plot_fronts(true_front, fronts: dict[str, list[tuple[float, float]]], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.step([p for _, p in true_front], [a for a, _ in true_front], where="post", color="black", linewidth=1,
            label=f"table's true front ({len(true_front)})")
    for (name, front), marker in zip(fronts.items(), "os^"):
        ax.step([p for _, p in front], [a for a, _ in front], where="post", alpha=0.8,
                label=f"{name} ({len(front)})", marker=marker, markersize=4)
    ax.set_xscale("log")
    ax.set_xlabel("parameters (model_spaces.costs)")
    ax.set_ylabel("accuracy (%)")
    low = min(a for front in fronts.values() for a, _ in front)
    ax.set_ylim(low - 2, max(a for a, _ in true_front) + 0.5)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"  plot: {path}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=int, default=100, help="table queries per search (and per penalty grid)")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--tables", default="nb201,macro", help="comma list of nb201, macro")
    parser.add_argument("--plot-dir", default=str(Path(__file__).parent), help="where the PNGs go")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    summary = {label: benchmark_table(label, args.budget, args.seeds, Path(args.plot_dir))
               for label in args.tables.split(",")}
    summary["budget"], summary["seeds"], summary["penalties"] = args.budget, args.seeds, list(PENALTIES)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
