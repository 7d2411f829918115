"""End to end through the real nnictl and NNI manager: one tiny second-order DARTS search as one trial, with one
intermediate result per search epoch (the supernet's validation accuracy), one final dict (the retrained
derived cells' accuracy, costs, search accuracy and genotype), and the genotype history and cell picture in the
trial folder. The supernet trains on two processes (``devices: 2, strategy: ddp``, gloo): under nnictl Lightning
re-launches the trial command for rank 1, which must neither take another trial's parameters from NNI nor report
(tests/strategies/test_ddp.py checks the ranks' agreement step by step)."""

from __future__ import annotations

import json

import pytest

import model_spaces
from nni_nas.arch import search_choices, validate_arch
from nni_nas.manager.nnictl import trial_jobs, wait_until_finished
from tests.e2e.portal import metrics_by_type, trial_folder

pytestmark = pytest.mark.slow

SEARCH_EPOCHS = 2
SPACE_ARGS = {"width": 4, "num_cells": 3, "num_nodes": 3}
CONFIG = f"""
experimentName: e2e-darts
trialCommand: python -m nni_nas.trial --config darts.yml
trialCodeDirectory: .
trialConcurrency: 1
searchSpace: {{}}
maxTrialNumber: 1
tuner:
  className: strategies.darts.DartsTuner
  codeDirectory: .
  classArgs:
    space: darts
    space_args: {json.dumps(SPACE_ARGS)}
    data: digits
    train: {{epochs: 6, batch_size: 64, lr: 0.05, seed: 0, latency_runs: 5, devices: 2, strategy: ddp}}
    runs: 1
    seed: 0
    search_epochs: {SEARCH_EPOCHS}
    order: 2
    arch_lr: 0.003
    eval_space_args: {{width: 8}}
trainingService:
  platform: local
"""


def test_darts_search_reports_epochs_one_final_dict_and_saves_the_cells(tmp_path, nni_experiment):
    config = tmp_path / "darts.yml"
    config.write_text(CONFIG)
    _, port = nni_experiment(config)
    status = wait_until_finished(port, timeout=600)
    assert status["status"] == "DONE"
    jobs = trial_jobs(port)
    assert len(jobs) == 1 and jobs[0]["status"] == "SUCCEEDED", [job["status"] for job in jobs]
    assert jobs[0]["parameters"] == {"seed": 0}

    metrics = metrics_by_type(port)
    periodical = [float(v) for v in metrics["PERIODICAL"]]
    assert len(periodical) == SEARCH_EPOCHS and all(0.0 <= v <= 1.0 for v in periodical)
    assert len(metrics["FINAL"]) == 1
    final = metrics["FINAL"][0]
    assert {"default", "val_acc", "test_acc", "params", "flops", "latency_ms", "genotype",
            "search_val_acc"} <= set(final)
    assert final["retrained"] is True and final["order"] == 2 and final["params"] > 0 and final["flops"] > 0
    assert final["default"] == final["val_acc"] >= 0.6  # the retrained derived cells; chance is 0.10
    assert final["test_acc"] >= 0.6
    assert final["search_val_acc"] == pytest.approx(periodical[-1], abs=5e-5)  # rounded to 4 digits
    space = model_spaces.build_space("darts", (1, 8, 8), 10, **SPACE_ARGS)
    assert validate_arch(search_choices(space), final["arch"]) == final["arch"]
    assert final["genotype"] == str(space.genotype(final["arch"]))

    trial_dir = trial_folder(jobs[0]["logPath"])
    for name in ("model.pt", "arch.json", "metrics.json", "alphas.json"):
        assert (trial_dir / name).is_file(), name
    assert (trial_dir / "genotype.txt").read_text().strip() == final["genotype"]
    assert (trial_dir / "cells.png").read_bytes()[:4] == b"\x89PNG"
    history = [json.loads(line) for line in (trial_dir / "search_history.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in history] == list(range(SEARCH_EPOCHS))
    assert [record["val_acc"] for record in history] == pytest.approx(periodical)
    assert all({"genotype", "arch", "alpha_softmax"} <= set(record) for record in history)
    assert history[-1]["genotype"] == final["genotype"]
