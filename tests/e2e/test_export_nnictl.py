"""Export and report real searches run through the real nnictl: multi-trial searches of images (random) and of
texts (evolution on pydocs), and one-shot DARTS and ENAS searches (their retrained networks). Every format of every
exported model, loaded where ``import nni`` fails, gives the trained network's logits within 1e-5 and exactly its
accuracy on the experiment's real test split."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nni_nas.data import load_data
from tests.e2e.portal import finished_search
from tests.nni_nas.nni_records import example_batch
from tests.nni_nas.test_export import TOLERANCE, max_diff, rebuild_trained, run_without_nni

pytestmark = pytest.mark.slow

RANDOM_CONFIG = """
experimentName: e2e-export-random
trialCommand: python -m nni_nas.trial --config search.yml
trialCodeDirectory: .
trialConcurrency: 1
searchSpace: {}
maxTrialNumber: 3
maxExperimentDuration: 15m
tuner:
  className: strategies.random_search.RandomTuner
  codeDirectory: .
  classArgs:
    space: digits_cnn
    space_args: {widths: [8, 16], max_depth: 2}
    data: digits
    train: {epochs: 2, batch_size: 64, lr: 0.05, seed: 0, latency_runs: 5, threads: 1}
    seed: 0
trainingService:
  platform: local
"""

DARTS_CONFIG = """
experimentName: e2e-export-darts
trialCommand: python -m nni_nas.trial --config search.yml
trialCodeDirectory: .
trialConcurrency: 1
searchSpace: {}
maxTrialNumber: 1
maxExperimentDuration: 15m
tuner:
  className: strategies.darts.DartsTuner
  codeDirectory: .
  classArgs:
    space: darts
    space_args: {width: 4, num_cells: 3, num_nodes: 3}
    data: digits
    train: {epochs: 2, batch_size: 64, lr: 0.05, seed: 0, latency_runs: 5, threads: 1}
    runs: 1
    seed: 0
    search_epochs: 1
    order: 1
    eval_space_args: {width: 6}
trainingService:
  platform: local
"""

TEXT_CONFIG = """
experimentName: e2e-export-text
trialCommand: python -m nni_nas.trial --config search.yml
trialCodeDirectory: .
trialConcurrency: 1
searchSpace: {}
maxTrialNumber: 2
maxExperimentDuration: 15m
tuner:
  className: strategies.evolution.RegularizedEvolutionTuner
  codeDirectory: .
  classArgs:
    space: text_cnn
    space_args: {widths: [16, 32], max_depth: 2, embed_dim: 16}
    data: pydocs
    data_args: {max_len: 128}
    train: {epochs: 3, batch_size: 64, lr: 0.003, optimizer: adam, seed: 0, latency_runs: 5, threads: 1}
    population_size: 2
    sample_size: 1
    seed: 0
trainingService:
  platform: local
"""

ENAS_CONFIG = """
experimentName: e2e-export-enas
trialCommand: python -m nni_nas.trial --config search.yml
trialCodeDirectory: .
trialConcurrency: 1
searchSpace: {}
maxTrialNumber: 1
maxExperimentDuration: 15m
tuner:
  className: strategies.enas.EnasTuner
  codeDirectory: .
  classArgs:
    space: enas_micro
    space_args: {num_nodes: 3, cells_per_stage: 1, channels: 8}
    data: digits
    train: {epochs: 2, batch_size: 64, lr: 0.05, seed: 0, latency_runs: 5, threads: 1}
    search_epochs: 1
    controller_steps: 3
    controller_batch: 2
    controller_hidden: 16
    derive_samples: 2
    retrain_space_args: {channels: 12}
    runs: 1
    seed: 0
trainingService:
  platform: local
