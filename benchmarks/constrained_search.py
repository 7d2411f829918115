"""Search under a parameter budget on the tabular benchmarks: the best feasible accuracy each strategy finds.

On NAS-Bench-201 (CIFAR-10, 12-epoch table) and NAS-Bench-Macro (CIFAR-10), ``max_params`` is a third of the
space's median network (parameters counted on the network each table was measured on, by
:mod:`model_spaces.costs`). Every strategy gets ``--budget`` table queries per seed, ``--seeds`` seeds:

- ``random``, ``evolution``, ``pnas``: our tuners with ``constraints: {max_params: ...}``: they never query an
  architecture over budget;
- ``evolution_filtered`` (the "filter" peer): the same evolution without the constraint, with the same query
  budget; its over-budget queries are discarded afterwards (what a user without constraints would do: search,
  then keep what fits).

Per strategy: the held-out accuracy of the architecture picked (best by the search metric among its feasible
queries), mean and standard error over seeds, against the best feasible held-out accuracy in the whole table (and
the held-out accuracy of the table's best feasible architecture by the search metric); the pick's mean search
metric and in how many seeds it is the table's best feasible by that metric (what the search optimises, apart from
how well the search metric predicts the held-out one); how many of its queries were
feasible; and each difference benchmarks/README.md draws (a constrained strategy against the filter peer, evolution and
PNAS against random) with its standard error. The seeds share a number, not randomness, so a difference's SE is
sqrt(s_a^2/n + s_b^2/n). Search and held-out metric: NAS-Bench-201 ``cifar10-val`` / ``cifar10-test``;
NAS-Bench-Macro has no validation column but three training seeds' test accuracies: ``test_acc.0`` is searched
and ``test_acc.1`` reported, so no pick is judged by the figure it was picked by. The last line is one JSON object.

    python benchmarks/constrained_search.py --budget 100 --seeds 20
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

warnings.filterwarnings("ignore")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import nni_nas  # noqa: E402, F401  (filters NNI's import warning)
from model_spaces.costs import benchmark_cost_table  # noqa: E402
from nni_nas.evaluation.tabular import BenchmarkQuery, EvaluatorSettings, query_search  # noqa: E402

TABLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks"
BENCHMARKS = {"nb201": ("nb201_cifar_12epoch.csv", "cifar10-val", "cifar10-test"),
              "macro": ("nas_bench_macro_cifar10.json", "test_acc.0", "test_acc.1")}
SPACE_ARGS = {"nasbench201": {"channels": 4, "cells_per_stage": 1},
              "nas_bench_macro": {"init_channels": 4, "head_channels": 8}}
STRATEGIES = ("random", "evolution", "pnas", "evolution_filtered")
DIFFERENCES = (("random", "evolution_filtered"), ("evolution", "evolution_filtered"), ("pnas", "evolution_filtered"),
               ("evolution", "random"), ("pnas", "random"), ("pnas", "evolution"))


def make_tuner(kind: str, query: BenchmarkQuery, evaluator: dict[str, Any], limit: float, seed: int):
    from strategies.evolution import RegularizedEvolutionTuner
    from strategies.pnas import PnasTuner
    from strategies.random_search import RandomTuner

    common = {"space_args": SPACE_ARGS[query.space], "seed": seed, "evaluator": evaluator}
    if kind != "evolution_filtered":
        common["constraints"] = {"max_params": limit}
    if kind == "random":
        return RandomTuner(query.space, **common)
    if kind == "pnas":
        return PnasTuner(query.space, beam_size=10, **common)
    return RegularizedEvolutionTuner(query.space, population_size=20, sample_size=5, **common)


def mean_se(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], 0.0
    return statistics.fmean(values), statistics.stdev(values) / len(values) ** 0.5


def difference(a: list[float], b: list[float]) -> tuple[float, float]:
    """``mean(a) - mean(b)`` and its standard error, the two samples independent (sample variances, ddof 1)."""
    se = (statistics.variance(a) / len(a) + statistics.variance(b) / len(b)) ** 0.5
    return statistics.fmean(a) - statistics.fmean(b), se


def run_benchmark(name: str, budget: int, seeds: int, strategies: tuple[str, ...] = STRATEGIES) -> dict[str, Any]:
    file, metric, test_metric = BENCHMARKS[name]
    evaluator = {"kind": "benchmark", "table": str(TABLES / file), "metric": metric, "test_metric": test_metric}
    settings = EvaluatorSettings.from_dict(evaluator)
    query = BenchmarkQuery.from_evaluator(settings, {"nb201": "nasbench201", "macro": "nas_bench_macro"}[name])
    start = time.perf_counter()
    costs = benchmark_cost_table(query.space)
    cost_seconds = time.perf_counter() - start
    params = {key: cost["params"] for key, cost in costs.items()}
    limit = statistics.median(params.values()) / 3
    feasible = [key for key in query.table.rows if params[key] <= limit]
    val = {key: query.table.value(key, metric) for key in feasible}
    test = {key: query.table.value(key, test_metric) for key in feasible}
    best_test = max(test.values())
    best_search = max(val.values())
    best_by_val = test[max(feasible, key=val.__getitem__)]
    print(f"\n{name} (search {metric}, report {test_metric}): max_params {limit:,.0f} (a third of the median "
          f"{statistics.median(params.values()):,.0f}); "
          f"{len(feasible):,} of {len(params):,} architectures fit ({len(feasible) / len(params):.1%}); best "
          f"feasible test {best_test:.2f}, best feasible {metric} {best_search:.2f} (its test {best_by_val:.2f}) "
          f"(cost table ready in {cost_seconds:.1f} s)")
    out: dict[str, Any] = {"max_params": limit, "feasible": len(feasible), "architectures": len(params),
                           "table_best_feasible_test": best_test, "table_best_feasible_search": best_search,
                           "table_best_feasible_by_val_test": best_by_val}
    picks: dict[str, list[float]] = {}
    picks_search: dict[str, list[float]] = {}
    for kind in strategies:
        picked, picked_search, feasible_share, start = [], [], [], time.perf_counter()
        for seed in range(seeds):
            records = query_search(make_tuner(kind, query, evaluator, limit, seed), query, budget)
            fits = [record for record in records if params[record.key] <= limit]
            feasible_share.append(len(fits) / len(records))
            if fits:
                pick = max(fits, key=lambda record: record.value)
                picked.append(pick.test)
                picked_search.append(pick.value)
        mean, se = mean_se(picked) if picked else (float("nan"), float("nan"))
        search_mean = statistics.fmean(picked_search) if picked_search else float("nan")
        found_best = sum(value == best_search for value in picked_search)
        share = statistics.fmean(feasible_share)
        picks[kind], picks_search[kind] = picked, picked_search
        out[kind] = {"test_mean": mean, "test_se": se, "regret": best_test - mean, "runs_with_feasible": len(picked),
                     "search_mean": search_mean, "runs_finding_best_by_search": found_best,
                     "feasible_query_share": share, "seconds": round(time.perf_counter() - start, 1)}
        print(f"  {kind:20s} test {mean:6.2f} ± {se:.2f} (SE, {len(picked)}/{seeds} runs found one)  regret "
              f"{best_test - mean:5.2f}  {metric} of the pick {search_mean:6.2f} (the best feasible in "
              f"{found_best}/{seeds} runs)  feasible queries {share:6.1%}  {out[kind]['seconds']:.0f} s")
    if "evolution" in out and "evolution_filtered" in out:
        peer = out["evolution_filtered"]["regret"]
        out["regret_ratio_evolution_vs_filtered"] = out["evolution"]["regret"] / peer if peer else None
    out["differences"] = {}
    for a, b in DIFFERENCES:
        if len(picks.get(a, [])) > 1 and len(picks.get(b, [])) > 1:
            diff, se = difference(picks[a], picks[b])
            search_diff, search_se = difference(picks_search[a], picks_search[b])
            out["differences"][f"{a} - {b}"] = [round(diff, 3), round(se, 3)]
            out["differences"][f"{a} - {b} ({metric})"] = [round(search_diff, 3), round(search_se, 3)]
            print(f"  {a + ' - ' + b:34s} {diff:+6.2f}  SE {se:.3f}  ({diff / se if se else float('inf'):+.1f} SE); "
                  f"{metric} of the picks {search_diff:+6.2f}  SE {search_se:.3f}")
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--benchmarks", default="nb201,macro")
    parser.add_argument("--strategies", default=",".join(STRATEGIES), help=f"comma list of {', '.join(STRATEGIES)}")
    args = parser.parse_args(argv)
    print(f"budget {args.budget} queries, {args.seeds} seeds; picked = best by the search metric among feasible "
          f"queries; load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
    strategies = tuple(kind.strip() for kind in args.strategies.split(",") if kind.strip())
    unknown = sorted(set(strategies) - set(STRATEGIES))
    if unknown:
        parser.error(f"unknown strategies {unknown}; choose from {', '.join(STRATEGIES)}")
    summary = {name: run_benchmark(name, args.budget, args.seeds, strategies) for name in args.benchmarks.split(",")}
    summary["load_average_end"] = round(os.getloadavg()[0], 1)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
