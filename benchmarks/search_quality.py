"""Search quality on a tabular NAS benchmark: every strategy gets the same number of table queries.

For our multi-trial strategies (random search, regularised evolution, PNAS, local search, TPE, grid, BANANAS;
``--strategies all`` runs every multi-trial strategy of the registry) and NNI 3.0's built-in strategies
(RegularizedEvolution, Random, TPE; PolicyBasedRL when ``tianshou`` is installed), each run with ``--seeds`` seeds
of ``--budget`` queries: the architecture a user would pick (best by ``--metric``, the validation accuracy where
the table has one), its test accuracy (``--test-metric``) as mean ± std over seeds, and the regret to the table's
best test accuracy.
This is the query-style protocol of NAS-Bench-201 (Dong & Yang, ICLR 2020, Sec. 5). Also writes the
best-so-far curve (PNG). The last line printed is one JSON object keyed by strategy name.

    python benchmarks/search_quality.py --table data/benchmarks/nb201_cifar_12epoch.csv \
        --budget 100 --seeds 20

Warm-started variants (``local_search_model_synflow``, ``evolution_synflow``) read each architecture's synflow score
from ``--proxy-scores`` (written once by ``zero_cost.py --scores-out``) instead of building its network per search.

Our tuners are driven through their NNI tuner API (:func:`nni_nas.evaluation.tabular.query_search`); NNI's
strategies through NNI's own engine: a :class:`~nni.nas.execution.SequentialExecutionEngine` limited to
``--budget`` models, on our PyTorch space wrapped in a ``RawFormatModelSpace`` whose evaluator reads the table.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

warnings.filterwarnings("ignore")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import nni_nas  # noqa: E402, F401  (filters NNI's import warning)
from nni_nas.evaluation.tabular import (  # noqa: E402
    BenchmarkQuery,
    EvaluatorSettings,
    QueryRecord,
    best_so_far,
    load_table,
    picked,
    query_search,
)

# Tiny widths: the tuners build the space only to read its choices.
SPACE_ARGS = {"nasbench201": {"channels": 4, "cells_per_stage": 1},
              "nas_bench_macro": {"init_channels": 4, "head_channels": 8}}
POPULATION, SAMPLE, BEAM = 20, 5, 10
Runner = Callable[[BenchmarkQuery, int, int], list[QueryRecord]]


# The settings each registered multi-trial strategy runs with here (the registry's defaults otherwise), and extra
# variants of ours under their own names: name -> (registered strategy, settings).
OURS: dict[str, tuple[str, dict[str, Any]]] = {
    "random": ("random", {}),
    "evolution": ("evolution", {"population_size": POPULATION, "sample_size": SAMPLE}),
    "pareto": ("pareto", {"population_size": POPULATION, "sample_size": SAMPLE}),
    "pnas": ("pnas", {"beam_size": BEAM}),
    "pnas_lstm": ("pnas", {"beam_size": BEAM, "predictor": "lstm"}),
    "local_search": ("local_search", {}),
    "local_search_first": ("local_search", {"improvement": "first"}),
    "local_search_model": ("local_search", {"improvement": "first", "neighbour_order": "model"}),
    "tpe": ("tpe", {}),
    "grid": ("grid", {}),
    "bananas": ("bananas", {}),
    "bananas_random": ("bananas", {"random_candidates": 100}),
    "hyperband": ("hyperband", {}),
    # zero-cost warm starts (Abdelfattah et al. 2021's "warmup"): synflow's best of a random pool seed the search;
    # they need --proxy-scores (each cell's score, computed once by zero_cost.py --scores-out)
    "local_search_model_synflow": ("local_search", {"improvement": "first", "neighbour_order": "model", "initial": 20,
                                                    "warm_start": {"proxy": "synflow", "pool": 1000, "seeds": 20}}),
    "evolution_synflow": ("evolution", {"population_size": POPULATION, "sample_size": SAMPLE,
                                        "warm_start": {"proxy": "synflow", "pool": 1000, "seeds": POPULATION}}),
}
WARM_STARTS = [name for name, (_, settings) in OURS.items() if "warm_start" in settings]


def ours(kind: str) -> Runner:
    """A runner for one of our tuners, built from the registry."""

    def run(query: BenchmarkQuery, budget: int, seed: int) -> list[QueryRecord]:
        import strategies

        name, settings = OURS[kind]
        tuner_cls = strategies.get_strategy(name).tuner_class()
        tuner = tuner_cls(query.space, space_args=SPACE_ARGS[query.space], seed=seed, **settings)
        return query_search(tuner, query, budget)

    return run


def nni_builtin(kind: str) -> Runner:
    """A runner for one of NNI 3.0's built-in multi-trial strategies."""

    def run(query: BenchmarkQuery, budget: int, seed: int) -> list[QueryRecord]:
        import nni
        from nni.nas.evaluator import Evaluator
        from nni.nas.execution import SequentialExecutionEngine
        from nni.nas.space import RawFormatModelSpace
        from nni.nas.strategy import TPE, PolicyBasedRL, Random, RegularizedEvolution
        from nni.nas.strategy import hpo as nni_hpo

        import model_spaces

        class TableEvaluator(Evaluator):
            """Reports the table's value of the model's sample instead of training it."""

            def evaluate(self, model: Any) -> Any:
                raise NotImplementedError("TableEvaluator reads samples, not models")

            def _execute(self, model: Any) -> float:
                value = query.result(dict(model.sample))["default"]
                nni.report_final_result(value)
                return value

        space = model_spaces.build_space(query.space, (1, 8, 8), 10, **SPACE_ARGS[query.space])
        labels = len(space.simplify())
        strategy = {
            # Same population and tournament as ours. NNI redraws each label with probability mutation_prob
            # from all its values (the old value can come back), so a child differs from its parent in
            # 0..labels labels (a child equal to a seen sample, the parent included, is redrawn by its dedup).
            "nni_evolution": lambda: RegularizedEvolution(population_size=POPULATION, sample_size=SAMPLE,
                                                          mutation_prob=1.0 / labels, seed=seed),
            "nni_random": lambda: Random(seed=seed),
            "nni_rl": lambda: PolicyBasedRL(),
            # NNI's TpeTuner (its default minimises: told to maximise the table's accuracy here)
            "nni_tpe": lambda: TPE(optimize_mode="maximize", seed=seed),
        }[kind]()
        # HPOTunerStrategy (NNI's TPE) sleeps 1 s between submissions, for trials that run elsewhere; a table lookup
        # is done before the next loop turn, so the wait only costs wall time here
        nni_hpo.time = _NoSleep
        if kind == "nni_rl":
            torch.manual_seed(seed)
        engine = SequentialExecutionEngine(max_model_count=budget, continue_on_failure=True)
        strategy(RawFormatModelSpace(space, TableEvaluator()), engine)
        records = []
        for model in list(engine.list_models())[:budget]:
            result = query.result(dict(model.sample))
            records.append(QueryRecord(dict(model.sample), result["benchmark_key"], result["default"],
                                       result["test_acc"]))
        return records

    return run


