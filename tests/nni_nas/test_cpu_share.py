"""A CPU trial trains with its share of the cores (``cores // trials per machine``) unless ``train.threads`` says
otherwise, in its own process (set before torch is imported) and where torch is imported already (the warm worker's
fork, a trial run inside another program)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
import yaml

from nni_nas.runtime.cpu_share import TRIAL_THREADS_ENV, available_cores, trial_threads, trials_per_machine
from nni_nas.runtime.trial import main

REPO = Path(__file__).resolve().parents[2]
TINY = {"epochs": 1, "batch_size": 256, "lr": 0.05, "seed": 0, "latency_runs": 1}


@pytest.fixture
def no_thread_env(monkeypatch):
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", TRIAL_THREADS_ENV):
        monkeypatch.delenv(key, raising=False)


def machines(n: int) -> dict:
    entry = {"host": "127.0.0.1", "user": "u", "sshKeyFile": "k"}
    return {"platform": "remote", "machineList": [entry] * n}


def test_the_share_is_the_cores_divided_among_the_trials_of_one_machine(no_thread_env, monkeypatch):
    assert trial_threads(None, {"trialConcurrency": 1}, cores=16) == 16
    assert trial_threads(None, {"trialConcurrency": 2}, cores=16) == 8
    assert trial_threads(None, {"trialConcurrency": 3}, cores=16) == 5
    assert trial_threads(None, {"trialConcurrency": 32}, cores=16) == 1  # never 0
    assert trial_threads(None, None, cores=16) == 16  # run by hand: alone
    # NNI hands remote trials to the machines in turn: 4 trials on 2 machines are 2 per machine
    assert trials_per_machine({"trialConcurrency": 4, "trainingService": machines(2)}) == 2
    assert trial_threads(None, {"trialConcurrency": 3, "trainingService": machines(2)}, cores=16) == 8
    # a user's train.threads is kept, even above the share
    assert trial_threads(3, {"trialConcurrency": 2}, cores=4) == 3
    # OMP_NUM_THREADS where the experiment was started narrows the cores shared
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert trial_threads(None, {"trialConcurrency": 2}, cores=16) == 2
    # a process the trial started (a DDP rank) keeps the trial's count instead of dividing it again
    monkeypatch.setenv(TRIAL_THREADS_ENV, "5")
    assert trial_threads(None, {"trialConcurrency": 2}, cores=16) == 5


def tiny_config(folder: Path, concurrency: int, threads: int | None = None) -> Path:
    config = yaml.safe_load((REPO / "configs" / "digits_evolution.yml").read_text())
    config["trialConcurrency"] = concurrency
    train = dict(TINY, **({"threads": threads} if threads else {}))
    config["tuner"]["classArgs"].update(train=train, space_args={"widths": [4], "max_depth": 1})
    config["tuner"]["codeDirectory"] = str(REPO)
    config["trialCodeDirectory"] = str(REPO)
    folder.mkdir(parents=True)
    path = folder / "search.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.skipif(available_cores() < 2, reason="needs 2 cores to tell a share from the whole")
def test_a_trial_in_its_own_process_trains_with_its_share(tmp_path, no_thread_env):
    cores = available_cores()
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    cases = {"alone": (1, None, cores), "two at once": (2, None, cores // 2)}

    def trial(name: str) -> subprocess.CompletedProcess:
        concurrency, threads, _ = cases[name]
        config = tiny_config(tmp_path / name.replace(" ", "_").replace(".", "_"), concurrency, threads)
        return subprocess.run([sys.executable, "-m", "nni_nas.runtime.trial", "--config", str(config), "--arch",
                               "random", "--out", str(config.parent / "out")], env=env, capture_output=True, text=True,
                              timeout=600)

    with ThreadPoolExecutor(len(cases)) as pool:
        done = dict(zip(cases, pool.map(trial, cases), strict=True))
    for name, (_, _, expected) in cases.items():
        assert done[name].returncode == 0, done[name].stderr[-2000:]
        metrics = json.loads((tmp_path / name.replace(" ", "_").replace(".", "_") / "out" / "metrics.json")
                             .read_text())
        assert metrics["train_threads"] == expected, (name, metrics["train_threads"])
        assert f"training with {expected} CPU thread(s)" in done[name].stderr


def test_a_trial_where_torch_is_imported_already_sets_torch_threads(tmp_path, no_thread_env, monkeypatch):
    """As in the warm worker's fork: torch is imported before the trial knows its share."""
    monkeypatch.setattr("nni_nas.runtime.cpu_share.available_cores", lambda: 9)
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # what this program had: the trial's share (9 cores, 3 trials) is 3
    try:
        config = tiny_config(tmp_path / "c3", concurrency=3)
        assert main(["--config", str(config), "--arch", "random", "--out", str(tmp_path / "out")]) == 0
        assert json.loads((tmp_path / "out" / "metrics.json").read_text())["train_threads"] == 3
        assert TRIAL_THREADS_ENV not in os.environ  # this program's environment is left alone
    finally:
        torch.set_num_threads(before)
