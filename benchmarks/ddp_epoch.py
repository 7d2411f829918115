"""Wall time per supernet epoch on one process against two (Lightning's DDP, gloo on the CPU).

Each variant is the real trial command (``python -m nni_nas.trial --config ... --out ...``) on the same data (the
embedded digits), the same search network, the same per-process batch size and seed, without retraining:

- ``one``: ``train: {devices: 1}``, ``threads`` = ``--threads``;
- ``two``: ``train: {devices: 2, strategy: ddp}``, each process ``threads`` = half of ``--threads``; each process sees
  half of each epoch's batches, and every step averages the gradients over both (:mod:`nni_nas.runtime.distributed`).

Both variants get the same total number of threads (``--threads``, even; default: the machine's cores), so the
ratio compares two ways of using the same cores, not two cores with one.

The epoch time is read from the per-step timestamps that ``NNI_NAS_RANK_TRACE`` makes rank 0 write: the time from
the end of the first epoch's last step to the end of the last epoch's last step, divided by the epochs in between
(so the launch, imports and the first epoch's warm-up are left out; validation is inside). Variants alternate
``--repeats`` times so that load on a shared machine hits both alike; the median is kept.

    python benchmarks/ddp_epoch.py --strategies darts2 enas --epochs 3 --repeats 1 --threads 2

The last line printed is one JSON object: per strategy the seconds per epoch of each variant and
``one_over_two`` (above 1: two processes are faster), with the total threads, the machine's cores and its load
average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
STRATEGIES = {
    "darts1": {"className": "strategies.darts.DartsTuner", "classArgs": {
        "space": "darts", "space_args": {"width": 4, "num_cells": 3, "num_nodes": 2}, "order": 1,
        "search_batch_size": 64}},
    "darts2": {"className": "strategies.darts.DartsTuner", "classArgs": {
        "space": "darts", "space_args": {"width": 4, "num_cells": 3, "num_nodes": 2}, "order": 2,
        "search_batch_size": 64}},
    "enas": {"className": "strategies.enas.EnasTuner", "classArgs": {
        "space": "enas_macro", "space_args": {"num_layers": 4, "channels": 8, "pool_after": [2]},
        "controller_steps": 20, "controller_batch": 4, "derive_samples": 2}},
}


def threads_per_process(total: int, devices: int) -> int:
    """Each of ``devices`` processes' share of ``total`` threads: the same total in every variant."""
    if total < devices or total % devices:
        raise SystemExit(f"--threads {total}: give a multiple of {devices}, so that one process and {devices} "
                         f"processes run on the same total number of threads")
    return total // devices


def trial_config(strategy: str, devices: int, epochs: int, threads: int) -> dict:
    """The NNI config of one variant: ``devices`` processes sharing ``threads`` threads in all."""
    tuner = json.loads(json.dumps(STRATEGIES[strategy]))
    train = {"epochs": 1, "batch_size": 64, "seed": 0, "latency_runs": 2, "devices": devices,
             "threads": threads_per_process(threads, devices)}
    if devices > 1:
        train["strategy"] = "ddp"
    tuner["classArgs"].update({"data": "digits", "train": train, "search_epochs": epochs, "retrain": False})
    return {"experimentName": "ddp-epoch", "trialCommand": "python -m nni_nas.trial --config c.yml",
            "trialCodeDirectory": ".", "trialConcurrency": 1, "searchSpace": {}, "maxTrialNumber": 1,
            "tuner": tuner, "trainingService": {"platform": "local"}}


def run(strategy: str, devices: int, epochs: int, threads: int, folder: Path) -> float:
    """Seconds per supernet epoch of one trial run on ``threads`` threads in all."""
    config = trial_config(strategy, devices, epochs, threads)
    folder.mkdir(parents=True)
    (folder / "c.yml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "NNI_NAS_RANK_TRACE": str(folder / "trace"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "nni_nas.runtime.trial", "--config", "c.yml", "--out", "out"],
                          cwd=folder, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{strategy} on {devices} process(es) failed:\n{done.stderr[-3000:]}")
    steps = [json.loads(line) for line in (folder / "trace" / "rank0.jsonl").read_text().splitlines()]
    epoch_end = {}
    for step in steps:
        epoch_end[step["epoch"]] = step["time"]
    return (epoch_end[epochs - 1] - epoch_end[0]) / (epochs - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategies", nargs="+", default=["darts2", "enas"], choices=list(STRATEGIES))
    parser.add_argument("--epochs", type=int, default=4, help="search epochs per run (at least 2)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2 * max(1, (os.cpu_count() or 2) // 2),
                        help="total threads of each variant (even): one process gets all, each of two gets half")
    args = parser.parse_args()
    for devices in (1, 2):
        threads_per_process(args.threads, devices)  # refused before any run
    results: dict = {"threads_total": args.threads, "cores": os.cpu_count(), "epochs": args.epochs,
                     "repeats": args.repeats}
    with tempfile.TemporaryDirectory() as tmp:
        for strategy in args.strategies:
            times: dict[str, list[float]] = {"one": [], "two": []}
            for repeat in range(args.repeats):
                for variant, devices in (("one", 1), ("two", 2)):
                    seconds = run(strategy, devices, args.epochs, args.threads,
                                  Path(tmp) / f"{strategy}-{variant}-{repeat}")
                    times[variant].append(seconds)
                    print(f"{strategy} {variant} process(es), repeat {repeat}: {seconds:.2f} s per epoch", flush=True)
            one, two = statistics.median(times["one"]), statistics.median(times["two"])
            results[strategy] = {"one_s": round(one, 2), "two_s": round(two, 2), "one_over_two": round(one / two, 2)}
    results["load_average"] = [round(x, 1) for x in os.getloadavg()]
    print(json.dumps(results))


if __name__ == "__main__":
    main()
