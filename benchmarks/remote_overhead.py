"""Per-trial overhead of a search whose trials run on a remote machine (NNI's ``remote`` training service over SSH)
against the same search run locally, with the warm worker on and off: four nnictl experiments in one run.

The "remote" machine is a real OpenSSH server on 127.0.0.1 (tests/e2e/sshd.py: a separate user whose Python is a
venv of its own), so the figures show what NNI's remote service and nni-nas add per trial (SSH, the trial keeper's
channel, the remote Python), not network time. Needs root (it creates that user and starts sshd).

Every trial trains the same way and records the seconds spent in ``Trainer.fit`` (``train_seconds``).
Per trial overhead = (last trial end - first trial start, as NNI recorded them) / trials - mean train_seconds.
Set-up = from ``nnictl create`` to the first trial's start (for remote: SSH, pip, trial keeper, code upload).

    sudo .venv/bin/python benchmarks/remote_overhead.py --trials 6 --epochs 1

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from trial_overhead import config_text  # noqa: E402  (the same search as trial_overhead.py, remote or local)


def run_route(label: str, trials: int, epochs: int, worker: bool, machine: str | None, workdir: Path) -> dict:
    from nni_nas.manager.nnictl import (
        create_experiment,
        free_port,
        nni_env,
        rest_get,
        stop_experiment,
        wait_until_finished,
    )
    from nni_nas.results.records import load_experiment

    home = workdir / label
    code = home / "code"  # its own folder: NNI uploads the whole code folder to every machine
    code.mkdir(parents=True)
    config = code / "search.yml"
    config.write_text(config_text("search.yml", trials, epochs, worker, machine))
    env = nni_env({"HOME": str(home)})
    port = free_port()
    start_ms = time.time() * 1000
    experiment_id = create_experiment(config, port, env=env)
    try:
        wait_until_finished(port, timeout=3600, poll=0.5)
        jobs = rest_get(port, "trial-jobs")
    finally:
        stop_experiment(experiment_id, env=env)
        if machine is not None:  # the remote machine's copy of the experiment (this is a benchmark, not a search)
            from tests.e2e import sshd

            shutil.rmtree(sshd.remote_home() / "nni-experiments" / experiment_id, ignore_errors=True)
    os.environ["HOME"] = str(home)
    record = load_experiment(experiment_id, home / "nni-experiments", fetch_remote=False)
    train = [t.final["train_seconds"] for t in record.succeeded()]
    first_start = min(int(j["startTime"]) for j in jobs)
    last_end = max(int(j.get("endTime") or j["startTime"]) for j in jobs)
    span_s = (last_end - first_start) / 1000
    return {"trials": len(jobs), "failed": sum(j["status"] != "SUCCEEDED" for j in jobs),
            "setup_s": (first_start - start_ms) / 1000, "span_s": span_s, "train_s": train,
            "overhead_s": span_s / max(len(jobs), 1) - statistics.mean(train or [0.0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    from tests.e2e import sshd

    reason = sshd.missing_requirement()
    if reason:
        sys.exit(f"remote_overhead: {reason}")
    sshd.ensure_user()
    python_bin = sshd.ensure_remote_python()
    folder = sshd.new_fixture_dir()
    workdir = Path(tempfile.mkdtemp(prefix="nni-nas-remote-overhead-"))
    server = sshd.start_sshd(folder)
    machine = (f"{{host: 127.0.0.1, port: {server.port}, user: {server.user}, sshKeyFile: {server.key_file}, "
               f"pythonPath: {python_bin}}}")
    load_before = os.getloadavg()[0]
    routes = {}
    try:
        for label, worker, remote in (("local_worker", True, False), ("remote_worker", True, True),
                                      ("local_no_worker", False, False), ("remote_no_worker", False, True)):
            routes[label] = run_route(label, args.trials, args.epochs, worker, machine if remote else None, workdir)
    finally:
        server.stop()
        sshd.remove_dir(folder)
    print(f"{'route':18s} {'trials':>6s} {'failed':>6s} {'set-up s':>9s} {'train s/trial':>14s} "
          f"{'overhead s/trial':>17s}")
    figures: dict[str, float] = {"trials": args.trials, "epochs": args.epochs,
                                 "load_average": round((load_before + os.getloadavg()[0]) / 2, 1)}
    for label, route in routes.items():
        print(f"{label:18s} {route['trials']:6d} {route['failed']:6d} {route['setup_s']:9.1f} "
              f"{statistics.mean(route['train_s'] or [0.0]):14.2f} {route['overhead_s']:17.2f}")
        figures[f"{label}_overhead_s"] = round(route["overhead_s"], 2)
        figures[f"{label}_setup_s"] = round(route["setup_s"], 1)
        figures[f"{label}_failed"] = route["failed"]
    for mode in ("worker", "no_worker"):
        figures[f"remote_vs_local_{mode}_overhead"] = round(
            figures[f"remote_{mode}_overhead_s"] / figures[f"local_{mode}_overhead_s"], 3)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
