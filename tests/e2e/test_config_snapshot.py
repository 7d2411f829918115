"""Trials train with the config the experiment was created with: editing the file during a search changes nothing
(measured before: NNI recorded lr 0.05 while later trials trained with the edited file's lr)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nni_nas.manager.nnictl import trial_jobs, wait_until_finished

CONFIG = """
trialCommand: python -m nni_nas.trial --config snap.yml
trialCodeDirectory: .
trialConcurrency: 1
searchSpace: {{}}
maxTrialNumber: 2
tuner:
  className: strategies.random_search.RandomTuner
  codeDirectory: .
  classArgs:
    space: digits_cnn
    space_args: {{widths: [8, 16], max_depth: 2}}
    train: {{epochs: 1, lr: {lr}, latency_runs: 2}}
trainingService:
  platform: local
"""


@pytest.mark.slow
def test_a_config_edited_mid_search_is_reported_not_used(tmp_path, nni_experiment):
    config = tmp_path / "snap.yml"
    config.write_text(CONFIG.format(lr=0.05))
    _, port = nni_experiment(config)
    config.write_text(CONFIG.format(lr=0.9))  # a user edits the file while the search runs
    status = wait_until_finished(port, timeout=300)
    assert status["status"] in ("DONE", "NO_MORE_TRIAL")
    jobs = trial_jobs(port)
    assert [job["status"] for job in jobs] == ["SUCCEEDED", "SUCCEEDED"]
    for job in jobs:
        folder = Path(job["logPath"])
        settings = json.loads((folder / "settings.json").read_text())
        assert settings["class_args"]["train"]["lr"] == 0.05  # what NNI stored at nnictl create
        stderr = (folder / "trial.stderr").read_text()
        assert "snap.yml is not what the experiment was created with (it changed since)" in stderr
