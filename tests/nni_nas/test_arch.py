"""The arch dict: choices of a space, validation, canonical form, freezing fresh instances."""

from __future__ import annotations

import random

import pytest
import torch

import model_spaces
from nni_nas.arch import InvalidArchError, arch_key, canonical, freeze, search_choices, space_size, validate_arch


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
