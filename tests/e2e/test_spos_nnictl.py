"""End to end through the real nnictl and NNI manager: one small SPOS search as one trial on ``digits_cnn`` (a
space mixing LayerChoice, InputChoice, Repeat and a shared nni.choice width, which ENAS refuses): one intermediate
result per supernet epoch, one final dict with the retrained architecture (a value for every label), within the
params budget, exported with parity where nni cannot be imported."""

from __future__ import annotations

import json

import pytest

import model_spaces
from nni_nas.arch import search_choices
from tests.e2e.portal import finished_search
from tests.e2e.test_export_nnictl import check_exported

pytestmark = pytest.mark.slow

SEARCH_EPOCHS = 3
SPACE_ARGS = {"widths": [8, 16], "max_depth": 3}
MAX_PARAMS = 8000
CONFIG = f"""
experimentName: e2e-spos
trialCommand: python -m nni_nas.trial --config search.yml
trialCodeDirectory: .
trialConcurrency: 1
searchSpace: {{}}
maxTrialNumber: 1
maxExperimentDuration: 15m
tuner:
  className: strategies.spos.SposTuner
  codeDirectory: .
  classArgs:
    space: digits_cnn
    space_args: {json.dumps(SPACE_ARGS)}
    data: digits
    constraints: {{max_params: {MAX_PARAMS}}}
    train: {{epochs: 3, batch_size: 64, lr: 0.01, optimizer: adam, seed: 0, latency_runs: 3, threads: 1}}
    search_epochs: {SEARCH_EPOCHS}
    population_size: 6
    generations: 2
    parents: 3
    bn_batches: 4
    runs: 1
    seed: 0
trainingService:
  platform: local
"""


@pytest.fixture(scope="module")
def spos_search(tmp_path_factory):
    yield from finished_search(tmp_path_factory, "spos", CONFIG)


def test_spos_reports_each_supernet_epoch_and_a_retrained_architecture_in_budget(spos_search, tmp_path):
    experiment_id, home, env = spos_search
    from nni_nas.results.records import load_experiment

    record = load_experiment(experiment_id, home / "nni-experiments")
    [trial] = record.trials
    assert trial.status == "SUCCEEDED"
    final = trial.final
    labels = set(search_choices(model_spaces.build_space("digits_cnn", (1, 8, 8), 10, **SPACE_ARGS)))
    assert set(final["arch"]) == labels  # a value for every label, inactive ones included
    assert final["retrained"] is True and final["params"] <= MAX_PARAMS
    assert final["search_evaluated"] >= 6 and 0.1 < final["search_val_acc"] <= 1
    assert final["default"] > 0.5  # retrained from scratch: well above chance (0.1)
    assert len(trial.intermediate) == SEARCH_EPOCHS  # the portal's curve: one point per supernet epoch

    [row] = check_exported(experiment_id, home, env, top=1, tmp_path=tmp_path)
    assert row["test_acc"] == pytest.approx(final["test_acc"], abs=5e-5)


def test_spos_trial_keeps_its_search_history(spos_search):
    experiment_id, home, env = spos_search
    from nni_nas.results.records import load_experiment

    [trial] = load_experiment(experiment_id, home / "nni-experiments").trials
    history = [json.loads(line) for line in (trial.trial_dir / "search_history.jsonl").read_text().splitlines()]
    assert [h["phase"] for h in history] == ["supernet", "search", "search"]
    derived = [json.loads(line) for line in (trial.trial_dir / "derived.jsonl").read_text().splitlines()]
    assert len(derived) == trial.final["search_evaluated"] and derived[0]["arch"] == trial.final["arch"]
    scores = [d["score"] for d in derived]
    assert scores == sorted(scores, reverse=True)