class _NoSleep:
    """``time`` for NNI's HPOTunerStrategy loop: no wait between submissions to the sequential engine."""

    @staticmethod
    def sleep(seconds: float) -> None:
        return None


NNI_BASELINES = ("nni_evolution", "nni_random", "nni_rl", "nni_tpe")
STRATEGIES: dict[str, Runner] = {**{name: ours(name) for name in OURS},
                                 **{name: nni_builtin(name) for name in NNI_BASELINES}}
DEFAULT = ("random", "evolution", "pnas", "nni_evolution", "nni_random", "nni_rl")


def all_strategies() -> list[str]:
    """``--strategies all``: every multi-trial strategy of the registry (with the settings above), then NNI's."""
    import strategies

    ours_ = [entry.name for entry in strategies.STRATEGIES.values() if entry.kind == "multi-trial"]
    missing = [name for name in ours_ if name not in OURS]
    if missing:
        raise SystemExit(f"search_quality.py has no settings for the registered strategies {missing}: add them to OURS")
    return ours_ + list(NNI_BASELINES)


def skip_reason(name: str, table: Any) -> str | None:
    """Why ``name`` cannot run on ``table`` here, or None."""
    if name == "nni_rl" and not rl_available():
        return "NNI's PolicyBasedRL needs tianshou, which is not installed"
    if OURS.get(name, ("",))[0] == "hyperband":
        return ("a multi-fidelity search over training epochs, and the table holds one fidelity (each cell's accuracy "
                "after a fixed number of epochs): every rung would read the same number")
    if OURS.get(name, ("",))[0] == "pareto" and "params" not in table.columns:
        return ("a multi-objective search (validation accuracy against params), and this table has no params "
                "column")
    return None


