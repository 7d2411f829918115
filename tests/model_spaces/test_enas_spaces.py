"""The ENAS macro and micro spaces: their decisions match the paper's, every architecture freezes and runs, the
decisions change the network, and the multi-trial tuners can search them."""

from __future__ import annotations

import math
import random

import pytest
import torch

import model_spaces
from model_spaces.enas import MACRO_OPS, MICRO_OPS, loose_ends
from nni_nas.arch import freeze, search_choices, space_size, validate_arch
from nni_nas.evaluation.metrics import count_params

DIGITS = (1, 8, 8)
TINY = {
    "enas_macro": {"num_layers": 4, "channels": 8, "pool_after": [1]},
    "enas_micro": {"num_nodes": 3, "cells_per_stage": 1, "channels": 8},
}


def factory(name, shape=DIGITS, seed=None, **args):
    def build():
        if seed is not None:
            torch.manual_seed(seed)
        return model_spaces.build_space(name, shape, 10, **{**TINY[name], **args})
    return build


def random_arch(choices, rng):
    return {label: rng.choice(values) for label, values in choices.items()}


def test_both_spaces_are_registered():
    assert {"enas_macro", "enas_micro"} <= set(model_spaces.space_names())


def test_macro_has_the_papers_decisions_and_size():
    choices = search_choices(model_spaces.build_space("enas_macro", (3, 32, 32), 10))
    ops = [label for label in choices if label.endswith("_op")]
    skips = [label for label in choices if "_skip" in label]
    assert len(ops) == 12 and len(skips) == 12 * 11 // 2  # L ops and L(L-1)/2 binary skips
    assert all(choices[label] == list(MACRO_OPS) for label in ops)
    assert all(choices[label] == [0, 1] for label in skips)
    assert space_size(choices) == 6**12 * 2**66  # the paper's 1.6e29
    assert list(choices)[:3] == ["layer0_op", "layer1_op", "layer1_skip0"]  # op first, then the skips


def test_micro_has_one_normal_and_one_reduction_cell():
    choices = search_choices(model_spaces.build_space("enas_micro", (3, 32, 32), 10))
    assert len(choices) == 2 * 5 * 4  # two cell kinds, five nodes, two inputs and two ops each
    for kind in ("normal", "reduce"):
        for node in range(5):
            for slot in (0, 1):
                assert choices[f"{kind}_node{node}_in{slot}"] == [[i] for i in range(node + 2)]
                assert choices[f"{kind}_node{node}_op{slot}"] == list(MICRO_OPS)
    per_cell = math.prod((5 * (node + 2)) ** 2 for node in range(5))
    assert space_size(choices) == per_cell**2


@pytest.mark.parametrize("name", ["enas_macro", "enas_micro"])
def test_random_architectures_freeze_and_classify(name):
    build = factory(name)
    choices = search_choices(build())
    rng = random.Random(0)
    for _ in range(4):
        arch = validate_arch(choices, random_arch(choices, rng))
        model = freeze(build, arch)
        out = model(torch.randn(3, *DIGITS))
        assert out.shape == (3, 10) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["enas_macro", "enas_micro"])
def test_paper_sizes_run_on_cifar_shaped_input(name):
    build = lambda: model_spaces.build_space(name, (3, 32, 32), 10)  # noqa: E731
    choices = search_choices(build())
    model = freeze(build, random_arch(choices, random.Random(1)))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_a_skip_decision_changes_the_output_but_not_the_parameters():
    build = factory("enas_macro", seed=0)
    choices = search_choices(build())
    arch = {label: values[0] for label, values in choices.items()}
    with_skip = {**arch, "layer3_skip0": 1}
    plain, skipped = freeze(build, arch).train(), freeze(build, with_skip).train()
    x = torch.randn(4, *DIGITS)
    assert not torch.allclose(plain(x), skipped(x))
    assert count_params(plain) == count_params(skipped)


def test_op_choice_sets_the_parameter_count():
    build = factory("enas_macro")
    choices = search_choices(build())
    pools = {label: ("maxpool3x3" if label.endswith("_op") else 0) for label in choices}
    convs = {label: ("conv5x5" if label.endswith("_op") else 0) for label in choices}
    assert count_params(freeze(build, convs)) - count_params(freeze(build, pools)) == 4 * (8 * 8 * 25 + 2 * 8)


def test_loose_ends_are_the_nodes_no_node_reads():
    assert loose_ends(5, used={0, 1, 2}) == [3, 4]
    assert loose_ends(5, used={0, 1}) == [2, 3, 4]


def _identity_cell_arch(choices, inputs):
    return {label: ([inputs(int(label.split("_")[1].removeprefix("node")))] if "_in" in label else "identity")
            for label in choices}


def test_micro_cell_averages_its_loose_ends():
    build = factory("enas_micro", seed=0)
    choices = search_choices(build())
    s0, s1 = torch.randn(2, 24, 8, 8), torch.randn(2, 24, 8, 8)
    # a chain (node k reads node k-1 twice, identity ops): node k = 2^(k+1) * s1', only the last is a loose end
    chain = freeze(build, _identity_cell_arch(choices, lambda node: node + 1)).train()
    cell = chain.cells[0]
    with torch.no_grad():
        p1 = cell.pre1(s1)
        assert torch.allclose(cell(s0, s1), 8 * p1, atol=1e-5)
    # every node reads the two cell inputs: all three nodes are loose ends, their mean is p0 + p1
    flat_arch = {label: ([1] if label.endswith("_in1") else value) for label, value in
                 _identity_cell_arch(choices, lambda node: 0).items()}
    flat = freeze(build, flat_arch).train()
    cell = flat.cells[0]
    with torch.no_grad():
        assert torch.allclose(cell(s0, s1), cell.pre0(s0) + cell.pre1(s1), atol=1e-5)


@pytest.mark.parametrize("name", ["enas_macro", "enas_micro"])
def test_multi_trial_tuner_searches_the_space(name):
    from strategies.random_search import RandomTuner

    tuner = RandomTuner(space=name, space_args=TINY[name], data="digits", seed=0)
    build = factory(name)
    for parameter_id in range(3):
        arch = tuner.generate_parameters(parameter_id)
        model = freeze(build, validate_arch(search_choices(build()), arch))
        assert model(torch.randn(2, *DIGITS)).shape == (2, 10)


def test_bad_space_args_are_named():
    with pytest.raises(ValueError, match="unknown or empty ops"):
        model_spaces.build_space("enas_macro", DIGITS, 10, ops=["conv7x7"])
    with pytest.raises(ValueError, match="pool_after"):
        model_spaces.build_space("enas_macro", DIGITS, 10, num_layers=3, pool_after=[5])
    with pytest.raises(ValueError, match="too small"):
        model_spaces.build_space("enas_micro", (1, 2, 2), 10)
