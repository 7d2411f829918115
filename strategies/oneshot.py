"""The shared path of one-shot strategies (DARTS, ENAS): one NNI trial per search run.

The tuner only varies the run (seed and, optionally, hyper-parameters); the trial trains a supernet, reports
the supernet's validation accuracy each epoch, derives a discrete architecture, retrains it from scratch
(unless switched off) and reports that as the final result. :func:`finish_one_shot` is that last part.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from nni.tuner import Tuner

from nni_nas.config import NasSettings, Settings, is_int
from nni_nas.constraints import constraint_settings
from nni_nas.errors import ConfigError

_logger = logging.getLogger(__name__)
RUN_KEYS = ("runs", "seed", "search_grid")  # classArgs of the tuner itself, not of the search
MAX_RUNS = 10_000  # search runs one experiment hands out (each one trial)


class OneShotTuner(Tuner):
    """Hands out one-shot search runs: ``runs`` seeds for every combination of ``search_grid``.

    The DARTS paper ran its search four times with different seeds and kept the best architecture on
    validation; ``runs: 4`` does that, and the portal ranks the runs by their retrained accuracy.

    Parameters
    ----------
    space, space_args, data, data_args, train, constraints
        The common settings (:mod:`nni_nas.config`); the trials read them (the derived or sampled architectures
        stay within ``constraints``, see :mod:`nni_nas.constraints`).
    runs
        Number of seeds per hyper-parameter combination (seeds ``seed``, ``seed + 1``, ...).
    seed
        First seed.
    search_grid
        Optional mapping of strategy setting -> list of values; every combination is run.
    **strategy_args
        The strategy's own settings, read into :attr:`settings_class` here (so a bad value fails when the
        experiment starts, not in the trial) and again by each trial.
    """

    one_shot = True
    settings_class: ClassVar[type[Settings]] = Settings

    def __init__(self, space: str, space_args: dict | None = None, data: str = "digits",
                 data_args: dict | None = None, train: dict | None = None, runs: int = 1, seed: int = 0,
                 search_grid: dict[str, list[Any]] | None = None, constraints: dict | None = None,
                 module: str = "classification", module_args: dict | None = None, monitor: str | None = None,
                 **strategy_args: Any):
        self.constraints = constraint_settings(constraints)  # the trial honours them (derivation, sampling)
        if not (is_int(runs, 1) and runs <= MAX_RUNS) or not (is_int(seed, 0) and seed < 2**32):
            raise ConfigError(f"runs must be an integer from 1 to {MAX_RUNS:,} and seed an integer in [0, 2**32), got "
                              f"{runs!r} and {seed!r}")
        self.settings = self.settings_class.from_args(strategy_args)
        grid = search_grid or {}
        if not isinstance(grid, dict) or not all(isinstance(values, list) and values for values in grid.values()):
            raise ConfigError(f"search_grid must map settings to non-empty lists of values, got {grid!r}")
        names = [f.name for f in dataclasses.fields(self.settings_class)]
        unknown = sorted(set(grid) - set(names))
        if unknown:
            raise ConfigError(f"search_grid varies {unknown}, which are not {self.settings_class.section} settings; "
                              f"allowed: {names}")
        for key, values in grid.items():
            for value in values:
                self.settings_class.from_args({**strategy_args, key: value})
        size = runs * math.prod(len(values) for values in grid.values())
        if size > MAX_RUNS:
            raise ConfigError(f"runs x search_grid combinations = {size:,} search runs; at most {MAX_RUNS:,} (each "
                              "is one trial)")
        combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())] if grid else [{}]
        self.queue = [{"seed": seed + i, **combo} for combo in combos for i in range(runs)]
        self.issued = 0

    @classmethod
    def space_problem(cls, space: Any) -> str | None:
        """Why this strategy cannot search ``space`` (a built space), or None (subclasses say what they need)."""
        return None

    @classmethod
    def settings_problem(cls, settings: NasSettings) -> str | None:
        """Why this strategy cannot run with these settings, or None: one-shot search scores its supernet with the
        built-in modules' loss and metric (``classification`` or ``regression``); your own Lightning module is
        searched by the multi-trial strategies (evolution, random, PNAS, Pareto evolution)."""
        from nni_nas.config import MODULES

        name = cls.__name__.removesuffix("Tuner")
        if settings.module not in MODULES:
            return (f"{name} (one-shot) trains its supernet with the built-in modules' loss and metric; module "
                    f"{settings.module!r} can be searched by a multi-trial strategy (evolution, random, pnas, "
                    "pareto_evolution)")
        return None

    def update_search_space(self, search_space: Any) -> None:
        pass

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        from nni import NoMoreTrialError

        if self.issued >= len(self.queue):
            raise NoMoreTrialError("all one-shot runs have been issued")
        params = self.queue[self.issued]
        self.issued += 1
        return params

    def receive_trial_result(self, parameter_id: int, parameters: Any, value: Any, **kwargs: Any) -> None:
        pass

    def import_data(self, data: list[dict[str, Any]]) -> None:
        # On resume, skip the runs that already finished.
        done = [entry["parameter"] for entry in data]
        self.queue = [p for p in self.queue if p not in done]
        self.issued = 0

    @staticmethod
    def run_trial(settings: NasSettings, params: dict[str, Any] | None, out_dir: Path,
                  progress_bar: bool = True) -> dict[str, Any]:
        """Run one search in this process and return the final result dict (subclasses implement)."""
        raise NotImplementedError


def run_settings(settings: NasSettings, params: dict[str, Any] | None,
                 settings_class: type[Settings]) -> tuple[NasSettings, Any, dict[str, Any]]:
    """One run's settings: the tuner's parameters (seed, grid values) over the config's. Returns the experiment
    settings with the run's seed, the strategy's own settings (a ``settings_class``, checked) and the run's
    parameters, to report."""
    params = dict(params or {})
    seed = params.pop("seed", settings.train.seed)
    train = dataclasses.replace(settings.train, seed=seed)
    strategy_args = {**settings.strategy_args, **params}
    run = dataclasses.replace(settings, train=train, strategy_args=strategy_args)
    own = {key: value for key, value in strategy_args.items() if key not in RUN_KEYS}
    return run, settings_class.from_args(own), {"seed": seed, **params}


def write_epoch_record(out_dir: Path, record: dict[str, Any], name: str = "search_history.jsonl") -> None:
    """Append one epoch's search state (derived architecture, alphas, ...) to the trial folder's history."""
    with (out_dir / name).open("a") as fh:
        fh.write(json.dumps(record) + "\n")


def finish_one_shot(settings: NasSettings, arch: dict[str, Any], out_dir: Path, search_metrics: dict[str, Any],
                    retrain: bool = True, retrain_epochs: int | None = None, progress_bar: bool = True,
                    space_args: dict[str, Any] | None = None, train_fn: Callable[..., Any] | None = None
                    ) -> dict[str, Any]:
    """Retrain the derived ``arch`` from scratch (or not), save trial files, return the final result dict
    (:func:`nni_nas.evaluation.nni_reporter.readable_result`, as a multi-trial strategy's).

    ``search_metrics`` (e.g. ``search_val_acc``, ``genotype``) are merged into the final dict.
    ``space_args`` override the config's for the evaluation network (e.g. more cells, auxiliary head).
    ``train_fn`` replaces :func:`nni_nas.evaluation.training.train_and_evaluate` (same signature and result) for a
    strategy whose evaluation training differs (DARTS: cutout, drop-path, auxiliary loss).
    With ``retrain=False`` no network is trained here and the final dict carries only the search metrics and
    the derived architecture's cost, with ``default`` = the search-phase validation accuracy.
    """
    import nni_nas.components as components
    from nni_nas import arch as arch_utils
    from nni_nas.evaluation.metrics import cost_metrics
    from nni_nas.evaluation.modules import build_module
    from nni_nas.evaluation.nni_reporter import readable_result
    from nni_nas.evaluation.training import train_and_evaluate
    from nni_nas.runtime.trial_files import save_trial_files

    bundle = components.load_bundle(settings)
    eval_args = {**settings.space_args, **(space_args or {})}
    eval_settings = dataclasses.replace(settings, space_args=eval_args)
    factory = components.space_factory(eval_settings, (bundle.input_shape, bundle.num_classes))
    arch = arch_utils.validate_arch(arch_utils.search_choices(factory()), arch)
    save_trial_files(out_dir, arch=arch, settings=eval_settings, input_shape=bundle.input_shape,
                     num_classes=bundle.num_classes)
    model = arch_utils.freeze(factory, arch)
    if not retrain:
        costs = cost_metrics(model, bundle.input_shape, settings.train.latency_runs)
        searched = search_metrics.get(f"search_{settings.monitor_name}", search_metrics.get("search_val_acc"))
        result = readable_result({"default": float(searched), **costs, **search_metrics, "retrained": False})
        save_trial_files(out_dir, result=result)
        return result
    train = settings.train if retrain_epochs is None else dataclasses.replace(settings.train, epochs=retrain_epochs)
    # Only the supernet trains on several processes; the derived network retrains on one device, in rank 0.
    train = dataclasses.replace(train, devices=1, strategy="auto")
    if train_fn is not None:
        result, _ = train_fn(model, bundle, train, out_dir / "retrain", progress_bar=progress_bar, report=False)
    else:
        result, _ = train_and_evaluate(model, bundle, train, out_dir / "retrain", progress_bar=progress_bar,
                                       report=False, module=build_module(settings, model, bundle.num_classes),
                                       monitor=settings.monitor_name)
    result = readable_result({**result, **search_metrics, "retrained": True})
    save_trial_files(out_dir, model=model, result=result)
    return result
