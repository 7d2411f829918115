"""Hyperband through the real nnictl and manager: each trial's parameters in the portal carry its epochs and rung, the
trial trains that many epochs (one intermediate result each), its final dict notes them, and the second rung retrains
the better of the first rung's two architectures for twice the epochs; a search stopped in the middle of its first rung
and resumed finishes that bracket."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from nni_nas.manager.nnictl import (
    create_experiment,
    free_port,
    nni_env,
    stop_experiment,
    trial_jobs,
    wait_until_finished,
)
from tests.e2e.portal import metrics_by_trial

pytestmark = pytest.mark.slow

# train.epochs 2, eta 2, min_epochs 1: bracket s = 1 is 2 architectures x 1 epoch, then the better x 2 epochs
CONFIG = """
trialCommand: python -m nni_nas.trial --config search.yml
trialCodeDirectory: .
trialConcurrency: 1
searchSpace: {}
maxTrialNumber: 3
tuner:
  className: strategies.hyperband.HyperbandTuner
  codeDirectory: .
  classArgs:
    space: digits_cnn
    space_args: {widths: [4, 32], max_depth: 2}
    train: {epochs: 2, batch_size: 64, lr: 0.05, latency_runs: 2, threads: 1}
    eta: 2
    min_epochs: 1
trainingService:
  platform: local
"""


@pytest.fixture(scope="module")
def hyperband(tmp_path_factory):
    home = tmp_path_factory.mktemp("hyperband")
    (home / "search.yml").write_text(CONFIG)
    env = nni_env({"HOME": str(home), "NNI_CONFIG_DIR": str(home / "nni-config")})
    port = free_port()
    experiment_id = create_experiment(home / "search.yml", port, env=env)
    try:
        status = wait_until_finished(port, timeout=600)
        assert status["status"] in ("DONE", "NO_MORE_TRIAL"), status
        yield port
    finally:
        stop_experiment(experiment_id, env=env)


def test_each_trial_trains_its_rungs_epochs_and_says_so(hyperband):
    jobs = sorted(trial_jobs(hyperband), key=lambda job: json.loads(job["hyperParameters"][0])["parameter_id"])
    assert [job["status"] for job in jobs] == ["SUCCEEDED"] * 3, jobs
    metrics = metrics_by_trial(hyperband)
    fidelity = [(job["parameters"]["_epochs"], job["parameters"]["_rung"]) for job in jobs]
    assert fidelity == [(1, 0), (1, 0), (2, 1)]
    for job, (epochs, rung) in zip(jobs, fidelity, strict=True):
        [final] = job["final"]
        assert (final["epochs"], final["rung"]) == (epochs, rung)
        assert len(metrics[job["trialJobId"]]["PERIODICAL"]) == epochs


def test_the_second_rung_retrains_the_better_of_the_first(hyperband):
    jobs = sorted(trial_jobs(hyperband), key=lambda job: json.loads(job["hyperParameters"][0])["parameter_id"])

    def arch(job):
        return {k: v for k, v in job["parameters"].items() if not k.startswith("_")}

    better = max(jobs[:2], key=lambda job: job["final"][0]["default"])
    assert arch(jobs[2]) == arch(better) and arch(jobs[0]) != arch(jobs[1])


def test_a_search_stopped_in_its_first_rung_finishes_that_bracket_on_resume(tmp_path):
    """``nnictl stop`` while the first rung's second trial trains (NNI's records keep it RUNNING), then ``nni-nas
    resume``: NNI runs that trial again and hands its result to the tuner's import_data, and the tuner, which rebuilt
    the bracket from the records, then hands out the better of the two for the second rung. (NNI asks for a trial as
    soon as it resumes, before that result: the next bracket's first trial, 6 epochs at rung 0, takes that request.)
    Without the rebuild the resumed tuner starts a new cycle of brackets, and the first rung's better architecture
    never trains for 6 epochs."""
    home = tmp_path / "home"
    (home / "nni-config").mkdir(parents=True)
    # rung 0: 2 x 3 epochs, rung 1: 1 x 6; batches of 8, so that a trial trains for long enough to be stopped
    config = CONFIG.replace("epochs: 2, batch_size: 64", "epochs: 6, batch_size: 8").replace(
        "min_epochs: 1", "min_epochs: 3").replace("maxTrialNumber: 3", "maxTrialNumber: 4")
    (home / "search.yml").write_text(config)
    env = nni_env({"HOME": str(home), "NNI_CONFIG_DIR": str(home / "nni-config")})
    port = free_port()
    experiment_id = create_experiment(home / "search.yml", port, env=env)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            statuses = [job["status"] for job in sorted(trial_jobs(port), key=lambda job: job["sequenceId"])]
            if statuses == ["SUCCEEDED", "RUNNING"]:
                break
            assert len(statuses) < 3 and "FAILED" not in statuses, statuses
            time.sleep(0.3)
        else:
            pytest.fail(f"the second trial never ran: {statuses}")
        stop_experiment(experiment_id, env=env)
        resumed = subprocess.run([sys.executable, "-m", "nni_nas.cli", "resume", experiment_id, "--no-export"],
                                 cwd=home, env=env, capture_output=True, text=True, timeout=900)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        jobs = sorted(trial_jobs(port), key=lambda job: job["sequenceId"])
        dispatcher = (home / "nni-experiments" / experiment_id / "log" / "dispatcher.log").read_text()
    finally:
        stop_experiment(experiment_id, env=env)
    assert [job["status"] for job in jobs] == ["SUCCEEDED"] * 4, jobs
    fidelity = [(job["parameters"]["_epochs"], job["parameters"]["_rung"]) for job in jobs]
    assert fidelity[:2] == [(3, 0), (3, 0)] and sorted(fidelity[2:]) == [(6, 0), (6, 1)], fidelity

    def arch(job):
        return {k: v for k, v in job["parameters"].items() if not k.startswith("_")}

    better = max(jobs[:2], key=lambda job: job["final"][0]["default"])
    [second_rung] = [job for job in jobs if job["parameters"]["_rung"] == 1]
    assert arch(second_rung) == arch(better) and arch(jobs[0]) != arch(jobs[1])
    # the stop caught the second trial running: NNI ran it again, and its result completed the rung
    assert "hyperband resumed 1 brackets from 2 trials (s=1 rung 0: 1 results, 1 running" in dispatcher, dispatcher
    assert "run again by NNI on resume, reported" in dispatcher, dispatcher
