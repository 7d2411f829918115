"""The character-level text space: its choices, every architecture runs on any text length, and one trained
through the trial entry point on the embedded pydocs texts is well above chance."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

import model_spaces
from nni_nas.arch import freeze, search_choices
from nni_nas.data import load_data
from nni_nas.runtime.trial import parse_args, run

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "pydocs_evolution.yml"


def test_choices_are_flat_labels():
    choices = search_choices(model_spaces.build_space("text_cnn", (256,), 8))
    assert set(choices) == {"width", "depth", "activation", "skip", "pool", "op0", "op1", "op2", "op3"}
    assert choices["pool"] == ["max", "avg"] and "dilconv3" in choices["op0"] and choices["depth"] == [1, 2, 3, 4]


@pytest.mark.parametrize("max_len", [16, 256, 1000])
def test_every_sampled_architecture_runs_on_token_ids(max_len):
    factory = lambda: model_spaces.build_space("text_cnn", (max_len,), 5, widths=[8, 16])  # noqa: E731
    choices = search_choices(factory())
    rng = random.Random(max_len)
    for _ in range(6):
        model = freeze(factory, {label: rng.choice(values) for label, values in choices.items()}).eval()
        tokens = model.example_input(3)
        assert tokens.dtype == torch.int64 and tokens.shape == (3, max_len)
        padded = tokens.clone()
        padded[:, max_len // 2:] = 0  # padding is a token like any other: shapes do not change
        assert model(tokens).shape == model(padded).shape == (3, 5)


def test_one_architecture_trains_well_above_chance_on_pydocs(tmp_path):
    arch = {"width": 64, "depth": 2, "op0": "conv5", "activation": "relu", "op1": "conv5", "op2": "identity",
            "op3": "identity", "skip": [1], "pool": "max"}
    result = run(parse_args(["--config", str(CONFIG), "--arch", json.dumps(arch), "--out", str(tmp_path),
                             "--epochs", "5"]))
    chance = 0.186  # the largest class
    assert result["val_acc"] > 2 * chance and result["test_acc"] > 2 * chance
    saved = json.loads((tmp_path / "settings.json").read_text())
    assert saved["input_shape"] == [256] and saved["num_classes"] == 8

    # the saved weights reproduce the reported test accuracy on the real test texts
    model = freeze(lambda: model_spaces.build_space("text_cnn", (256,), 8, widths=[32, 64, 128], max_depth=4,
                                                    embed_dim=32), arch)
    model.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    x, y = load_data("pydocs").test.tensors
    with torch.no_grad():
        accuracy = (model.eval()(x).argmax(1) == y).float().mean().item()
    assert accuracy == pytest.approx(result["test_acc"], abs=5e-5)  # reported to 4 significant digits
