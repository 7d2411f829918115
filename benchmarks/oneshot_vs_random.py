"""Does a one-shot search (DARTS, ENAS, SPOS) find better architectures than sampling its space at random?

On the embedded digits data, for each of ``--searches`` seeds: one search run derives an architecture (retraining
off), ``--randoms`` architectures are drawn uniformly from the same space (for DARTS from the space the derivation
can return: every op but ``none``, any two inputs per node), and all of them are retrained from scratch the same
way (same network arguments, epochs, optimiser and training seed as the derived one: paired seeds) and scored on
the same fixed test split. Per seed the figure is ``derived - mean(randoms)``; the script prints its mean and
standard error over seeds, and the probability that the margin is reached by chance: how often one random
architecture beats the mean of ``--randoms`` others by that much, resampling the random accuracies measured here.

The default spaces keep clearly bad ops beside a good one (pooling and identity beside one convolution), so a
uniformly random architecture is often poor and a search that learns which op helps shows. The last line is one
JSON object.

    python benchmarks/oneshot_vs_random.py --strategy darts --searches 4 --randoms 4
    python benchmarks/oneshot_vs_random.py --strategy enas --searches 4 --randoms 4
    python benchmarks/oneshot_vs_random.py --strategy spos --searches 4 --randoms 4

SPOS, GDAS, ProxylessNAS and DARTS on a non-cell space (``darts_any``) search ENAS's macro space with the same ops,
so those rows compare one-shot searches on one space. ``--data pydocs`` runs every strategy but the DARTS cell one
on the embedded pydocs texts in ``text_cnn`` (a searched width and depth), the harder data set.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch

import model_spaces
import nni_nas  # noqa: F401  (filters NNI's import warning)
from nni_nas.arch import freeze, search_choices
from nni_nas.config import NasSettings
from nni_nas.data import load_data
from nni_nas.evaluation.training import train_and_evaluate
from strategies.darts import DartsTuner
from strategies.enas import EnasTuner
from strategies.gdas import GdasTuner
from strategies.proxyless import ProxylessTuner
from strategies.spos import SposTuner

# A space per strategy where some ops are clearly bad on digits: a cell or layer of pooling and identity learns
# nothing beyond the stem, so a random draw is often poor; one convolution makes the difference.
MACRO = {"num_layers": 4, "channels": 16, "pool_after": [1], "ops": ["conv3x3", "maxpool3x3", "avgpool3x3"]}
SETUPS: dict[str, dict[str, Any]] = {
    "darts": {
        "tuner": DartsTuner,
        "space": "darts",
        "space_args": {"width": 8, "num_cells": 3, "num_nodes": 2, "stem_multiplier": 2,
                       "ops": ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3"]},
        "strategy_args": {"order": 1, "w_lr": 0.05, "arch_lr": 0.01, "search_batch_size": 64, "retrain": False},
        "exclude": {"none"},  # the derivation never returns 'none', so neither do the random draws
    },
    "enas": {
        "tuner": EnasTuner,
        "space": "enas_macro",
        "space_args": MACRO,
        "strategy_args": {"controller_steps": 10, "controller_batch": 4, "controller_lr": 0.01,
                          "controller_hidden": 32, "derive_samples": 8, "retrain": False},
        "exclude": set(),
    },
    "darts_any": {  # DARTS on a space that is not a cell space: the generic relaxation (strategies.supernet.relaxed)
        "tuner": DartsTuner,
        "space": "enas_macro",
        "space_args": MACRO,
        "strategy_args": {"order": 1, "w_lr": 0.05, "arch_lr": 0.01, "search_batch_size": 64, "retrain": False},
        "exclude": set(),
    },
    "gdas": {
        "tuner": GdasTuner,
        "space": "enas_macro",
        "space_args": MACRO,
        "strategy_args": {"w_lr": 0.05, "arch_lr": 0.01, "search_batch_size": 64, "tau_max": 10.0, "tau_min": 0.1,
                          "retrain": False},
        "exclude": set(),
    },
    "proxyless": {
        "tuner": ProxylessTuner,
        "space": "enas_macro",
        "space_args": MACRO,
        "strategy_args": {"w_lr": 0.05, "arch_lr": 0.01, "search_batch_size": 64, "retrain": False},
        "exclude": set(),
    },
    "spos": {
        "tuner": SposTuner,
        "space": "enas_macro",
        "space_args": MACRO,
        "strategy_args": {"population_size": 8, "generations": 3, "parents": 3, "bn_batches": 5, "retrain": False},
        "exclude": set(),
    },
}


# The harder data set: the embedded pydocs texts (Python docstrings of 8 classes) in text_cnn, a 1-D space with a
# searched width and depth (no strategy but the DARTS cell one needs other arguments than these).
TEXT = {"data": "pydocs", "space": "text_cnn",
        "space_args": {"widths": [16, 32], "max_depth": 3, "embed_dim": 16}}


def random_arch(choices: dict[str, list[Any]], rng: random.Random, exclude: set[str]) -> dict[str, Any]:
    """A uniformly random architecture of the space, leaving out the values in ``exclude``."""
    return {label: rng.choice([v for v in values if not (isinstance(v, str) and v in exclude)])
            for label, values in choices.items()}


def settings_for(strategy: str, search_epochs: int, retrain_epochs: int,
                 space_args: dict[str, Any] | None = None, data: str = "digits",
                 strategy_args: dict[str, Any] | None = None) -> NasSettings:
    """The config of one comparison: the strategy's space (``space_args`` over its defaults), retraining off; on
    ``pydocs`` the text space :data:`TEXT` for every strategy."""
    setup = SETUPS[strategy] if data == "digits" else {**SETUPS[strategy], **TEXT}
    return NasSettings.from_class_args({
        "space": setup["space"], "space_args": {**setup["space_args"], **(space_args or {})}, "data": data,
        "train": {"epochs": retrain_epochs, "batch_size": 64, "lr": 0.05, "latency_runs": 1},
        "search_epochs": search_epochs, **setup["strategy_args"], **(strategy_args or {}),
    }, tuner_class=f"{setup['tuner'].__module__}.{setup['tuner'].__name__}")


def retrain(settings: NasSettings, arch: dict[str, Any], seed: int, out_dir: Path) -> float:
    """Test accuracy of ``arch`` trained from scratch with ``settings.train`` and ``seed``."""
    import dataclasses

    import pytorch_lightning as pl

    bundle = load_data(settings.data, **settings.data_args)
    factory = model_spaces.space_factory(settings.space, bundle.input_shape, bundle.num_classes,
                                         **settings.space_args)
    pl.seed_everything(seed, workers=True, verbose=False)
    train = dataclasses.replace(settings.train, seed=seed)
    result, _ = train_and_evaluate(freeze(factory, arch), bundle, train, out_dir, progress_bar=False, report=False)
    return result["test_acc"]


def compare_one_seed(strategy: str, settings: NasSettings, seed: int, randoms: int, work: Path) -> dict[str, Any]:
    """One search with ``seed`` against ``randoms`` random architectures, all retrained with ``seed``."""
    setup = SETUPS[strategy]
    start = time.perf_counter()
    searched = setup["tuner"].run_trial(settings, {"seed": seed}, work / f"search{seed}", progress_bar=False)
    search_seconds = time.perf_counter() - start
    bundle = load_data(settings.data, **settings.data_args)
    choices = search_choices(model_spaces.build_space(settings.space, bundle.input_shape, bundle.num_classes,
                                                      **settings.space_args))
    rng = random.Random(1000 + seed)
    archs = [searched["arch"]] + [random_arch(choices, rng, setup["exclude"]) for _ in range(randoms)]
    start = time.perf_counter()
    accs = [retrain(settings, arch, seed, work / f"retrain{seed}_{i}") for i, arch in enumerate(archs)]
    return {"seed": seed, "derived": accs[0], "randoms": accs[1:], "arch": searched["arch"],
            "margin": accs[0] - statistics.fmean(accs[1:]), "search_s": round(search_seconds, 1),
            "retrain_s": round(time.perf_counter() - start, 1)}


def chance_of_margin(pool: list[float], randoms: int, margin: float, draws: int = 100_000) -> float:
    """How often a random architecture beats the mean of ``randoms`` other random ones by ``margin`` or more,
    resampling the measured random accuracies (the null hypothesis: the search is no better than a random draw)."""
    rng = random.Random(0)
    hits = sum(rng.choice(pool) - statistics.fmean(rng.choices(pool, k=randoms)) >= margin for _ in range(draws))
    return hits / draws


def op_counts(arch: dict[str, Any]) -> dict[str, int]:
    """How often each op appears in ``arch`` (the op labels only), to see what a search picked."""
    ops = [v for label, v in arch.items() if "_op" in label and isinstance(v, str)]
    return {op: ops.count(op) for op in sorted(set(ops))}


# What tests/strategies/test_oneshot_vs_random.py asks of ENAS (the cheapest settings that separate it from
# random): search seeds TEST_SEEDS with the defaults below, TEST_RANDOMS random architectures per seed; every
# derived architecture reaches TEST_FLOOR test accuracy and beats its seed's random mean by TEST_MARGIN on
# average. ``chance_of_test`` is how often random architectures in place of the derived ones would pass.
TEST_SEEDS, TEST_RANDOMS, TEST_FLOOR, TEST_MARGIN = (0, 1), 2, 0.92, 0.08
TEST_SEARCH_EPOCHS, TEST_RETRAIN_EPOCHS = 4, 3


def chance_of_test(pool: list[float], draws: int = 100_000) -> float:
    """How often the test's check passes when each 'derived' architecture is one more random draw, resampling
    the random accuracies in ``pool`` (the null hypothesis: the search is no better than sampling)."""
    rng = random.Random(0)
    hits = 0
    for _ in range(draws):
        derived = [rng.choice(pool) for _ in TEST_SEEDS]
        margins = [d - statistics.fmean(rng.choices(pool, k=TEST_RANDOMS)) for d in derived]
        hits += min(derived) >= TEST_FLOOR and statistics.fmean(margins) >= TEST_MARGIN
    return hits / draws


def summarise(rows: list[dict[str, Any]], randoms: int) -> dict[str, Any]:
    margins = [row["margin"] for row in rows]
    pool = [acc for row in rows for acc in row["randoms"]]
    mean = statistics.fmean(margins)
    se = statistics.stdev(margins) / len(margins) ** 0.5 if len(margins) > 1 else float("nan")
    derived = [row["derived"] for row in rows]
    return {
        "derived_mean": round(statistics.fmean(derived), 4), "derived_min": round(min(derived), 4),
        "random_mean": round(statistics.fmean(pool), 4), "random_min": round(min(pool), 4),
        "random_max": round(max(pool), 4), "margin_mean": round(mean, 4), "margin_se": round(se, 4),
        "min_margin": round(min(margins), 4),
        "p_random_reaches_min_margin": chance_of_margin(pool, randoms, min(margins)),
        "random_at_least_derived_min": sum(acc >= min(derived) for acc in pool) / len(pool),
        "random_at_least_test_floor": sum(acc >= TEST_FLOOR for acc in pool) / len(pool),
        "p_random_passes_the_test": chance_of_test(pool),
        "seconds_per_seed": round(statistics.fmean(row["search_s"] + row["retrain_s"] for row in rows), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategy", choices=sorted(SETUPS), action="append")
    parser.add_argument("--searches", type=int, default=4, help="number of search seeds (one search each)")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + searches - 1")
    parser.add_argument("--randoms", type=int, default=4, help="random architectures per search seed")
    parser.add_argument("--search-epochs", type=int, default=6)
    parser.add_argument("--retrain-epochs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--strategy-args", type=json.loads, default=None,
                        help="JSON over the strategy's settings, e.g. '{\"arch_lr\": 0.05}'")
    parser.add_argument("--data", choices=("digits", "pydocs"), default="digits",
                        help="pydocs: the embedded texts in text_cnn for every strategy (not the DARTS cell space)")
    parser.add_argument("--space-args", type=json.loads, default=None,
                        help="JSON over the strategy's default space arguments, e.g. '{\"width\": 4}'")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    logging.disable(logging.WARNING)
    out: dict[str, Any] = {"data": args.data, "searches": args.searches, "randoms": args.randoms,
                           "search_epochs": args.search_epochs, "retrain_epochs": args.retrain_epochs}
    with tempfile.TemporaryDirectory() as tmp:
        for strategy in args.strategy or sorted(SETUPS):
            if args.data != "digits" and strategy == "darts":
                parser.error("--strategy darts is DARTS's cell space; on pydocs use darts_any")
            settings = settings_for(strategy, args.search_epochs, args.retrain_epochs, args.space_args, args.data,
                                    args.strategy_args)
            out[f"{strategy}_space_args"] = settings.space_args
            rows = []
            for seed in range(args.first_seed, args.first_seed + args.searches):
                row = compare_one_seed(strategy, settings, seed, args.randoms, Path(tmp) / strategy)
                rows.append(row)
                print(f"{strategy} seed {seed}: derived {row['derived']:.3f}, randoms "
                      f"{[round(a, 3) for a in row['randoms']]}, margin {row['margin']:+.3f} "
                      f"({row['search_s']} s search, {row['retrain_s']} s retraining); derived ops "
                      f"{op_counts(row['arch'])}", file=sys.stderr)
            out[strategy] = summarise(rows, args.randoms)
            print(f"{strategy}: margin {out[strategy]['margin_mean']:+.4f} ± {out[strategy]['margin_se']:.4f} (SE "
                  f"over {args.searches} seeds); derived {out[strategy]['derived_mean']:.4f}, random "
                  f"{out[strategy]['random_mean']:.4f}; chance a random draw reaches the smallest margin "
                  f"{out[strategy]['p_random_reaches_min_margin']:.4f}", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
