"""The arch dict: choices of a space, validation, canonical form, freezing fresh instances."""

from __future__ import annotations

import random

import pytest
import torch

import model_spaces
from nni_nas.arch import (
    InvalidArchError,
    active_arch,
    arch_key,
    canonical,
    count_networks,
    freeze,
    search_choices,
    space_size,
    validate_arch,
)


def factory(input_shape=(1, 8, 8)):
    return lambda: model_spaces.build_space("digits_cnn", input_shape, 10)


def test_digits_space_choices_and_size():
    choices = search_choices(factory()())
    assert choices["width"] == [16, 32, 64]
    assert choices["depth"] == [1, 2, 3, 4]
    assert choices["skip"] == [[0], [1]]
    assert {f"op{i}" for i in range(4)} <= set(choices)
    assert space_size(choices) == 3 * 4 * 6**4 * 3 * 2


@pytest.mark.parametrize("input_shape", [(1, 8, 8), (3, 16, 16), (3, 32, 32)])
def test_every_random_arch_freezes_and_runs(input_shape):
    choices = search_choices(factory(input_shape)())
    rng = random.Random(0)
    for _ in range(5):
        arch = {label: rng.choice(values) for label, values in choices.items()}
        model = freeze(factory(input_shape), validate_arch(choices, arch))
        assert model(torch.randn(2, *input_shape)).shape == (2, 10)


def test_freeze_gives_independent_weights():
    choices = search_choices(factory()())
    arch = {label: values[0] for label, values in choices.items()}
    a, b = freeze(factory(), arch), freeze(factory(), arch)
    with torch.no_grad():
        next(a.parameters()).add_(1.0)
    assert not torch.equal(next(a.parameters()), next(b.parameters()))


def test_validate_names_every_problem():
    choices = search_choices(factory()())
    arch = {label: values[0] for label, values in choices.items()}
    del arch["depth"]
    arch["width"] = 7
    arch["colour"] = "red"
    with pytest.raises(InvalidArchError) as err:
        validate_arch(choices, arch)
    message = str(err.value)
    assert "missing labels ['depth']" in message
    assert "unknown labels ['colour']" in message
    assert "width=7" in message
    with pytest.raises(InvalidArchError):
        validate_arch(choices, ["not", "a", "dict"])


def test_validate_accepts_json_round_trip():
    import json

    choices = search_choices(factory()())
    arch = {label: values[-1] for label, values in choices.items()}
    assert validate_arch(choices, json.loads(json.dumps(arch))) == arch


def test_canonical_resets_layers_beyond_depth():
    space = factory()()
    choices = search_choices(space)
    arch = {label: values[-1] for label, values in choices.items()}
    arch["depth"] = 2
    out = canonical(space, choices, arch)
    assert out["op0"] == out["op1"] == "identity"
    assert out["op2"] == out["op3"] == "conv3x3"
    other = dict(arch, op3="maxpool3x3")
    assert arch_key(canonical(space, choices, other)) == arch_key(out)


def test_active_arch_leaves_out_unused_layers_and_canonical_restores_them():
    space = factory()()
    choices = search_choices(space)
    arch = canonical(space, choices, {label: values[-1] for label, values in choices.items()} | {"depth": 2})
    shown = active_arch(space, arch)  # what the portal and arch.json get
    assert set(shown) == set(choices) - {"op2", "op3"}
    assert canonical(space, choices, shown) == arch
    assert validate_arch(choices, canonical(space, choices, shown)) == arch


def test_count_networks_counts_settings_that_differ_only_in_unused_layers_once():
    space = model_spaces.build_space("digits_cnn", (1, 8, 8), 10, max_depth=3)
    choices = search_choices(space)
    # width 3 x activation 3 x skip 2, times 6**d layer choices for each depth d of 1..3 (the default max_depth 4:
    # 27,972 networks in 93,312 settings, as `nni-nas space digits_cnn` prints)
    assert count_networks(space, choices) == 3 * 3 * 2 * sum(6**d for d in range(1, 4)) == 4644
    assert space_size(choices) == 3 * 3 * 2 * 3 * 6**3
    assert count_networks(space, choices, limit=1000) is None  # too many settings to enumerate
    nb201 = model_spaces.build_space("nasbench201", (1, 8, 8), 10, channels=8, cells_per_stage=1)
    assert count_networks(nb201, search_choices(nb201), limit=10) == 5**6  # no unused labels: no enumeration


def test_tuners_hand_nni_the_active_labels_and_take_them_back():
    from strategies.evolution import RegularizedEvolutionTuner

    tuner = RegularizedEvolutionTuner(space="digits_cnn", population_size=4, sample_size=2, seed=0)
    shown = tuner.generate_multiple_parameters(list(range(6)))  # as NNI's dispatcher asks
    assert all(set(arch) == set(tuner.choices) - {f"op{i}" for i in range(arch["depth"], 4)} for arch in shown)
    assert any(arch["depth"] < 4 for arch in shown)
    for i, arch in enumerate(shown):  # as after `nnictl resume`: no pending record, only NNI's parameters
        tuner.pending.clear()
        tuner.receive_trial_result(i, arch, {"default": 0.5 + i / 100})
    assert [ind.arch for ind in tuner.history] == [canonical(tuner.space, tuner.choices, a) for a in shown]
    assert all(set(ind.arch) == set(tuner.choices) for ind in tuner.history)
    [child] = tuner.generate_multiple_parameters([6])  # evolution keeps working on the restored history
    assert set(child) == set(tuner.choices) - {f"op{i}" for i in range(child["depth"], 4)}
