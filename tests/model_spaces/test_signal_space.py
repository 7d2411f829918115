"""The 1-D signal space: its choices, every architecture runs on signals of any channel count and length, labels
beyond the chosen depth are inactive, the cost model counts it, an exported network runs without nni, and one
architecture trained through the trial entry point on a waveform npz is well above chance."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

import model_spaces
from model_spaces.costs import CostModel, arch_cost
from nni_nas.api import write_config
from nni_nas.arch import canonical, freeze, search_choices
from nni_nas.data.signals import waveforms
from nni_nas.errors import ConfigError
from nni_nas.runtime.trial import parse_args, run
from tests.nni_nas.test_export import check_space_export

SMALL = {"widths": [8, 16], "max_depth": 3}


def build(input_shape=(2, 40), num_classes=3, **args):
    return model_spaces.build_space("signal_cnn", input_shape, num_classes, **{**SMALL, **args})


def test_choices_are_flat_labels_with_kernel_dilation_skip_and_pool_per_layer():
    choices = search_choices(build())
    per_layer = {f"{name}{i}" for i in range(3) for name in ("kernel", "dilation", "skip", "pool")}
    assert set(choices) == {"width", "depth", "activation", "global_pool"} | per_layer
    assert choices["kernel0"] == [3, 5, 7] and choices["dilation2"] == ["d1", "d2", "d4"]
    assert choices["pool1"] == ["none", "max3", "avg3"] and choices["skip0"] == [[0], [1]]
    assert choices["depth"] == [1, 2, 3] and choices["width"] == [8, 16]


@pytest.mark.parametrize("input_shape", [(1, 8), (3, 37), (6, 300)])
def test_every_sampled_architecture_keeps_the_length_and_gives_one_logit_per_class(input_shape):
    factory = lambda: build(input_shape, 4)  # noqa: E731
    choices = search_choices(factory())
    rng = random.Random(sum(input_shape))
    for _ in range(5):
        arch = {label: rng.choice(values) for label, values in choices.items()}
        arch.update(depth=3, dilation2="d4", kernel2=7)  # the widest receptive field on the shortest signal
        model = freeze(factory, arch).eval()
        assert model(torch.randn(2, *input_shape)).shape == (2, 4)


def test_labels_beyond_the_depth_are_inactive_and_do_not_change_the_network():
    space = build()
    choices = search_choices(space)
    arch = {label: values[0] for label, values in choices.items()} | {"depth": 1}
    other = arch | {"kernel1": 7, "dilation2": "d4", "skip1": [1], "pool2": "max3"}
    assert set(space.inactive_labels(arch)) == {f"{n}{i}" for i in (1, 2) for n in ("kernel", "dilation", "skip",
                                                                                    "pool")}
    assert space.inactive_labels(arch | {"depth": 3}) == []
    assert canonical(space, choices, arch) == canonical(space, choices, other)
    torch.manual_seed(0)
    first = freeze(build, arch).eval()
    torch.manual_seed(0)
    second = freeze(build, other).eval()
    batch = torch.randn(3, 2, 40)
    assert torch.equal(first(batch), second(batch))
    # an active label does change it
    assert canonical(space, choices, arch | {"kernel0": 7}) != canonical(space, choices, arch)


def test_cost_model_counts_width_kernel_and_depth():
    space = build()
    choices = search_choices(space)
    small = {label: values[0] for label, values in choices.items()} | {"depth": 1}
    costs = CostModel(space, SMALL)
    base = costs(small)
    assert base == arch_cost(space, small) and base["params"] > 0 and base["flops"] > 0
    for change in ({"width": 16}, {"kernel0": 7}, {"depth": 2}):
        bigger = costs(small | change)
        assert bigger["params"] > base["params"] and bigger["flops"] > base["flops"], change
    assert costs.smallest() == base  # the first value of every label is the cheapest here


def test_exported_network_matches_the_trained_one_without_nni(tmp_path):
    check_space_export("signal_cnn", SMALL, (3, 50), 5, tmp_path)


@pytest.mark.parametrize("args, expected", [
    ({"kernels": [4]}, "kernels must be a non-empty list of odd kernel sizes"),
    ({"dilations": [1, 1]}, "dilations must be a non-empty list of distinct integers"),
    ({"pools": ["max2"]}, "pools must be a non-empty list from ('none', 'max3', 'avg3')"),
    ({"min_depth": 3, "max_depth": 2}, "need 1 <= min_depth <= max_depth <= 64"),
    ({"widths": []}, "widths must be a non-empty list of channel counts"),
])
def test_bad_space_arguments_are_one_config_error(args, expected):
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        build(**args)


def test_an_image_or_text_shape_is_refused_with_the_fix_named():
    with pytest.raises(ConfigError, match=r"takes signals, input_shape \(C, L\), but the data gives images.*"
                                          r"data_args.kind: signal"):
        model_spaces.build_space("signal_cnn", (1, 8, 8), 10)
    with pytest.raises(ConfigError, match=r"space 'digits_cnn' takes images.*but the data gives signals"):
        model_spaces.build_space("digits_cnn", (1, 64), 10)


def test_one_architecture_trains_well_above_chance_on_waveforms(tmp_path):
    x, y = waveforms(samples_per_class=50, length=48, channels=2, seed=1)
    np.savez(tmp_path / "waves.npz", x=x, y=y)
    config = write_config(tmp_path / "signals.yml", "signal_cnn", "evolution", data="npz",
                          data_args={"path": str(tmp_path / "waves.npz"), "kind": "signal"}, trials=1, epochs=12,
                          space_args=SMALL, train={"batch_size": 32, "lr": 0.01, "optimizer": "adam",
                                                   "latency_runs": 1})
    arch = {"width": 16, "depth": 2, "activation": "relu", "global_pool": "avg", "kernel0": 5, "dilation0": "d1",
            "skip0": [0], "pool0": "none", "kernel1": 5, "dilation1": "d2", "skip1": [1], "pool1": "max3",
            "kernel2": 3, "dilation2": "d1", "skip2": [0], "pool2": "none"}
    result = run(parse_args(["--config", str(config), "--arch", json.dumps(arch), "--out", str(tmp_path / "trial")]))
    chance = 0.25  # four balanced classes
    assert result["val_acc"] > 2 * chance and result["test_acc"] > 2 * chance
    saved = json.loads((tmp_path / "trial" / "settings.json").read_text())
    assert saved["input_shape"] == [2, 48] and saved["num_classes"] == 4
