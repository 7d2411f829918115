"""End to end through the real nnictl and NNI manager: one tiny ENAS search run as one trial, with one
intermediate result per search epoch (the sampled children's mean validation accuracy) and one final dict
(the retrained child's accuracy, its costs and its architecture)."""

from __future__ import annotations

import json

import pytest

import model_spaces
from nni_nas.arch import search_choices, validate_arch
from nni_nas.manager.nnictl import trial_jobs, wait_until_finished
from tests.e2e.portal import metrics_by_type, trial_folder

pytestmark = pytest.mark.slow

SEARCH_EPOCHS = 4
SPACE_ARGS = {"num_layers": 4, "channels": 8, "pool_after": [1]}
CONFIG = f"""
experimentName: e2e-enas
trialCommand: python -m nni_nas.trial --config enas.yml
trialCodeDirectory: .
trialConcurrency: 1
searchSpace: {{}}
maxTrialNumber: 1
tuner:
  className: strategies.enas.EnasTuner
  codeDirectory: .
  classArgs:
    space: enas_macro
    space_args: {json.dumps(SPACE_ARGS)}
    data: digits
    train: {{epochs: 6, batch_size: 64, lr: 0.05, seed: 0, latency_runs: 5}}
    search_epochs: {SEARCH_EPOCHS}
    controller_steps: 5
    controller_batch: 4
    controller_lr: 0.01
    controller_hidden: 32
    baseline_decay: 0.9
    derive_samples: 4
    retrain: true
    runs: 1
    seed: 0
trainingService:
  platform: local
"""


def test_enas_search_reports_epochs_and_one_final_dict(tmp_path, nni_experiment):
    config = tmp_path / "enas.yml"
    config.write_text(CONFIG)
    _, port = nni_experiment(config)
    status = wait_until_finished(port, timeout=600)
    assert status["status"] == "DONE"
    jobs = trial_jobs(port)
    assert len(jobs) == 1 and jobs[0]["status"] == "SUCCEEDED", [job["status"] for job in jobs]
    assert jobs[0]["parameters"] == {"seed": 0}

    metrics = metrics_by_type(port)
    periodical = metrics["PERIODICAL"]
    assert len(periodical) == SEARCH_EPOCHS and all(0.0 <= float(v) <= 1.0 for v in periodical)
    assert len(metrics["FINAL"]) == 1
    final = metrics["FINAL"][0]
    assert {"default", "params", "flops", "latency_ms", "arch", "search_val_acc"} <= set(final)
    assert final["retrained"] is True and final["params"] > 0 and final["flops"] > 0
    assert final["default"] > 0.5  # the retrained child; chance is 0.10
    space = model_spaces.build_space("enas_macro", (1, 8, 8), 10, **SPACE_ARGS)
    assert validate_arch(search_choices(space), final["arch"]) == final["arch"]

    trial_dir = trial_folder(jobs[0]["logPath"])
    for name in ("model.pt", "arch.json", "controller.pt", "metrics.json"):
        assert (trial_dir / name).is_file(), name
    history = [json.loads(line) for line in (trial_dir / "search_history.jsonl").read_text().splitlines()]
    assert len(history) == SEARCH_EPOCHS
    assert all({"mean_reward", "baseline", "entropy"} <= set(record) for record in history)
    assert json.loads((trial_dir / "arch.json").read_text()) == final["arch"]
