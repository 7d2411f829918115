"""Your own space, Lightning module and data through the real nnictl, NNI manager and web portal: the own-space
example (NNI tutorial-style space, NNI-contract module, own data function) searched by evolution and exported to
plain PyTorch that runs where ``import nni`` fails; three of NNI's hub spaces (NasBench201, MobileNetV3Space,
NASNet) searched by random search with the built-in module on small image arrays; a regression search (own MLP
space, the diabetes table through an own data function, the built-in regression module).

One module fixture starts the five experiments at once, in one private HOME, and stops each by its id.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import model_spaces
from nni_nas.arch import freeze
from nni_nas.manager.nnictl import (
    create_experiment,
    free_port,
    nni_env,
    stop_experiment,
    trial_jobs,
    wait_until_finished,
)
from nni_nas.results.records import load_experiment
from tests.e2e.portal import metrics_by_trial
from tests.nni_nas.test_export import TOLERANCE, max_diff, run_without_nni

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
EPOCHS = {"own": 2, "regression": 6, "hub": 2}
HUB = {  # small enough for a CPU test, trained on 16x16 RGB digits
    "nasbench201": ("nni.nas.hub.pytorch:NasBench201", {"stem_out_channels": 8, "num_modules_per_stack": 1}),
    "mobilenetv3": ("nni.nas.hub.pytorch:MobileNetV3Space", {
        "base_widths": [8, 8, 8, 8, 16, 16, 16, 32, 64], "width_multipliers": [0.5, 1.0], "expand_ratios": [1.0, 2.0],
        "depth_range": [1, 2], "stride": [1, 1, 2, 2, 1, 1, 2, 1, 1]}),
    "nasnet": ("nni.nas.hub.pytorch:NASNet", {"width": 8, "num_cells": 3}),
}


def from_example(name: str, folder: Path, trials: int, epochs: int, **class_args) -> Path:
    """A copy of ``examples/<name>`` with a smaller budget, in ``folder``."""
    shutil.copytree(REPO / "examples" / name, folder)
    config = folder / "config.yml"
    raw = yaml.safe_load(config.read_text())
    raw["maxTrialNumber"] = trials
    args = raw["tuner"]["classArgs"]
    args.update(class_args)
    args["train"].update(epochs=epochs, threads=1, latency_runs=3)
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    return config


def hub_config(folder: Path, space: str, space_args: dict, npz: Path) -> Path:
    folder.mkdir()
    config = folder / "config.yml"
    config.write_text(yaml.safe_dump({
        "experimentName": f"e2e-hub-{folder.name}", "trialCommand": "python -m nni_nas.trial --config config.yml",
        "trialCodeDirectory": ".", "trialConcurrency": 1, "searchSpace": {}, "maxTrialNumber": 2,
        "maxExperimentDuration": "20m",
        "tuner": {"className": "strategies.random_search.RandomTuner", "codeDirectory": ".",
                  "classArgs": {"space": space, "space_args": space_args, "data": "npz",
                                "data_args": {"path": str(npz)},
                                "train": {"epochs": EPOCHS["hub"], "batch_size": 64, "lr": 0.01, "optimizer": "adam",
                                          "seed": 0, "threads": 1, "latency_runs": 3},
                                "seed": 0}},
        "trainingService": {"platform": "local"}}, sort_keys=False))
    return config


def rgb_digits(path: Path) -> None:
    """scikit-learn's digits as 16x16 RGB images in an npz (the built-in ``npz`` data set reads it)."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x / 8 - 1, dtype=torch.float32).reshape(-1, 1, 8, 8)
    x = torch.nn.functional.interpolate(x, size=(16, 16), mode="bilinear").repeat(1, 3, 1, 1)
    np.savez(path, x=x.numpy(), y=y)


@pytest.fixture(scope="module")
def searches(tmp_path_factory):
    """Experiment name -> (id, port, config path), all finished; one HOME for all."""
    root = tmp_path_factory.mktemp("own_code")
    env = nni_env({"HOME": str(root / "home")})
    rgb_digits(root / "rgb_digits.npz")
    configs = {
        "own": from_example("own_space", root / "own", trials=4, epochs=EPOCHS["own"], population_size=2,
                            sample_size=1),
        "regression": from_example("regression", root / "regression", trials=4, epochs=EPOCHS["regression"],
                                   population_size=2, sample_size=1),
        **{name: hub_config(root / name, space, args, root / "rgb_digits.npz") for name, (space, args) in HUB.items()},
    }
    started: dict[str, tuple[str, int, Path]] = {}
    try:
        for name, config in configs.items():
            port = free_port()
            started[name] = (create_experiment(config, port, env=env), port, config)
        for name, (_, port, _) in started.items():
            status = wait_until_finished(port, timeout=1500)
            assert status["status"] in ("DONE", "NO_MORE_TRIAL"), (name, status)
        yield started, root, env
    finally:
        for experiment_id, _, _ in started.values():
            stop_experiment(experiment_id, env=env)


def portal(port: int) -> tuple[list[dict], dict]:
    """The manager's trial jobs (parameters and final dicts decoded) and each trial's metrics."""
    return trial_jobs(port), metrics_by_trial(port)


