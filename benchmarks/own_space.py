"""Your own space searched two ways: nni-nas through ``nnictl create`` against NNI 3.0's own ``NasExperiment``.

Both routes search ``examples/own_space`` (``MySpace``, the Lightning module ``MyModule``, the digits of
``my_data.load``) with regularised evolution, one trial at a time, for the same number of trials, with the settings
of that folder's ``config.yml`` (space, module and data arguments, batch size, population and sample size, seed):

* **nni** - NNI alone: ``NasExperiment(MySpace(...), Lightning(MyModule(...), Trainer(...), ...),
  RegularizedEvolution(...))`` on NNI's local training service. ``MyModule`` reports nothing to NNI by itself (NNI's
  own ``ClassificationModule`` does that in its hooks), so the trainer gets one callback, :class:`ReportValAcc`,
  that reports the last validation epoch's ``val_acc`` as the final result, as nni-nas does.
* **ours** - a copy of ``examples/own_space`` with ``maxTrialNumber`` and the epochs set, run by the real
  ``nnictl create`` with its own HOME and a free port; final ``default`` = ``val_acc``.

Figures per route: trials that reached a final state, wall seconds from start to the last trial's end (the manager's
start included), seconds per trial, mean seconds inside ``Trainer.fit`` (``train_seconds``; the rest of a trial's
seconds is its overhead: process start, imports, NNI's bookkeeping), best ``val_acc``; then nni-nas / NNI seconds
per trial and the difference of the best accuracies. Each route's trials do what that route does per trial: nni-nas
also tests the network, measures its parameters, FLOPs and latency (``train.latency_runs``) and saves it; NNI's trial
only trains. NNI's trial builds the network before any hook of ours runs, so its weights are not seeded and its
accuracies vary from run to run; nni-nas's trials are seeded (``train.seed``).

    python benchmarks/own_space.py --trials 8 --epochs 3
    python benchmarks/own_space.py --trials 8 --epochs 3 --route ours --no-worker   # a fresh Python per trial

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

warnings.filterwarnings("ignore")
HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "examples" / "own_space"
USER_FILES = ("my_space.py", "my_module.py", "my_data.py")
FINAL_STATES = {"SUCCEEDED", "FAILED", "USER_CANCELED", "SYS_CANCELED", "EARLY_STOPPED"}
sys.path.insert(0, str(HERE.parent))


class ReportValAcc(pl.Callback):
    """Report ``val_acc`` to NNI: each validation epoch as an intermediate result, the last one as the final result
    (nni-nas's final ``default`` is the last epoch's ``val_acc`` too), with the seconds spent in ``Trainer.fit``
    (``train_seconds``, as nni-nas reports them). Sanity-check validation is not reported."""

    def __init__(self, monitor: str = "val_acc"):
        self.monitor = monitor
        self.last: float | None = None
        self.start = 0.0

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.start = time.perf_counter()

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        import nni

        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        self.last = float(trainer.callback_metrics[self.monitor])
        nni.report_intermediate_result(self.last)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        import nni

        if self.last is not None:
            nni.report_final_result({"default": self.last,
                                     "train_seconds": round(time.perf_counter() - self.start, 2)})


def dataset(part: int, **data_args: Any):
    """Part ``part`` (0 train, 1 validation, 2 test) of ``my_data.load(**data_args)``. Traced by NNI
    (``nni.trace(dataset)``), a trial rebuilds it from this name and its arguments instead of unpickling the tensors."""
    from my_data import load

    return load(**data_args)[part]


def search_settings(trials: int, epochs: int) -> dict[str, Any]:
    """The example config's tuner arguments with ``epochs`` set. With ``trials`` no larger than the config's
    population, evolution would never mutate (nni-nas refuses that config): the population shrinks to
    ``trials - 1`` (at least 2) and the sample size with it, on both routes."""
    import yaml

    args = yaml.safe_load((EXAMPLE / "config.yml").read_text())["tuner"]["classArgs"]
    args["train"] = {**args.get("train", {}), "epochs": epochs}
    population = args["population_size"]
    if trials <= population:
        population = max(2, trials - 1)
    args["population_size"] = population
    args["sample_size"] = min(args["sample_size"], population)
    return args


def summary(record) -> dict[str, Any]:
    """Trials in a final state, succeeded ones, their best ``default`` (``val_acc``) and mean ``train_seconds`` from an
    experiment record."""
    final = [t for t in record.trials if t.status in FINAL_STATES]
    train = [t.metric("train_seconds") for t in record.succeeded()]
    train = [s for s in train if not math.isnan(s)]
    accuracies = [t.metric("default") for t in record.succeeded()]
    accuracies = [a for a in accuracies if not math.isnan(a)]
    return {"trials": len(final), "succeeded": len(record.succeeded()),
            "best_val_acc": max(accuracies) if accuracies else math.nan,
            "val_accs": [round(a, 4) for a in accuracies],
            "train_s": statistics.mean(train) if train else math.nan}


def run_nni(trials: int, args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """NNI 3.0 alone: ``NasExperiment`` with its ``Lightning`` evaluator around ``MyModule`` and its
    ``RegularizedEvolution``, in a folder holding copies of the user's three files (NNI's trials import them by
    name from their working folder, which NNI sets to the experiment's current one)."""
    code = workdir / "nni_code"
    code.mkdir()
    for name in USER_FILES:
        shutil.copy(EXAMPLE / name, code / name)
    sys.path.insert(0, str(code))
    saved = {key: os.environ.get(key) for key in ("HOME", "PYTHONPATH")}
    home = workdir / "home_nni"
    os.environ["HOME"] = str(home)
    # the trials import ``own_space`` (this file) by name for ReportValAcc and dataset
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), saved["PYTHONPATH"]) if p)
    previous = Path.cwd()
    os.chdir(code)
    try:
        return _run_nni_experiment(trials, args, home / "nni-experiments")
    finally:
        os.chdir(previous)
        sys.path.remove(str(code))
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _run_nni_experiment(trials: int, args: dict[str, Any], root: Path) -> dict[str, Any]:
    import nni
    from my_module import MyModule
    from my_space import MySpace
    from nni.nas.evaluator.pytorch import DataLoader, Lightning, Trainer
    from nni.nas.experiment import NasExperiment
    from nni.nas.strategy import RegularizedEvolution
    from own_space import ReportValAcc as Reporter  # importable by name in NNI's trial processes
    from own_space import dataset as user_dataset

    from nni_nas.manager.nnictl import free_port
    from nni_nas.results.records import load_experiment

    train = args["train"]
    data_args = {"seed": train.get("seed", 0), **args.get("data_args", {})}
    traced = nni.trace(user_dataset)
    evaluator = Lightning(
        MyModule(**args.get("module_args", {})),
        Trainer(max_epochs=train["epochs"], callbacks=[Reporter(args.get("monitor", "val_acc"))], logger=False,
                enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                num_sanity_val_steps=0),
        train_dataloaders=DataLoader(traced(part=0, **data_args), batch_size=train["batch_size"], shuffle=True),
        val_dataloaders=DataLoader(traced(part=1, **data_args), batch_size=train["batch_size"]),
    )
    strategy = RegularizedEvolution(population_size=args["population_size"], sample_size=args["sample_size"],
                                    seed=args.get("seed"))
    experiment = NasExperiment(MySpace(**args.get("space_args", {})), evaluator, strategy)
    experiment.config.max_trial_number = trials
    experiment.config.trial_concurrency = 1
    experiment.config.training_service.platform = "local"
    experiment.config.experiment_working_directory = root
    start = time.perf_counter()
    try:
        experiment.run(port=free_port(), wait_completion=True)
    finally:
        wall = time.perf_counter() - start
        experiment_id = experiment.id
        experiment.stop()
    return {"wall_s": wall, "experiment_id": experiment_id, **summary(load_experiment(experiment_id, root))}


