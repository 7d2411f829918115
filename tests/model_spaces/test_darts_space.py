"""The DARTS cell space: labels, freezing, the paper's network sizes, and use by the multi-trial tuners."""

from __future__ import annotations

import pytest
import torch

import model_spaces
from model_spaces.darts import Genotype
from model_spaces.darts_ops import OPS
from nni_nas.arch import canonical, freeze, search_choices, validate_arch
from nni_nas.evaluation.metrics import count_params
from strategies.evolution import RegularizedEvolutionTuner
from strategies.random_search import RandomTuner

DIGITS = {"input_shape": (1, 8, 8), "num_classes": 10}
SMALL = {"width": 4, "num_cells": 3}

# The cells the paper reports for second-order DARTS on CIFAR-10 (Figures 4 and 5), in its notation.
PAPER_DARTS_V2 = Genotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    normal_concat=range(2, 6),
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
    reduce_concat=range(2, 6),
)


def small_space(**kwargs):
    return model_spaces.build_space("darts", **DIGITS, **{**SMALL, **kwargs})


def test_labels_are_one_op_per_edge_and_two_inputs_per_node_per_cell_type():
    choices = search_choices(small_space())
    # 4 nodes with 2 + 3 + 4 + 5 = 14 edges, in the normal and the reduction cell
    assert len([label for label in choices if "_op_" in label]) == 2 * 14
    assert len([label for label in choices if "_input_" in label]) == 2 * 4
    assert choices["normal_op_2_0"] == list(OPS)
    assert choices["reduce_input_2"] == [[0, 1]]
    assert choices["normal_input_5"] == [[0, 1], [0, 2], [0, 3], [0, 4], [1, 2], [1, 3], [1, 4], [2, 3], [2, 4],
                                         [3, 4]]


def test_labels_do_not_depend_on_width_or_depth():
    assert search_choices(small_space()) == search_choices(small_space(width=8, num_cells=6))


@pytest.mark.parametrize("tuner_cls", [RandomTuner, RegularizedEvolutionTuner])
def test_multi_trial_tuners_propose_architectures_that_freeze_and_run(tuner_cls):
    tuner = tuner_cls(space="darts", space_args=SMALL, data="digits", seed=3)
    for parameter_id in range(3):
        arch = tuner.generate_parameters(parameter_id)
        arch = validate_arch(tuner.choices, arch)
        model = freeze(lambda: small_space(), arch)
        model.eval()
        assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)
        tuner.receive_trial_result(parameter_id, arch, 0.5)


def test_inactive_edges_are_canonical_and_hold_no_parameters():
    space = small_space()
    choices = search_choices(space)
    arch = {label: values[-1] for label, values in choices.items()}  # dil_conv_5x5 everywhere, last inputs
    inactive = space.inactive_labels(arch)
    assert "normal_op_5_0" in inactive and "normal_op_5_4" not in inactive  # node 5 takes [3, 4]
    other = dict(arch, **{label: "sep_conv_5x5" for label in inactive})
    assert canonical(space, choices, other) == canonical(space, choices, arch)
    # the unused edges' operations are dropped when freezing, so both dicts give the same network size
    assert count_params(freeze(small_space, arch)) == count_params(freeze(small_space, other))


def test_frozen_network_computes_only_the_chosen_edges():
    arch = small_space().arch_from_genotype(PAPER_DARTS_V2)
    model = freeze(small_space, arch)
    model.eval()
    x = torch.randn(3, 1, 8, 8)
    before = model(x)
    # changing an unused edge slot cannot change the output: it is not even a module with weights
    node = model.cells[0].nodes[3]  # node 5 of a normal cell, inputs [0, 2]
    assert node.inputs.chosen == [0, 2]
    assert sum(p.numel() for p in node.edges[1].parameters()) == 0
    assert torch.equal(model(x), before)


def test_genotype_round_trip_in_the_papers_notation():
    space = small_space()
    arch = space.arch_from_genotype(PAPER_DARTS_V2)
    assert validate_arch(search_choices(space), arch) == arch
    # the paper lists a node's two edges strongest first; the arch dict keeps them in source order
    by_source = [sorted(pairs[i:i + 2], key=lambda pair: pair[1]) for pairs in (PAPER_DARTS_V2.normal,
                                                                          PAPER_DARTS_V2.reduce)
                 for i in range(0, 8, 2)]
    genotype = space.genotype(arch)
    assert [genotype.normal[i:i + 2] for i in range(0, 8, 2)] + [genotype.reduce[i:i + 2] for i in range(0, 8, 2)] \
        == by_source
    assert genotype.normal_concat == genotype.reduce_concat == range(2, 6)
    assert str(space.genotype(arch)).startswith("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1),")


def test_the_papers_evaluation_network_has_the_papers_size():
    # Paper Table 1: DARTS (second order) on CIFAR-10 has 3.3M parameters (36 channels, 20 cells; the count
    # of the released code leaves out the auxiliary head).
    space = model_spaces.build_space("darts", (3, 32, 32), 10, width=36, num_cells=20, auxiliary=True)
    model = space.freeze(space.arch_from_genotype(PAPER_DARTS_V2))
    without_head = count_params(model) - count_params(model.auxiliary_head)
    assert 3.2e6 < without_head < 3.45e6


def test_auxiliary_head_only_in_training_and_main_logits_always_returned():
    model = freeze(lambda: small_space(auxiliary=True), small_space().arch_from_genotype(PAPER_DARTS_V2))
    x = torch.randn(4, 1, 8, 8)
    model.train()
    assert model(x).shape == (4, 10) and model.aux_logits.shape == (4, 10)
    model.eval()
    assert model(x).shape == (4, 10) and model.aux_logits is None


def test_drop_path_acts_in_training_only():
    model = freeze(small_space, small_space().arch_from_genotype(PAPER_DARTS_V2))
    x = torch.randn(8, 1, 8, 8)
    model.train()
    torch.manual_seed(0)
    plain = model(x)
    model.drop_path_prob = 0.5
    torch.manual_seed(0)
    assert not torch.allclose(model(x), plain)
    model.eval()
    assert torch.equal(model(x), model(x))


def test_search_network_has_no_affine_batch_norm():
    space = small_space(affine=False)
    norms = [m for m in space.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(not m.affine for m in norms[1:])  # the stem keeps its own


@pytest.mark.parametrize("kwargs, message", [
    ({"num_cells": 2}, "num_cells must be at least 3"),
    ({"ops": ("none",)}, "at least one op besides 'none'"),
    ({"ops": ("conv_7x7",)}, "must be a subset of"),
])
def test_bad_space_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        small_space(**kwargs)
