"""Signals through the real nnictl, NNI manager and trials: the shipped ``configs/signals_evolution.yml`` (shortened to
3 trials) on the toy waveforms npz, written where the config reads it; the best trial exported with ``nni-nas export``
runs where ``import nni`` fails and gives the trained network's logits and its accuracy on the real test split. And
``SignalClassifier`` on ``(N, L)`` arrays: ``export_model()`` takes them as ``fit`` took them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import model_spaces
from nni_nas import SignalClassifier
from nni_nas.arch import search_choices, validate_arch
from nni_nas.data.signals import main as write_waveforms
from nni_nas.data.signals import waveforms
from nni_nas.manager.nnictl import (
    create_experiment,
    free_port,
    nni_env,
    stop_experiment,
    trial_jobs,
    wait_until_finished,
)
from tests.e2e.test_export_nnictl import check_exported

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
TRIALS = 3


@pytest.fixture(scope="module")
def signal_search(tmp_path_factory):
    """The shipped config with 3 trials of 4 epochs, its npz written into a fresh HOME (``~/data/waveforms.npz``)."""
    home = tmp_path_factory.mktemp("signals")
    raw = yaml.safe_load((REPO / "configs" / "signals_evolution.yml").read_text())
    raw["maxTrialNumber"] = TRIALS
    raw["tuner"]["classArgs"]["train"].update(epochs=4, latency_runs=5, threads=1)
    raw["tuner"]["classArgs"]["population_size"] = 2
    raw["tuner"]["classArgs"]["sample_size"] = 1
    (home / "signals_evolution.yml").write_text(yaml.safe_dump(raw, sort_keys=False))
    assert write_waveforms([str(home / "data" / "waveforms.npz")]) == 0  # the command the config's header names
    env = nni_env({"HOME": str(home)})
    port = free_port()
    experiment_id = create_experiment(home / "signals_evolution.yml", port, env=env)
    try:
        status = wait_until_finished(port, timeout=600)
        assert status["status"] in ("DONE", "NO_MORE_TRIAL"), status
        yield experiment_id, home, env, port, raw["tuner"]["classArgs"]
    finally:
        stop_experiment(experiment_id, env=env)


def test_evolution_searches_signal_cnn_and_the_best_trial_exports_without_nni(signal_search, tmp_path, monkeypatch):
    experiment_id, home, env, port, class_args = signal_search
    jobs = trial_jobs(port)
    assert len(jobs) == TRIALS and all(job["status"] == "SUCCEEDED" for job in jobs), [j["status"] for j in jobs]
    space = model_spaces.build_space("signal_cnn", (1, 64), 4, **class_args["space_args"])
    choices = search_choices(space)
    archs = [json.dumps(job["parameters"], sort_keys=True) for job in jobs]
    assert len(set(archs)) == TRIALS  # three different networks
    for job in jobs:  # the portal shows active labels only; restored, each is an architecture of the space
        validate_arch(choices, {**{label: values[0] for label, values in choices.items()}, **job["parameters"]})
        [final] = job["final"]
        assert 0.0 <= final["default"] <= 1.0 and final["params"] > 0

    monkeypatch.setenv("HOME", str(home))  # the config's ~/data/waveforms.npz, as the trials read it
    [row] = check_exported(experiment_id, home, env, top=1, tmp_path=tmp_path)
    assert row["test_acc"] > 0.4  # trained: four balanced classes, chance 0.25


def test_signal_classifier_exports_a_module_that_takes_sequences_as_fit_did(tmp_path, nni_home):
    x, y = waveforms(samples_per_class=40, length=48, seed=2)
    x = x[:, 0]  # (N, L) sequences
    names = np.array(["sine", "square", "sawtooth", "triangle"])[y]  # string labels come back as strings
    x_test, y_test = x[:40], names[:40]
    clf = SignalClassifier(strategy="random", max_trials=2, epochs=6, directory=tmp_path / "project",
                           space_args={"widths": [16, 32], "max_depth": 2})
    clf.fit(x[40:], names[40:])
    predicted = clf.predict(x_test)
    score = clf.evaluate(x_test, y_test)
    assert score["accuracy"] == pytest.approx(float((predicted == y_test).mean()))
    assert score["accuracy"] > 0.4, score  # chance 0.25

    model = clf.export_model()
    assert not any(name.startswith(("nni", "model_spaces")) for name in {type(m).__module__ for m in model.modules()})
    with torch.no_grad():  # as fit took them: (N, L) numpy; and (N, 1, L), a tensor
        as_fit = model(x_test)
        assert (np.asarray(clf._need_project().classes)[as_fit.argmax(1).numpy()] == predicted).all()
        for layout in (x_test[:, None], torch.from_numpy(x_test)):
            assert torch.equal(model(layout), as_fit)
    folder = clf.exported_folder
    pre = json.loads((folder / "preprocessing.json").read_text())
    assert pre["task"] == "signal" and pre["classes"] == sorted(set(names.tolist()))
    assert (folder / "inputs.py").is_file() and (folder / "model.py").is_file()