def use_proxy_scores(path: Path, space: str) -> list[str]:
    """Make the warm start read each architecture's zero-cost score from ``path`` (CSV, optionally gzipped: a column
    ``arch_str`` of benchmark keys and one column per proxy, as ``zero_cost.py --scores-out`` writes) instead of
    building and scoring its network: the scores of the benchmark's own network, once per cell, where the tuners here
    build a tiny one only to read the choices. Returns the proxies the file has."""
    import pandas as pd

    import model_spaces
    import strategies.warm_start as warm_start

    table = pd.read_csv(path, dtype={"arch_str": str})  # NAS-Bench-Macro's keys are digits: '02010111'
    proxies = [column for column in table.columns if column in warm_start.PROXY_NAMES]
    if "arch_str" not in table.columns or not proxies:
        raise SystemExit(f"{path}: needs an arch_str column and a proxy column ({', '.join(warm_start.PROXY_NAMES)})")
    scores = {proxy: dict(zip(table["arch_str"], table[proxy].astype(float), strict=True)) for proxy in proxies}
    to_key = model_spaces.get_space_class(space).to_benchmark_key

    def arch_score(tuner: Any, arch: dict[str, Any], proxy: str, batch: Any = None) -> float:
        if proxy not in scores:
            raise SystemExit(f"{path} has no {proxy} column")
        key = to_key(arch)
        if key not in scores[proxy]:
            raise SystemExit(f"{path} has no {proxy} score of {key!r}: scores of another table?")
        return scores[proxy][key]

    warm_start.arch_score = arch_score
    return proxies


def rl_available() -> bool:
    try:
        import tianshou  # noqa: F401
    except ImportError:
        return False
    return True


def evaluate_strategy(run: Runner, query: BenchmarkQuery, budget: int, seeds: int,
                      first_seed: int = 0) -> tuple[list[float], np.ndarray]:
    """Test value of the picked architecture per seed, and the best-so-far curves (seeds x budget)."""
    picks, curves = [], []
    for seed in range(first_seed, first_seed + seeds):
        records = run(query, budget, seed)
        picks.append(picked(records).test)
        curve = best_so_far(records)
        curves.append(curve + [curve[-1]] * (budget - len(curve)))  # a search that stopped early keeps its pick
    return picks, np.array(curves)


def mean_differences(picks: dict[str, list[float]]) -> dict[str, tuple[float, float]]:
    """``a - b`` of the mean pick for every pair of strategies, with its standard error.

    The strategies' seeds share a number, not randomness (each algorithm draws differently), so the two means are
    independent: SE = sqrt(s_a^2 / n_a + s_b^2 / n_b) with the sample standard deviations (ddof 1), each
    strategy's own variance included.
    """
    out = {}
    names = list(picks)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            se = (np.var(picks[a], ddof=1) / len(picks[a]) + np.var(picks[b], ddof=1) / len(picks[b])) ** 0.5
            out[f"{a} - {b}"] = (float(np.mean(picks[a]) - np.mean(picks[b])), float(se))
    return out