def run_ours(trials: int, args: dict[str, Any], workdir: Path, worker: bool = True) -> dict[str, Any]:
    """nni-nas: a copy of ``examples/own_space`` with the trial budget and ``args`` written into its config, run by
    the real ``nnictl create`` with its own HOME and port, waited for until no trial is left running, stopped by
    its id. ``worker=False`` starts every trial in a fresh Python (``--no-worker``), as NNI does."""
    import yaml

    from nni_nas.manager.nnictl import create_experiment, free_port, nni_env, stop_experiment, wait_until_finished
    from nni_nas.results.records import load_experiment

    code = workdir / "ours_code"
    shutil.copytree(EXAMPLE, code)
    config = yaml.safe_load((code / "config.yml").read_text())
    config["maxTrialNumber"] = trials
    if not worker:
        config["trialCommand"] += " --no-worker"
    config["tuner"]["classArgs"] = args
    (code / "config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    home = workdir / "home_ours"
    env = nni_env({"HOME": str(home)})
    port = free_port()
    start = time.perf_counter()
    experiment_id = create_experiment(code / "config.yml", port, env=env)
    try:
        wait_until_finished(port, timeout=3600, poll=0.5)
        wall = time.perf_counter() - start
    finally:
        stop_experiment(experiment_id, env=env)
    return {"wall_s": wall, "experiment_id": experiment_id,
            **summary(load_experiment(experiment_id, home / "nni-experiments"))}


def timed(run, *args) -> dict[str, Any]:
    """``run(*args)`` with the 1-minute load average before and after; a failure becomes the route's ``error``."""
    before = os.getloadavg()[0]
    try:
        route = run(*args)
    except Exception as err:  # report a route's failure as a figure, do not hide it
        route = {"error": f"{type(err).__name__}: {err}"}
    route["load"] = [round(before, 2), round(os.getloadavg()[0], 2)]
    return route


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--route", choices=("nni", "ours", "both"), default="both")
    parser.add_argument("--no-worker", action="store_true",
                        help="nni-nas starts each trial in a fresh Python (no warm worker), as NNI does")
    options = parser.parse_args()
    args = search_settings(options.trials, options.epochs)
    workdir = Path(tempfile.mkdtemp(prefix="nni-nas-own-space-"))
    figures: dict[str, Any] = {"trials": options.trials, "epochs": options.epochs,
                               "population_size": args["population_size"], "sample_size": args["sample_size"],
                               "seed": args.get("seed"), "ours_worker": not options.no_worker,
                               "load_start": [round(x, 2) for x in os.getloadavg()]}
    routes = {}
    if options.route in ("nni", "both"):
        routes["nni"] = timed(run_nni, options.trials, args, workdir)
    if options.route in ("ours", "both"):
        routes["ours"] = timed(run_ours, options.trials, args, workdir, not options.no_worker)
    figures["load_end"] = [round(x, 2) for x in os.getloadavg()]
    print(f"{'route':6s} {'trials':>6s} {'succeeded':>9s} {'wall s':>8s} {'s/trial':>8s} {'train s/trial':>13s} "
          f"{'best val_acc':>12s} {'load before/after':>18s}")
    for name, route in routes.items():
        if "error" in route:
            print(f"{name:6s} failed: {route['error']}")
            figures[f"{name}_error"] = route["error"]
            continue
        per_trial = route["wall_s"] / max(route["trials"], 1)
        figures.update({f"{name}_trials": route["trials"], f"{name}_succeeded": route["succeeded"],
                        f"{name}_wall_s": round(route["wall_s"], 1), f"{name}_s_per_trial": round(per_trial, 2),
                        f"{name}_best_val_acc": route["best_val_acc"], f"{name}_val_accs": route["val_accs"],
                        f"{name}_train_s_per_trial": round(route["train_s"], 2),
                        f"{name}_overhead_s_per_trial": round(per_trial - route["train_s"], 2),
                        f"{name}_load": route["load"]})
        print(f"{name:6s} {route['trials']:6d} {route['succeeded']:9d} {route['wall_s']:8.1f} {per_trial:8.2f} "
              f"{route['train_s']:13.2f} {route['best_val_acc']:12.4f} "
              f"{route['load'][0]:8.2f} / {route['load'][1]:<8.2f}")
    if "ours_s_per_trial" in figures and "nni_s_per_trial" in figures:
        figures["ours_vs_nni_s_per_trial"] = round(figures["ours_s_per_trial"] / figures["nni_s_per_trial"], 3)
        figures["ours_minus_nni_best_val_acc"] = round(figures["ours_best_val_acc"] - figures["nni_best_val_acc"], 4)
        print(f"nni-nas / NNI seconds per trial: {figures['ours_vs_nni_s_per_trial']:.3f}; "
              f"best val_acc nni-nas - NNI: {figures['ours_minus_nni_best_val_acc']:+.4f}")
    print(f"load average (1, 5, 15 min) at start {figures['load_start']}, at end {figures['load_end']}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