def export(experiment_id: str, env: dict, cwd: Path, out: Path) -> Path:
    proc = subprocess.run([sys.executable, "-m", "nni_nas.cli", "export", experiment_id, "--top", "1", "--out",
                           str(out), "--force"], env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [folder] = sorted(p for p in out.iterdir() if p.is_dir())  # beside the ranking index
    return folder


def trained_network(experiment_id: str, root: Path, trial_id: str) -> torch.nn.Module:
    """The trial's network as the trial saved it: a fresh space from the user's file, arch.json, model.pt."""
    trial = root / "home" / "nni-experiments" / experiment_id / "environments" / "local-env" / "trials" / trial_id
    saved = json.loads((trial / "settings.json").read_text())
    args = saved["class_args"]
    model = freeze(lambda: model_spaces.build_space(args["space"], tuple(saved["input_shape"]), saved["num_classes"],
                                                    code_dir=saved["code_dir"], **args["space_args"]),
                   json.loads((trial / "arch.json").read_text()))
    model.load_state_dict(torch.load(trial / "model.pt", weights_only=True))
    return model.eval()


def held_out_split(data_file: Path, task: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The test split the example's data function ``load`` returns, loaded as nni-nas loads it."""
    from nni_nas.data.user import load_user_data

    return load_user_data(f"{data_file}:load", {}, task).test.tensors


def test_own_space_module_and_data_search_reports_each_epoch_and_exports_without_nni(searches, tmp_path):
    started, root, env = searches
    experiment_id, port, config = started["own"]
    jobs, metrics = portal(port)
    assert [job["status"] for job in jobs] == ["SUCCEEDED"] * 4
    for job in jobs:
        assert set(job["parameters"]) == {"conv2", "dropout", "feature"}  # the space's own labels
        assert len(metrics[job["trialJobId"]]["PERIODICAL"]) == EPOCHS["own"]  # one point per epoch
        [final] = job["final"]
        assert final["default"] == final["val_acc"]
        assert final["val_acc"] == pytest.approx(metrics[job["trialJobId"]]["PERIODICAL"][-1], abs=5e-5)  # 4 digits
        assert {"val_loss", "test_acc", "params", "flops", "latency_ms"} <= set(final)  # what MyModule logged, costs
    best = load_experiment(experiment_id, root / "home" / "nni-experiments").ranked()[0]
    assert best.final["val_acc"] > 0.5  # trained by the user's module (chance: 0.1)

    folder = export(experiment_id, env, root / "own", tmp_path / "exported")
    readme = (folder / "README.md").read_text()
    assert "needs neither your space file nor `nni`" in readme and "my_data.py:load" in readme
    x_test, y_test = held_out_split(root / "own" / "my_data.py", "classification")
    network = trained_network(experiment_id, root, best.trial_id)
    with torch.no_grad():
        reference = network(x_test)
    accuracy = float((reference.argmax(1) == y_test).float().mean())
    assert accuracy == pytest.approx(best.final["test_acc"], abs=5e-5)  # the trial's own test of this network
    outputs = run_without_nni(tmp_path, {"test": x_test}, [folder])[folder]
    assert set(outputs) == {"model.py", "model.pt2", "model.ts", "model.onnx"}
    for name, logits in outputs.items():
        assert max_diff(logits["test"], reference) <= TOLERANCE, name
        assert float((logits["test"].argmax(1) == y_test).float().mean()) == accuracy, name


@pytest.mark.parametrize("name", list(HUB))
def test_an_nni_hub_space_is_searched_with_the_builtin_module(searches, name):
    started, _, _ = searches
    _, port, _ = started[name]
    jobs, metrics = portal(port)
    assert [job["status"] for job in jobs] == ["SUCCEEDED"] * 2, [job.get("stderrPath") for job in jobs]
    space = model_spaces.build_space(HUB[name][0], (3, 16, 16), 10, **HUB[name][1])
    labels = set(space.simplify())
    for job in jobs:
        assert set(job["parameters"]) <= labels and job["parameters"]  # NNI's own labels, e.g. cell/0_1
        assert len(metrics[job["trialJobId"]]["PERIODICAL"]) == EPOCHS["hub"]
    best = max(job["final"][0]["val_acc"] for job in jobs)
    assert best > 0.2, best  # trained (chance: 0.1)


def test_regression_search_minimises_val_mse_and_exports_a_predictor(searches, tmp_path):
    started, root, env = searches
    experiment_id, port, _ = started["regression"]
    jobs, metrics = portal(port)
    assert [job["status"] for job in jobs] == ["SUCCEEDED"] * 4
    for job in jobs:
        [final] = job["final"]
        assert final["default"] == final["val_mse"] and {"val_mae", "test_mse", "test_mae"} <= set(final)
        assert len(metrics[job["trialJobId"]]["PERIODICAL"]) == EPOCHS["regression"]
    record = load_experiment(experiment_id, root / "home" / "nni-experiments")
    assert record.optimize_mode == "minimize"
    ranked = [trial.final["val_mse"] for trial in record.ranked()]
    assert ranked == sorted(ranked)  # best (lowest) first
    # the mean of the training targets predicts the standardised validation targets with an MSE of 0.96
    assert ranked[0] < 0.8, ranked

    best = record.ranked()[0]
    folder = export(experiment_id, env, root / "regression", tmp_path / "exported")
    assert "predicted values" in (folder / "README.md").read_text()
    x_test, y_test = held_out_split(root / "regression" / "diabetes.py", "regression")
    outputs = run_without_nni(tmp_path, {"test": x_test}, [folder])[folder]
    for name, predicted in outputs.items():
        mse = float(((predicted["test"].reshape(-1) - y_test) ** 2).mean())
        assert mse == pytest.approx(best.final["test_mse"], rel=1e-3), name