def plot_curves(curves: dict[str, np.ndarray], optimum: float, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, curve in curves.items():
        x = np.arange(1, curve.shape[1] + 1)
        mean, std = curve.mean(0), curve.std(0)
        ax.plot(x, mean, label=name)
        ax.fill_between(x, mean - std, mean + std, alpha=0.15)
    ax.axhline(optimum, color="black", linestyle="--", linewidth=0.8, label=f"optimum {optimum:.2f}")
    # the y range follows the contenders: a curve ending 3 points below the best (a grid's first corner) may leave it
    finals = {name: curve.mean(0)[-1] for name, curve in curves.items()}
    lows = [curve.mean(0)[min(9, curve.shape[1] - 1)] for name, curve in curves.items()
            if finals[name] >= max(finals.values()) - 3]
    ax.set_ylim(min(lows) - 0.5, optimum + 0.3)
    ax.set_xlabel("queries")
    ax.set_ylabel("test accuracy of the pick so far (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", required=True, help="NAS-Bench-201 CSV or NAS-Bench-Macro JSON")
    parser.add_argument("--budget", type=int, default=100, help="queries per search")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="run seeds first-seed .. first-seed + seeds - 1 (tune on seeds the figures do not use)")
    parser.add_argument("--metric", help="column to optimise (default: cifar10-val / mean_acc)")
    parser.add_argument("--test-metric", help="column reported for the pick (default: cifar10-test / mean_acc)")
    parser.add_argument("--strategies", default=",".join(DEFAULT),
                        help=f"comma list of {', '.join(STRATEGIES)}, or all (every multi-trial strategy of the "
                             "registry and NNI's baselines)")
    parser.add_argument("--plot", help="PNG path (default: benchmarks/search_quality_<table>.png)")
    parser.add_argument("--proxy-scores", type=Path,
                        help="each architecture's zero-cost scores (zero_cost.py --scores-out), read by the warm "
                             f"starts ({', '.join(WARM_STARTS)}), which need it")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # NNI's strategies log every sample
    torch.set_num_threads(1)

    table = load_table(args.table)
    settings = EvaluatorSettings(kind="benchmark", table=Path(args.table).resolve(), metric=args.metric,
                                 test_metric=args.test_metric)
    query = BenchmarkQuery.from_evaluator(settings, table.space)
    best_key, optimum = table.optimum(query.test_metric)
    print(f"table {table.path.name}: {len(table)} archs, space {table.space}, search {query.metric}, "
          f"report {query.test_metric}, optimum {optimum:.2f} ({best_key}); budget {args.budget}, "
          f"seeds {args.first_seed}..{args.first_seed + args.seeds - 1}")

    summary: dict[str, Any] = {}
    all_picks: dict[str, list[float]] = {}
    curves: dict[str, np.ndarray] = {}
    names = [s.strip() for s in args.strategies.split(",") if s.strip()]
    if "all" in names:  # every multi-trial strategy of the registry and NNI's, then any other named variant
        names = list(dict.fromkeys(all_strategies() + [name for name in names if name != "all"]))
    unknown = [name for name in names if name not in STRATEGIES]
    if unknown:
        parser.error(f"unknown strategy {unknown[0]!r}; choose from {', '.join(STRATEGIES)}, or all")
    warm = [name for name in names if name in WARM_STARTS]
    if warm and args.proxy_scores is None:
        parser.error(f"{warm[0]} needs --proxy-scores (e.g. benchmarks/data/nb201_synflow.csv.gz)")
    if args.proxy_scores is not None and not args.proxy_scores.is_file():
        parser.error(f"--proxy-scores: no file {args.proxy_scores} (zero_cost.py --scores-out writes one)")
    if args.proxy_scores is not None:
        print(f"zero-cost scores: {', '.join(use_proxy_scores(args.proxy_scores, table.space))} from "
              f"{args.proxy_scores}")
    for name in names:
        reason = skip_reason(name, table)
        if reason:
            print(f"{name:20s} skipped: {reason}")
            continue
        start = time.perf_counter()
        picks, curves[name] = evaluate_strategy(STRATEGIES[name], query, args.budget, args.seeds, args.first_seed)
        mean, std = float(np.mean(picks)), float(np.std(picks, ddof=1))
        summary[name] = {"mean": round(mean, 2), "std": round(std, 2), "se": round(std / len(picks) ** 0.5, 3),
                         "regret": round(optimum - mean, 2), "seconds": round(time.perf_counter() - start, 1)}
        all_picks[name] = picks
        print(f"{name:20s} {mean:6.2f} ± {std:4.2f} (SE {summary[name]['se']:.3f})  regret {optimum - mean:5.2f}  "
              f"({summary[name]['seconds']:5.1f} s)", flush=True)

    differences = mean_differences(all_picks)
    for pair, (diff, se) in differences.items():
        print(f"{pair:32s} {diff:+6.2f}  SE {se:.3f}  ({diff / se if se else float('inf'):+.1f} SE)")

    plot = Path(args.plot) if args.plot else Path(__file__).parent / f"search_quality_{table.path.stem}.png"
    plot_curves(curves, optimum, f"{table.path.name}: {query.test_metric} of the pick by {query.metric} "
                f"({args.seeds} seeds)", plot)
    print(f"curve: {plot}")
    print(json.dumps({**summary, "differences": {pair: [round(d, 3), round(se, 3)]
                                                 for pair, (d, se) in differences.items()}}))
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
