"""End to end through the real nnictl: a constrained evolution on digits. The tuner never proposes an
architecture over max_params; every trial times its network before training and, over max_latency_ms (set below
any network's latency here), reports an over-budget final dict at once and trains nothing; top skips them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nni_nas.nnictl import trial_jobs, wait_until_finished
from tests.e2e.portal import metrics_by_trial, trial_folder

pytestmark = pytest.mark.slow
MAX_PARAMS = 3000  # about half of this space's networks are larger (378 to 27,722 parameters)


def test_constrained_evolution_trains_nothing_over_budget(tmp_path, nni_experiment, nni_home):
    _, env = nni_home
    config = tmp_path / "budget.yml"
    config.write_text(f"""
experimentName: e2e-budget
trialCommand: python -m nni_nas.trial --config budget.yml
trialCodeDirectory: .
trialConcurrency: 1
searchSpace: {{}}
maxTrialNumber: 4
tuner:
  className: strategies.evolution.RegularizedEvolutionTuner
  codeDirectory: .
  classArgs:
    space: digits_cnn
    space_args: {{widths: [16, 32], max_depth: 3}}
    train: {{epochs: 1, latency_runs: 3}}
    constraints: {{max_params: {MAX_PARAMS}, max_latency_ms: 1.0e-6}}
    population_size: 2
    sample_size: 1
trainingService:
  platform: local
""")
    experiment_id, port = nni_experiment(config)
    wait_until_finished(port, timeout=600)
    jobs = trial_jobs(port)
    assert len(jobs) == 4 and all(job["status"] == "SUCCEEDED" for job in jobs), [j["status"] for j in jobs]
    finals = {trial: m["FINAL"][0] for trial, m in metrics_by_trial(port).items()}
    for job in jobs:
        final = finals[job["trialJobId"]]
        assert 0 < final["params"] <= MAX_PARAMS  # rejected in the tuner: nothing over max_params reached a trial
        assert final["over_budget"] is True and final["violations"][0].startswith("latency_ms ")
        assert {"latency_device": "cpu", "latency_threads": 1, "latency_batch": 1}.items() <= final.items()
        assert not (trial_folder(job["logPath"]) / "model.pt").exists()  # not trained
        assert "val_acc" not in final
    assert len({str(sorted(job["parameters"].items())) for job in jobs}) == 4
    seconds = [(job["endTime"] - job["startTime"]) / 1000 for job in jobs]
    print(f"rejected trials took {min(seconds):.1f}-{max(seconds):.1f} s each (start to end)")
    top = subprocess.run([str(Path(sys.executable).parent / "nni-nas"), "top", experiment_id], env=env,
                         capture_output=True, text=True, timeout=120)
    assert not any(job["trialJobId"] in top.stdout for job in jobs), top.stdout  # none ranked
