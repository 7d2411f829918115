"""NNI's own assessor (Medianstop) with an nni-nas search, through the real nnictl and manager: the trials report one
intermediate result per epoch, which the assessor reads; the trials it stops are EARLY_STOPPED in the portal (not
USER_CANCELED: nni_nas/manager/early_stop.js), have no final result, are recorded by the tuner as stopped early (the
worst result, never a result at full fidelity), and ``top`` ranks only the trained trials and says why the others are
not ranked. ``nni-nas check`` accepts the assessor sections a user writes and names the mistakes in them."""

from __future__ import annotations

import json
import subprocess
import sys

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

EPOCHS = 3
CONFIG = f"""
trialCommand: python -m nni_nas.trial --config search.yml
trialCodeDirectory: .
trialConcurrency: 1
searchSpace: {{}}
maxTrialNumber: 6
assessor:
  name: Medianstop
  classArgs: {{optimize_mode: maximize, start_step: 1}}
tuner:
  className: strategies.random_search.RandomTuner
  codeDirectory: .
  classArgs:
    space: digits_cnn
    space_args: {{widths: [4, 32], max_depth: 3}}
    train: {{epochs: {EPOCHS}, batch_size: 64, lr: 0.05, latency_runs: 2, threads: 1}}
trainingService:
  platform: local
"""


@pytest.fixture(scope="module")
def assessed(tmp_path_factory):
    """The search run to its end: (experiment id, port, home, env); stopped by its id afterwards."""
    home = tmp_path_factory.mktemp("assessor")
    (home / "search.yml").write_text(CONFIG)
    env = nni_env({"HOME": str(home), "NNI_CONFIG_DIR": str(home / "nni-config")})
    port = free_port()
    experiment_id = create_experiment(home / "search.yml", port, env=env)
    try:
        status = wait_until_finished(port, timeout=600)
        assert status["status"] in ("DONE", "NO_MORE_TRIAL"), status
        yield experiment_id, port, home, env
    finally:
        stop_experiment(experiment_id, env=env)


def test_stopped_trials_are_early_stopped_without_a_final_result(assessed):
    _, port, _, _ = assessed
    jobs = trial_jobs(port)
    statuses = [job["status"] for job in jobs]
    assert set(statuses) == {"SUCCEEDED", "EARLY_STOPPED"}, statuses  # the assessor's stop, not a user's cancel
    metrics = metrics_by_trial(port)
    for job in jobs:
        curve = metrics[job["trialJobId"]]["PERIODICAL"]
        if job["status"] == "EARLY_STOPPED":
            assert 1 <= len(curve) < EPOCHS and job["final"] == [], job  # stopped after start_step, before the end
        else:
            assert len(curve) == EPOCHS and len(job["final"]) == 1, job


def test_the_tuner_records_them_as_stopped_early(assessed):
    experiment_id, port, home, _ = assessed
    log = (home / "nni-experiments" / experiment_id / "log" / "dispatcher.log").read_text()
    for job in trial_jobs(port):
        parameter_id = json.loads(job["hyperParameters"][0])["parameter_id"]
        stopped_early = f"trial {parameter_id} was stopped early by the assessor: counted as worst" in log
        assert stopped_early == (job["status"] == "EARLY_STOPPED"), (job["status"], parameter_id, log[-3000:])
    assert "ended without a result" not in log, log[-3000:]


def test_top_ranks_the_trained_trials_only_and_says_why(assessed):
    experiment_id, port, _, env = assessed
    jobs = trial_jobs(port)
    stopped = sum(job["status"] == "EARLY_STOPPED" for job in jobs)
    top = subprocess.run([sys.executable, "-m", "nni_nas.cli", "top", experiment_id, "--top", "20"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert top.returncode == 0, top.stdout + top.stderr
    ranked = {line.split()[1] for line in top.stdout.splitlines() if line.split() and line.split()[0].isdigit()}
    assert ranked == {job["trialJobId"] for job in jobs if job["status"] == "SUCCEEDED"}, top.stdout
    assert f"not ranked: {stopped} of {len(jobs)} trials stopped early by the assessor after epoch" in top.stdout, \
        top.stdout
