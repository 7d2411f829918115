"""Per-trial overhead of a multi-trial search: nni-nas through nnictl (warm worker on and off) against NNI 3.0's
own ``NasExperiment`` multi-trial route on the same space, and against training the same number of
architectures in one process.

Every route trains with the same function (``nni_nas.evaluation.training.train_and_evaluate``) and records the seconds
spent in ``Trainer.fit`` (``train_seconds``). Overhead per trial = wall time / trials that reached a final state
(succeeded, failed, cancelled: each cost its start) - mean train_seconds of those that trained: process start,
imports, data loading, NNI's bookkeeping, testing and cost metrics. The figure divided by the succeeded trials only
is printed beside it (``*_overhead_per_succeeded_s``), with the load average before and after each route.

    python benchmarks/trial_overhead.py --trials 8 --epochs 2

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

SPACE_ARGS = {"widths": [16, 32], "max_depth": 3}


def config_text(name: str, trials: int, epochs: int, worker: bool, machine: str | None) -> str:
    flag = "" if worker else " --no-worker"
    service = "  platform: local\n"
    manager = ""
    if machine is not None:
        service = f"  platform: remote\n  machineList:\n    - {machine}\n"
        manager = "nniManagerIp: 127.0.0.2"  # a second loopback address: benchmarks reach 127.0.0.0/8 only
    return f"""
trialCommand: python -m nni_nas.trial --config {name}{flag}
trialCodeDirectory: .
trialConcurrency: 1
searchSpace: {{}}
maxTrialNumber: {trials}
{manager}
tuner:
  className: strategies.random_search.RandomTuner
  codeDirectory: .
  classArgs:
    space: digits_cnn
    space_args: {json.dumps(SPACE_ARGS)}
    data: digits
    train: {{epochs: {epochs}, latency_runs: 5}}
    seed: 0
