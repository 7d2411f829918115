"""One-shot search on spaces that are not cell spaces, through the real nnictl and NNI manager: DARTS (second order),
ENAS and ProxylessNAS (with a latency target) on ``digits_cnn`` (LayerChoice, InputChoice, Repeat and a width
shared by every Mutable layer), and GDAS on the user's own space and data from examples/own_space (a LayerChoice, a
searched width in MutableLinear and a searched MutableDropout rate, which NNI's own one-shot strategies refuse).
Each reports one intermediate result per search epoch and a final dict with the retrained derived architecture, a
value for every label; DARTS's is exported with parity where nni cannot be imported.
One module fixture starts the four experiments at once, in one private HOME, and stops each by its id."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

import model_spaces
from nni_nas.arch import search_choices
from nni_nas.manager.nnictl import create_experiment, free_port, nni_env, stop_experiment, wait_until_finished
from nni_nas.results.records import load_experiment
from tests.e2e.test_export_nnictl import check_exported

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SEARCH_EPOCHS = 2
SPACE_ARGS = {"widths": [8, 16], "max_depth": 3}
TRAIN = {"epochs": 3, "batch_size": 64, "lr": 0.01, "optimizer": "adam", "seed": 0, "latency_runs": 3, "threads": 1}
QUICK = {"search_epochs": SEARCH_EPOCHS, "search_batch_size": 128, "w_lr": 0.05, "arch_lr": 0.003}
STRATEGIES = {
    "darts": ("strategies.darts.DartsTuner", {**QUICK, "order": 2}),
    "enas": ("strategies.enas.EnasTuner", {"search_epochs": SEARCH_EPOCHS, "controller_steps": 5,
                                           "derive_samples": 4}),
    "gdas": ("strategies.gdas.GdasTuner", {**QUICK, "tau_max": 10.0, "tau_min": 1.0}),
    "proxyless": ("strategies.proxyless.ProxylessTuner", {**QUICK, "latency_runs": 3}),
}
LATENCY_TARGET_MS = 0.3


def config(folder: Path, strategy: str) -> Path:
    class_path, args = STRATEGIES[strategy]
    if strategy == "gdas":  # the user's own space and data, with the built-in classification module
        shutil.copytree(REPO / "examples" / "own_space", folder)
        common = {"space": "my_space.py:MySpace", "space_args": {"channels": 8}, "data": "my_data.py:load",
                  "data_args": {"val_fraction": 0.2}}
    else:
        folder.mkdir()
        common = {"space": "digits_cnn", "space_args": SPACE_ARGS, "data": "digits"}
    if strategy == "proxyless":
        common["constraints"] = {"max_latency_ms": LATENCY_TARGET_MS}
    path = folder / "search.yml"
    path.write_text(yaml.safe_dump({
        "experimentName": f"e2e-{strategy}", "trialCommand": "python -m nni_nas.trial --config search.yml",
        "trialCodeDirectory": ".", "trialConcurrency": 1, "searchSpace": {}, "maxTrialNumber": 1,
        "maxExperimentDuration": "20m",
        "tuner": {"className": class_path, "codeDirectory": ".",
                  "classArgs": {**common, "train": TRAIN, **args, "runs": 1, "seed": 0}},
        "trainingService": {"platform": "local"}}, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def searches(tmp_path_factory):
    """strategy -> (experiment id, port, config), all finished; one HOME for all."""
    root = tmp_path_factory.mktemp("relaxed")
    env = nni_env({"HOME": str(root / "home")})
    started: dict[str, tuple[str, int, Path]] = {}
    try:
        for strategy in STRATEGIES:
            port = free_port()
            path = config(root / strategy, strategy)
            started[strategy] = (create_experiment(path, port, env=env), port, path)
        for strategy, (_, port, _) in started.items():
            status = wait_until_finished(port, timeout=1200)
            assert status["status"] in ("DONE", "NO_MORE_TRIAL"), (strategy, status)
        yield started, root, env
    finally:
        for experiment_id, _, _ in started.values():
            stop_experiment(experiment_id, env=env)


def trial_of(searches, strategy: str):
    started, root, _ = searches
    [trial] = load_experiment(started[strategy][0], root / "home" / "nni-experiments").trials
    return trial


def labels_of(strategy: str) -> set[str]:
    if strategy == "gdas":
        space = model_spaces.build_space("my_space.py:MySpace", (1, 8, 8), 10, code_dir=REPO / "examples/own_space",
                                         channels=8)
    else:
        space = model_spaces.build_space("digits_cnn", (1, 8, 8), 10, **SPACE_ARGS)
    return set(search_choices(space))


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_each_searches_reports_every_epoch_and_a_retrained_architecture(searches, strategy):
    trial = trial_of(searches, strategy)
    assert trial.status == "SUCCEEDED", trial.status
    final = trial.final
    assert set(final["arch"]) == labels_of(strategy)  # a value for every label
    assert final["retrained"] is True and final["default"] > 0.25  # retrained 3 epochs: above chance (0.1)
    assert len(trial.intermediate) == SEARCH_EPOCHS  # the portal's curve: one point per search epoch
    if strategy != "enas":
        assert final["method"] == strategy and final["search_epochs"] == SEARCH_EPOCHS
        history = [json.loads(line) for line in (trial.trial_dir / "search_history.jsonl").read_text().splitlines()]
        assert [h["epoch"] for h in history] == list(range(SEARCH_EPOCHS))
        assert history[-1]["arch"] == final["arch"] or "budget_rank" in final
        assert all(abs(sum(w.values()) - 1) < 1e-3 for w in history[-1]["alpha_softmax"].values())


def test_darts_ran_second_order_and_gdas_searched_the_users_dropout_rate(searches):
    assert trial_of(searches, "darts").final["order"] == 2
    assert trial_of(searches, "gdas").final["arch"]["dropout"] in (0.0, 0.25, 0.5)


def test_gdas_anneals_its_temperature(searches):
    trial = trial_of(searches, "gdas")
    history = [json.loads(line) for line in (trial.trial_dir / "search_history.jsonl").read_text().splitlines()]
    assert [h["tau"] for h in history] == [10.0, 1.0]


def test_proxyless_searches_against_its_latency_target(searches):
    trial = trial_of(searches, "proxyless")
    final = trial.final
    assert final["latency_target_ms"] == LATENCY_TARGET_MS and final["expected_latency_ms"] > 0
    history = [json.loads(line) for line in (trial.trial_dir / "search_history.jsonl").read_text().splitlines()]
    assert all("expected_latency_ms" in h for h in history)


def test_darts_architecture_exports_to_plain_pytorch(searches, tmp_path):
    started, root, env = searches
    experiment_id = started["darts"][0]
    [row] = check_exported(experiment_id, root / "home", env, top=1, tmp_path=tmp_path)
    assert row["test_acc"] == pytest.approx(trial_of(searches, "darts").final["test_acc"], abs=5e-5)
