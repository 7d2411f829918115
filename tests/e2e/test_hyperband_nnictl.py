"""Hyperband through the real nnictl and manager: each trial's parameters in the portal carry its epochs and rung, the
trial trains that many epochs (one intermediate result each), its final dict notes them, and the second rung retrains
the better of the first rung's two architectures for twice the epochs."""

from __future__ import annotations

import json

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