trainingService:
{service}"""
FINAL_STATES = {"SUCCEEDED", "FAILED", "USER_CANCELED", "SYS_CANCELED", "EARLY_STOPPED"}


def final_count(record) -> int:
    """Trials of an experiment record that reached a final state (NNI's statuses)."""
    return sum(trial.status in FINAL_STATES for trial in record.trials)


def nni_evaluate(model, epochs: int) -> None:
    """NNI route's evaluator: the same training as an nni-nas trial, final dict reported to NNI."""
    import nni

    from nni_nas.config import TrainSettings
    from nni_nas.data import load_data
    from nni_nas.evaluation.training import train_and_evaluate

    out = Path(os.environ.get("NNI_OUTPUT_DIR", tempfile.mkdtemp()))
    result, _ = train_and_evaluate(model, load_data("digits"), TrainSettings(epochs=epochs, latency_runs=5), out,
                                   progress_bar=False)
    nni.report_final_result(result)


def run_nnictl(trials: int, epochs: int, worker: bool, workdir: Path) -> dict:
    from nni_nas.manager.nnictl import create_experiment, free_port, nni_env, stop_experiment, wait_until_finished
    from nni_nas.results.records import load_experiment

    name = f"overhead_{'worker' if worker else 'noworker'}.yml"
    (workdir / name).write_text(config_text(name, trials, epochs, worker, machine=None))
    env = nni_env({"HOME": str(workdir / "home")})
    os.environ["HOME"] = env["HOME"]
    port = free_port()
    start = time.perf_counter()
    experiment_id = create_experiment(workdir / name, port, env=env)
    try:
        wait_until_finished(port, timeout=3600, poll=0.5)
        wall = time.perf_counter() - start
    finally:
        stop_experiment(experiment_id, env=env)
    record = load_experiment(experiment_id)
    train = [t.final["train_seconds"] for t in record.succeeded()]
    archs = [t.parameters for t in record.succeeded()]
    return {"wall_s": wall, "trials": final_count(record), "failed": final_count(record) - len(train),
            "succeeded": len(train), "train_s": train, "archs": archs}


def run_nni_nas_experiment(trials: int, epochs: int, workdir: Path) -> dict:
    import nni
    from nni.nas.evaluator import FunctionalEvaluator
    from nni.nas.experiment import NasExperiment
    from nni.nas.strategy import Random
    from trial_overhead import nni_evaluate as traced_evaluate  # importable by name in NNI's trial processes

    import model_spaces
    from nni_nas.manager.nnictl import free_port
    from nni_nas.results.records import load_experiment

    os.environ["HOME"] = str(workdir / "home_nni")
    space = model_spaces.build_space("digits_cnn", (1, 8, 8), 10, **SPACE_ARGS)
    evaluator = FunctionalEvaluator(traced_evaluate, epochs=epochs)
    experiment = NasExperiment(space, evaluator, Random(dedup=True, seed=0))
    experiment.config.max_trial_number = trials
    experiment.config.trial_concurrency = 1
    experiment.config.experiment_working_directory = workdir / "home_nni" / "nni-experiments"
    # NNI's NAS experiment takes the working directory as its trial code directory (it refuses any other), and
    # its trials import `trial_overhead` by name: run it from this folder.
    previous = Path.cwd()
    os.chdir(HERE)
    start = time.perf_counter()
    try:
        experiment.run(port=free_port(), wait_completion=True)
    finally:
        wall = time.perf_counter() - start
        experiment_id = experiment.id
        experiment.stop()
        os.chdir(previous)
    del nni
    record = load_experiment(experiment_id, workdir / "home_nni" / "nni-experiments")
    train = [t.final["train_seconds"] for t in record.succeeded()]
    return {"wall_s": wall, "trials": final_count(record), "train_s": train, "succeeded": len(train),
            "failed": final_count(record) - len(train)}


def run_in_process(archs: list[dict], epochs: int, workdir: Path) -> dict:
    import model_spaces
    from nni_nas.arch import freeze
    from nni_nas.config import TrainSettings
    from nni_nas.data import load_data
    from nni_nas.evaluation.training import train_and_evaluate

    start = time.perf_counter()
    train = []
    for i, arch in enumerate(archs):
        bundle = load_data("digits")
        model = freeze(lambda: model_spaces.build_space("digits_cnn", (1, 8, 8), 10, **SPACE_ARGS), arch)
        result, _ = train_and_evaluate(model, bundle, TrainSettings(epochs=epochs, latency_runs=5),
                                       workdir / f"inproc{i}", progress_bar=False, report=False)
        train.append(result["train_seconds"])
    return {"wall_s": time.perf_counter() - start, "trials": len(train), "succeeded": len(train), "train_s": train}


def overhead(route: dict, per: str = "trials") -> float:
    """Wall time per trial, every trial that reached a final state counted (a failed one cost its start too; ``per
    = "succeeded"`` divides by the succeeded ones only), less the mean training time of the trials that trained (a
    failed trial has no ``train_seconds``; ``failed`` says how many there were)."""
    return route["wall_s"] / max(route[per], 1) - statistics.mean(route["train_s"] or [0.0])


def timed(run, *args) -> dict:
    """``run(*args)`` with the 1-minute load average before and after it."""
    before = os.getloadavg()[0]
    route = run(*args)
    route["load"] = (round(before, 1), round(os.getloadavg()[0], 1))
    return route


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--skip-nni", action="store_true", help="skip NNI's NasExperiment route")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="nni-nas-overhead-"))
    routes = {
        "ours_worker": timed(run_nnictl, args.trials, args.epochs, True, workdir),
        "ours_no_worker": timed(run_nnictl, args.trials, args.epochs, False, workdir),
    }
    routes["in_process"] = timed(run_in_process, routes["ours_worker"]["archs"], args.epochs, workdir)
    if not args.skip_nni:
        try:
            routes["nni_nas_experiment"] = timed(run_nni_nas_experiment, args.trials, args.epochs, workdir)
        except Exception as err:  # report NNI's failure as a figure, do not hide it
            routes["nni_nas_experiment"] = {"error": f"{type(err).__name__}: {err}"}
    print(f"{'route':22s} {'trials':>6s} {'failed':>6s} {'wall s':>8s} {'train s/trial':>14s} "
          f"{'overhead s/trial':>17s} {'per succeeded':>14s} {'load before/after':>18s}")
    figures: dict[str, float | str] = {"trials": args.trials, "epochs": args.epochs}
    for name, route in routes.items():
        if "error" in route:
            print(f"{name:22s} failed: {route['error']}")
            figures[f"{name}_error"] = route["error"]
            continue
        per_trial = overhead(route)
        figures[f"{name}_overhead_s"] = round(per_trial, 2)
        figures[f"{name}_wall_s"] = round(route["wall_s"], 1)
        figures[f"{name}_overhead_per_succeeded_s"] = round(overhead(route, "succeeded"), 2)
        figures[f"{name}_trials"] = route["trials"]
        figures[f"{name}_failed"] = route.get("failed", 0)
        figures[f"{name}_load"] = list(route["load"])
        print(f"{name:22s} {route['trials']:6d} {route.get('failed', 0):6d} {route['wall_s']:8.1f} "
              f"{statistics.mean(route['train_s']):14.2f} {per_trial:17.2f} {overhead(route, 'succeeded'):14.2f} "
              f"{route['load'][0]:8.1f} / {route['load'][1]:<8.1f}")
    if "nni_nas_experiment_overhead_s" in figures:
        figures["worker_vs_nni_overhead"] = round(
            figures["ours_worker_overhead_s"] / figures["nni_nas_experiment_overhead_s"], 3)
    figures["worker_vs_no_worker_overhead"] = round(
        figures["ours_worker_overhead_s"] / figures["ours_no_worker_overhead_s"], 3)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