"""


@pytest.fixture(scope="module")
def random_search(tmp_path_factory):
    yield from finished_search(tmp_path_factory, "export_random", RANDOM_CONFIG)


@pytest.fixture(scope="module")
def text_search(tmp_path_factory):
    yield from finished_search(tmp_path_factory, "export_text", TEXT_CONFIG)


@pytest.fixture(scope="module")
def darts_search(tmp_path_factory):
    yield from finished_search(tmp_path_factory, "export_darts", DARTS_CONFIG)


@pytest.fixture(scope="module")
def enas_search(tmp_path_factory):
    yield from finished_search(tmp_path_factory, "export_enas", ENAS_CONFIG)


def nni_nas_cli(env: dict, cwd: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nni_nas.cli", *argv], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=900)


def check_exported(experiment_id: str, home: Path, env: dict, top: int, tmp_path: Path,
                   select: tuple[str, ...] | None = None) -> list[dict]:
    """Export ``top`` trials with the CLI (chosen by ``select``, default ``--top TOP``, each into its folder
    ``trial-<id>``), run every format without nni, compare with the trained networks on a fixed batch and on the
    experiment's real test split. The rows come in the order of the export's index (``ranking.json``): best first."""
    out = home / "exported"
    select = select or ("--top", str(top))
    proc = nni_nas_cli(env, home, "export", experiment_id, *select, "--out", str(out), "--force")
    assert proc.returncode == 0, proc.stderr[-3000:]
    index = json.loads((out / "ranking.json").read_text())
    folders = [out / row["folder"] for row in index["trials"]]
    assert sorted(f.name for f in out.iterdir() if f.is_dir()) == sorted(f.name for f in folders)
    assert len(folders) == top and all(f.name == f"trial-{row['trial_id']}" for f, row in zip(folders, index["trials"]))

    trial_dirs, settings, models = {}, {}, {}
    for folder in folders:
        metrics = json.loads((folder / "metrics.json").read_text())
        trial_dirs[folder] = home / "nni-experiments" / experiment_id / "environments" / "local-env" / "trials" / \
            metrics["trial_id"]
        settings[folder] = json.loads((trial_dirs[folder] / "settings.json").read_text())
        args = settings[folder]["class_args"]
        models[folder] = rebuild_trained(trial_dirs[folder], args["space"], args["space_args"],
                                         tuple(settings[folder]["input_shape"]), settings[folder]["num_classes"])
    first = settings[folders[0]]
    x_test, y_test = load_data(first["class_args"]["data"], **first["class_args"]["data_args"]).test.tensors
    batch = example_batch(models[folders[0]], tuple(first["input_shape"]), 16, seed=0)
    outputs = run_without_nni(tmp_path, {"batch": batch, "test": x_test}, folders)
    measured = []
    for folder in folders:
        metrics = json.loads((folder / "metrics.json").read_text())
        with torch.no_grad():
            reference = {"batch": models[folder](batch), "test": models[folder](x_test)}
        reference_acc = float((reference["test"].argmax(1) == y_test).float().mean())
        assert reference_acc == pytest.approx(metrics["test_acc"], abs=5e-5)  # what the trial reported (4 digits)
        formats = outputs[folder]
        assert set(formats) == {"model.py", "model.pt2", "model.ts", "model.onnx"}
        row = {"folder": folder.name, "test_acc": reference_acc}
        for name, logits in formats.items():
            row[name] = max(max_diff(logits["batch"], reference["batch"]), max_diff(logits["test"], reference["test"]))
            assert row[name] <= TOLERANCE, (folder.name, name)
            assert float((logits["test"].argmax(1) == y_test).float().mean()) == reference_acc, (folder.name, name)
        measured.append(row)
    print(json.dumps(measured, indent=1))  # the measured parity, shown with pytest -s
    return measured


def test_multi_trial_search_exports_match_the_trained_networks_without_nni(random_search, tmp_path):
    experiment_id, home, env = random_search
    rows = check_exported(experiment_id, home, env, top=3, tmp_path=tmp_path)
    assert rows[0]["test_acc"] > 0.3  # trained, not random (chance is 0.1)


def test_report_of_a_real_search(random_search):
    experiment_id, home, env = random_search
    proc = nni_nas_cli(env, home, "report", experiment_id)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "strategy random" in proc.stdout and "3 succeeded" in proc.stdout
    assert len([line for line in proc.stdout.splitlines() if line[:1] in "123" and line[1:2] == " "]) == 3
    folder = home / "nni-experiments" / experiment_id / "nni-nas-report"
    assert (folder / "best_so_far.png").stat().st_size > 10_000
    assert (folder / "accuracy_vs_params.png").stat().st_size > 10_000


def test_one_shot_darts_trial_exports_its_retrained_network(darts_search, tmp_path):
    experiment_id, home, env = darts_search
    [row] = check_exported(experiment_id, home, env, top=1, tmp_path=tmp_path)
    metrics = json.loads((home / "exported" / row["folder"] / "metrics.json").read_text())
    assert metrics["space"] == "darts" and metrics["space_args"]["width"] == 6  # the evaluation network
    assert metrics["retrained"] is True and metrics["strategy"] == "strategies.darts.DartsTuner"


def test_one_shot_enas_trial_exports_its_retrained_network(enas_search, tmp_path):
    experiment_id, home, env = enas_search
    [row] = check_exported(experiment_id, home, env, top=1, tmp_path=tmp_path)
    metrics = json.loads((home / "exported" / row["folder"] / "metrics.json").read_text())
    assert metrics["space"] == "enas_micro" and metrics["space_args"]["channels"] == 12  # the retrained network


def test_text_classification_search_exports_match_without_nni(text_search, tmp_path):
    experiment_id, home, env = text_search
    rows = check_exported(experiment_id, home, env, top=2, tmp_path=tmp_path)
    assert rows[0]["test_acc"] > 0.25  # trained on real texts: the largest of 8 classes is 0.186
    readme = (home / "exported" / rows[0]["folder"] / "README.md").read_text()
    assert "int64 token tensor `(batch, 128)`" in readme and "def encode(text, max_len=128):" in readme
