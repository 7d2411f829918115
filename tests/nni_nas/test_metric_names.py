"""Every value says what it measured. A Python API search has no test split: its trials report the validation
accuracy once, as ``val_acc``, and ``top``, the API's ``top()`` and an exported README never name a test accuracy.
A config with a real test split (digits: train / val / test) reports ``test_acc`` and every display names it as the
test split's. Both run real trials (one epoch, outside nnictl) and show their final dicts through the real commands.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from nni_nas import ImageClassifier, SignalClassifier, TextClassifier, cli
from nni_nas.arch import search_choices
from nni_nas.data import load_data
from nni_nas.runtime.trial import parse_args, run
from nni_nas.tasks.base import BaseClassifier
from nni_nas.tasks.project import Project
from tests.nni_nas.nni_records import FakeTrial, make_experiment

REPO = Path(__file__).resolve().parents[2]
RNG = np.random.default_rng(0)
Y = np.arange(60) % 3
FITS = {  # small data of each kind; the searches are never started (no nnictl), their data and config are written
    "image": lambda d: ImageClassifier(strategy="random", max_trials=1, epochs=1, directory=d).fit(
        RNG.normal(size=(60, 8, 8)).astype(np.float32) + Y[:, None, None], Y),
    "signal": lambda d: SignalClassifier(strategy="random", max_trials=1, epochs=1, directory=d).fit(
        RNG.normal(size=(60, 2, 32)).astype(np.float32) + Y[:, None, None], Y),
    "text": lambda d: TextClassifier(strategy="random", max_trials=1, epochs=1, directory=d).fit(
        [f"text of class {c} number {i}" for i, c in enumerate(Y)], [f"c{c}" for c in Y], max_len=32),
}


def class_args_of(config: Path) -> dict:
    return yaml.safe_load(config.read_text())["tuner"]["classArgs"]


def trial_result(config: Path, out: Path) -> dict:
    return run(parse_args(["--config", str(config), "--arch", "random", "--out", str(out), "--epochs", "1"]))


@pytest.fixture
def no_nnictl(monkeypatch):
    monkeypatch.setattr(BaseClassifier, "_run", lambda self, start, attempts=3: None)


@pytest.mark.parametrize("task", FITS)
def test_an_api_search_has_no_test_split_and_its_trials_report_no_test_value(task, tmp_path, no_nnictl):
    FITS[task](tmp_path / "project")
    args = class_args_of(tmp_path / "project" / "config.yml")
    assert load_data(args["data"], **args["data_args"]).test is None
    result = trial_result(tmp_path / "project" / "config.yml", tmp_path / "trial")
    assert result["default"] == result["val_acc"]
    assert not [key for key in result if key.startswith("test")], result  # what NNI and its portal receive


def shown(tmp_path: Path, monkeypatch, capsys, experiment: str, final: dict, args: dict) -> tuple[str, str, dict]:
    """``nni-nas top`` and the exported README of a one-trial experiment whose trial reported ``final``."""
    import model_spaces
    from tests.nni_nas.nni_records import random_arch

    root = tmp_path / "nni-experiments"
    monkeypatch.setenv("NNI_EXPERIMENTS_DIR", str(root))
    monkeypatch.chdir(tmp_path)
    shape, classes = (1, 8, 8), 10
    choices = search_choices(model_spaces.build_space(args["space"], shape, classes, **args["space_args"]))
    make_experiment(root, experiment, [FakeTrial("t1", arch=random_arch(choices, 0), final=final)], args,
                    input_shape=shape, num_classes=classes)
    capsys.readouterr()
    assert cli.main(["top", experiment]) == 0
    table = capsys.readouterr().out
    assert cli.main(["export", experiment, "--out", "out", "--format", "source"]) == 0
    readme = (tmp_path / "out" / "trial-t1" / "README.md").read_text()
    return table, readme, json.loads((tmp_path / "out" / "ranking.json").read_text())


def test_top_export_and_the_api_of_an_api_search_claim_no_test_accuracy(tmp_path, monkeypatch, capsys, no_nnictl):
    FITS["image"](tmp_path / "project")
    config = tmp_path / "project" / "config.yml"
    final = trial_result(config, tmp_path / "trial")
    table, readme, index = shown(tmp_path, monkeypatch, capsys, "apiexp", final, class_args_of(config))
    assert "val_acc" in table.splitlines()[0] and "test" not in table
    assert "Validation accuracy" in readme and "no test split" in readme and "test accuracy" not in readme
    assert "test_acc" not in json.dumps(index)
    clf = ImageClassifier(directory=tmp_path / "project")
    clf.project = Project("image", "apiexp", str(tmp_path / "nni-experiments"), [0, 1, 2], "")
    [row] = clf.top()
    assert row["val_acc"] == final["val_acc"] and "test_acc" not in row


def test_a_config_with_a_test_split_still_reports_and_shows_its_test_accuracy(tmp_path, monkeypatch, capsys):
    config = REPO / "configs" / "digits_evolution.yml"
    final = trial_result(config, tmp_path / "trial")
    assert 0 <= final["test_acc"] <= 1 and load_data("digits").test is not None
    table, readme, index = shown(tmp_path, monkeypatch, capsys, "digitsexp", final, class_args_of(config))
    header, _, row = table.splitlines()[:3]
    assert header.split()[:4] == ["rank", "trial", "val_acc", "test_acc"]
    assert row.split()[3] == f"{final['test_acc']:.4f}"
    assert f"on the data set's test split: test accuracy {final['test_acc']:.4f}" in readme
    assert index["trials"][0]["final"]["test_acc"] == final["test_acc"]
