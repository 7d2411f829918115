"""The trial entry point outside nnictl: trains a given architecture, saves what export needs, fails clearly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

import model_spaces
from nni_nas.arch import freeze
from nni_nas.data import load_data
from nni_nas.runtime.trial import main, parse_args, run

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "digits_evolution.yml"
ARCH = {"width": 32, "depth": 2, "op0": "conv3x3", "activation": "relu", "op1": "conv3x3",
        "op2": "conv3x3", "op3": "conv3x3", "skip": [1]}


def test_trains_one_architecture_well_above_chance(tmp_path):
    result = run(parse_args(["--config", str(CONFIG), "--arch", json.dumps(ARCH), "--out", str(tmp_path),
                             "--epochs", "4"]))
    assert result["default"] == result["val_acc"] > 0.85  # chance is 0.10
    assert result["test_acc"] > 0.85
    assert result["params"] > 1000 and result["flops"] > result["params"] and result["latency_ms"] > 0
    assert result["latency_device"] == "cpu"  # latency_ms is the CPU figure wherever the network trained
    # arch.json holds the labels the depth-2 network uses: op2 and op3 are left out
    used = {label: value for label, value in ARCH.items() if label not in ("op2", "op3")}
    assert json.loads((tmp_path / "arch.json").read_text()) == used
    assert json.loads((tmp_path / "metrics.json").read_text()) == result
    assert len((tmp_path / "history.jsonl").read_text().splitlines()) == 4  # one line per epoch
    saved = json.loads((tmp_path / "settings.json").read_text())
    assert saved["input_shape"] == [1, 8, 8] and saved["num_classes"] == 10  # what export rebuilds the net from

    # the saved state_dict reproduces the reported test accuracy in a fresh network
    bundle = load_data("digits")
    model = freeze(lambda: model_spaces.build_space("digits_cnn", (1, 8, 8), 10, widths=[16, 32, 64], max_depth=4),
                   ARCH)
    model.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    model.eval()
    x, y = bundle.test.tensors
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    assert accuracy == pytest.approx(result["test_acc"], abs=5e-5)  # reported to 4 digits; one sample is 3e-3


def test_the_final_latency_is_the_figure_the_budget_judged(tmp_path, monkeypatch):
    """Under max_latency_ms, the final dict's latency_ms is the one figure the check before training judged (on the
    CPU), not a second measurement: here the second would be over the limit (as noise can make it on a busy machine)."""
    from nni_nas.evaluation import metrics

    figures = iter([0.5, 99.0, 99.0])
    monkeypatch.setattr(metrics, "latency_ms", lambda *args, **kwargs: next(figures))
    raw = yaml.safe_load(CONFIG.read_text())
    raw["tuner"]["classArgs"]["constraints"] = {"max_latency_ms": 1.0}
    raw["tuner"]["classArgs"]["train"]["latency_runs"] = 2
    config = tmp_path / "digits_evolution.yml"
    config.write_text(yaml.safe_dump(raw))
    result = run(parse_args(["--config", str(config), "--arch", json.dumps(ARCH), "--out", str(tmp_path / "out"),
                             "--epochs", "1"]))
    assert "over_budget" not in result and result["latency_ms"] == 0.5 and result["latency_device"] == "cpu"
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["latency_ms"] == 0.5


def test_out_of_space_architecture_is_one_clear_error(tmp_path, capsys):
    code = main(["--config", str(CONFIG), "--arch", json.dumps(dict(ARCH, width=48)), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "width=48 (allowed: [16, 32, 64])" in err and "Traceback" not in err
    assert "width=48" in (tmp_path / "error.txt").read_text()


def test_nan_loss_fails_the_trial_with_the_fix_named(tmp_path, capsys):
    raw = yaml.safe_load(CONFIG.read_text())
    raw["tuner"]["classArgs"]["train"]["lr"] = 1e30  # the weights, then the loss, overflow after the first step
    config = tmp_path / "digits_evolution.yml"
    config.write_text(yaml.safe_dump(raw))
    code = main(["--config", str(config), "--arch", "random", "--out", str(tmp_path / "out"), "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "training loss became nan" in err and "lower train.lr" in err
    assert not (tmp_path / "out" / "model.pt").exists()


def test_cli_errors_are_one_line_without_traceback(tmp_path):
    bad = tmp_path / "digits_evolution.yml"
    bad.write_text(CONFIG.read_text().replace("space: digits_cnn", "space: resnet"))
    runs = {
        "space": [sys.executable, "-m", "nni_nas.cli", "space", "nope"],
        "check": [sys.executable, "-m", "nni_nas.cli", "check", str(bad)],
        "trial": [sys.executable, "-m", "nni_nas.cli", "trial", "--config", str(bad), "--arch", "random"],
    }
    for verb, command in runs.items():
        proc = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
        assert proc.returncode != 0, verb
        assert "Traceback" not in proc.stderr, proc.stderr
        assert ("unknown space" in proc.stderr), (verb, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.parametrize("space", model_spaces.space_names())
def test_space_verb_prints_every_space_with_data_of_its_kind(space, capsys):
    from nni_nas import cli

    assert cli.main(["space", space]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"space {space} for input ") and "architectures" in out.splitlines()[-1]


def test_a_final_dict_is_rounded_to_four_significant_digits_where_it_is_made():
    from nni_nas.evaluation.nni_reporter import final_result

    result = final_result(0.9805014133453369, {"params": 12345, "flops": 1234567, "latency_ms": 0.012345678},
                          logged={"test_acc": 0.9722222089767456},
                          train_seconds=123456.789, seed=0, percent=93.76333, zero=0.0, retrained=True,
                          arch={"op": "conv", "drop": 0.333333333}, nested={"w": [0.333333333]})
    assert result["default"] == result["val_acc"] == 0.9805 and result["test_acc"] == 0.9722
    assert result["latency_ms"] == 0.01235 and result["percent"] == 93.76 and result["nested"] == {"w": [0.3333]}
    assert result["params"] == 12345 and isinstance(result["params"], int) and result["flops"] == 1234567
    assert result["train_seconds"] == 123457.0  # never into the integer part
    assert result["zero"] == 0.0 and result["retrained"] is True and result["seed"] == 0
    assert result["arch"] == {"op": "conv", "drop": 0.333333333}  # an architecture's values are not measurements


def test_a_multi_fidelity_tuner_sets_the_epochs_of_one_trial(tmp_path, capsys):
    """hyperband's parameters carry ``_epochs`` and ``_rung``: the trial trains that many epochs (not the config's
    train.epochs, 4), its final dict notes both, and arch.json holds the architecture alone."""
    params = {**ARCH, "width": 16, "_epochs": 2, "_rung": 1}
    result = run(parse_args(["--config", str(CONFIG), "--arch", json.dumps(params), "--out", str(tmp_path)]))
    assert len((tmp_path / "history.jsonl").read_text().splitlines()) == 2
    assert (result["epochs"], result["rung"]) == (2, 1)
    assert "_epochs" not in json.loads((tmp_path / "arch.json").read_text())
    bad = json.dumps({**ARCH, "_epochs": 0})
    assert main(["--config", str(CONFIG), "--arch", bad, "--out", str(tmp_path / "bad")], use_worker=False) == 2
    assert "_epochs=0" in capsys.readouterr().err
