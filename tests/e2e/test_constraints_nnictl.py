"""End to end through the real nnictl: a constrained evolution on digits. The tuner never proposes an
architecture over max_params; every trial times its network before training and, over max_latency_ms (set below
any network's latency here), reports an over-budget final dict at once and trains nothing; top skips them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nni_nas.manager.nnictl import trial_jobs, wait_until_finished
from tests.e2e.portal import metrics_by_trial, trial_folder

pytestmark = pytest.mark.slow
# The space below (widths 16 and 32, depth 1-3, ops conv3x3, sepconv3x3, identity) has 378 to 28,522 parameters per
# network: a network's count is additive over its active layers (measured: width 16: 346 + 2,336 per conv3x3, 432 per
# sepconv3x3, 32 per identity; width 32: 682 + 9,280 / 1,376 / 64). Of the 162 equally likely (width, depth, op0-op2)
# draws of evolution's uniform random start, 31 have <= 800 parameters: p = 31/162 = 0.19. The first
# population_size = 4 trials are such random draws, so with max_params removed from the tuner all 4 would be within
# it with probability about p^4 = 0.0013 (1 in 746; a little less, as draws are distinct): the bound below fails
# then, all but surely. (It was 3,000 in a space where about half the networks are larger: 1 in 16.)
MAX_PARAMS = 800
TRIALS = 5  # population_size 4 (all random) and one mutation


def test_constrained_evolution_trains_nothing_over_budget(tmp_path, nni_experiment, nni_home):
    _, env = nni_home
    config = tmp_path / "budget.yml"
    config.write_text(f"""
experimentName: e2e-budget
trialCommand: python -m nni_nas.trial --config budget.yml
trialCodeDirectory: .
trialConcurrency: 1
searchSpace: {{}}
maxTrialNumber: {TRIALS}
tuner:
  className: strategies.evolution.RegularizedEvolutionTuner
  codeDirectory: .
  classArgs:
    space: digits_cnn
    space_args: {{widths: [16, 32], max_depth: 3, ops: [conv3x3, sepconv3x3, identity]}}
    train: {{epochs: 1, latency_runs: 3}}
    constraints: {{max_params: {MAX_PARAMS}, max_latency_ms: 1.0e-6}}
    population_size: 4
    sample_size: 2
trainingService:
  platform: local
""")
    experiment_id, port = nni_experiment(config)
    wait_until_finished(port, timeout=600)
    jobs = trial_jobs(port)
    assert len(jobs) == TRIALS and all(job["status"] == "SUCCEEDED" for job in jobs), [j["status"] for j in jobs]
    finals = {trial: m["FINAL"][0] for trial, m in metrics_by_trial(port).items()}
    for job in jobs:
        final = finals[job["trialJobId"]]
        assert 0 < final["params"] <= MAX_PARAMS  # rejected in the tuner: nothing over max_params reached a trial
        assert final["over_budget"] is True and final["violations"][0].startswith("latency_ms ")
        assert {"latency_device": "cpu", "latency_threads": 1, "latency_batch": 1}.items() <= final.items()
        assert not (trial_folder(job["logPath"]) / "model.pt").exists()  # not trained
        assert "val_acc" not in final
    assert len({str(sorted(job["parameters"].items())) for job in jobs}) == TRIALS
    seconds = [(job["endTime"] - job["startTime"]) / 1000 for job in jobs]
    print(f"rejected trials took {min(seconds):.1f}-{max(seconds):.1f} s each (start to end)")
    top = subprocess.run([str(Path(sys.executable).parent / "nni-nas"), "top", experiment_id], env=env,
                         capture_output=True, text=True, timeout=120)
    assert not any(job["trialJobId"] in top.stdout for job in jobs), top.stdout  # none ranked
