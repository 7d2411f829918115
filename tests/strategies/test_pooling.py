"""Stride-1 pooling for the supernets (strategies/supernet/pooling.py): max pooling equal to PyTorch's bit for bit,
average pooling equal up to rounding (first and second derivatives too), only the layers it is faster for swapped,
and every supernet using it."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import model_spaces
from strategies.supernet.pooling import FastAvgPool2d, FastMaxPool2d, use_fast_pooling
from tests.strategies.supernet_checks import assert_same_outputs_and_gradients, darts_cell_supernet


def _fast(layer: nn.Module) -> nn.Module:
    fast = copy.deepcopy(layer)
    assert use_fast_pooling(fast) == 1
    return fast


@pytest.mark.parametrize("kernel,padding,dilation", [(3, 1, 1), (5, 2, 1), (3, 1, 2), (3, 0, 1)])
@pytest.mark.parametrize("channels", [16, 3])  # channels-last, and PyTorch's own path below MIN_CHANNELS
def test_max_pooling_equals_pytorchs_bit_for_bit(kernel, padding, dilation, channels):
    """ReLU'd inputs: many ties, where the gradient must go to the same element of each window as PyTorch's."""
    torch.manual_seed(0)
    plain = nn.MaxPool2d(kernel, stride=1, padding=padding, dilation=dilation)
    fast = _fast(plain)
    assert type(fast) is FastMaxPool2d
    for size in ((8, 8), (5, 7), (2, 2)):
        if size[0] + 2 * padding < dilation * (kernel - 1) + 1:
            continue
        x = torch.relu(torch.randn(4, channels, *size)).requires_grad_()
        ours, theirs = fast(x), plain(x)
        assert torch.equal(ours, theirs) and ours.is_contiguous()
        grad = torch.randn_like(theirs)
        assert torch.equal(*(torch.autograd.grad(out, x, grad)[0] for out in (ours, theirs)))


@pytest.mark.parametrize("count_include_pad", [False, True])
@pytest.mark.parametrize("kernel,padding", [(3, 1), (5, 2), (3, 0), (5, 1)])
def test_average_pooling_equals_pytorchs_values_and_gradients(kernel, padding, count_include_pad):
    """float64, odd sizes and maps smaller than the window, where each border output averages fewer inputs."""
    torch.manual_seed(0)
    plain = nn.AvgPool2d(kernel, stride=1, padding=padding, count_include_pad=count_include_pad)
    fast = _fast(plain)
    assert type(fast) is FastAvgPool2d
    for size in ((8, 8), (5, 7), (3, 3), (8, 8)):  # 8x8 again: the count cached per shape is reused right
        if min(size) + 2 * padding < kernel:
            continue
        x = torch.randn(4, 8, *size, dtype=torch.float64, requires_grad=True)
        ours, theirs = fast(x), plain(x)
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)
        grad = torch.randn_like(theirs)
        torch.testing.assert_close(*(torch.autograd.grad(out, x, grad)[0] for out in (ours, theirs)),
                                   rtol=0, atol=1e-12)


def test_second_derivatives_go_through_both():
    """DARTS's exact Hessian-vector product differentiates a gradient again."""
    torch.manual_seed(1)
    x = torch.randn(2, 8, 6, 6, dtype=torch.float64, requires_grad=True)
    for plain in (nn.MaxPool2d(3, 1, 1), nn.AvgPool2d(3, 1, 1, count_include_pad=False)):
        results = []
        for layer in (_fast(plain), plain):
            (gx,) = torch.autograd.grad((layer(x.tanh()) ** 3).sum(), x, create_graph=True)
            results.append(torch.autograd.grad((gx ** 2).sum(), x)[0])
        torch.testing.assert_close(*results, rtol=1e-9, atol=1e-10)


def test_only_stride_one_pooling_without_extras_is_swapped():
    layers = nn.Sequential(
        nn.MaxPool2d(3, stride=1, padding=1),                              # swapped
        nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),     # swapped
        nn.MaxPool2d(2),                                                   # stride 2: kept
        nn.AvgPool2d(3, stride=2, padding=1),                              # stride 2: kept
        nn.MaxPool2d(3, stride=1, padding=1, return_indices=True),         # indices: kept
        nn.AvgPool2d(3, stride=1, padding=1, ceil_mode=True),              # ceil mode: kept
        nn.AvgPool2d(3, stride=1, padding=1, divisor_override=2),          # another divisor: kept
        nn.AdaptiveAvgPool2d(1),                                           # kept
    )
    keys = list(layers.state_dict())
    assert use_fast_pooling(layers) == 2
    assert [type(layer) in (FastMaxPool2d, FastAvgPool2d) for layer in layers] == [True, True] + [False] * 6
    assert list(layers.state_dict()) == keys


def _plain(module: nn.Module) -> nn.Module:
    for layer in module.modules():
        if type(layer) is FastMaxPool2d:
            layer.__class__ = nn.MaxPool2d
        elif type(layer) is FastAvgPool2d:
            layer.__class__ = nn.AvgPool2d
    return module


def _same_as_plain(build) -> None:
    """The supernet ``build()`` makes against the same one (same seed) with PyTorch's pooling, float64."""
    plain = _plain(build())
    assert not any(type(m) in (FastMaxPool2d, FastAvgPool2d) for m in plain.modules())
    x, y = torch.randn(6, 1, 8, 8, dtype=torch.float64), torch.randint(0, 10, (6,))
    assert_same_outputs_and_gradients(build(), plain, x, y)


@pytest.mark.parametrize("method", ["darts", "gdas"])
def test_the_relaxed_supernet_uses_it_with_the_same_values_and_gradients(method):
    from strategies.supernet.relaxed import RelaxedSupernet

    def build():
        torch.manual_seed(0)
        space = model_spaces.build_space("digits_cnn", (1, 8, 8), 10, widths=[8], max_depth=2)
        supernet = RelaxedSupernet(space, method).double()
        with torch.no_grad():
            for alpha in supernet.arch_parameters():
                alpha.normal_(0, 0.5)
        if method == "gdas":  # both builds run the same sampled path: both pooling layers on it
            supernet.fix({**supernet.derive(), "depth": 2, "op0": "maxpool3x3", "op1": "avgpool3x3"})
        return supernet

    kinds = {type(m) for m in build().modules()}
    assert {FastMaxPool2d, FastAvgPool2d} <= kinds
    _same_as_plain(build)


def test_the_darts_cell_supernet_uses_it_with_the_same_values_and_gradients():
    def build():
        return darts_cell_supernet(width=8)

    # normal cells only: their pooling has stride 1 (a reduction cell's input edges pool with stride 2)
    assert sum(type(m) in (FastMaxPool2d, FastAvgPool2d) for m in build().modules()) > 0
    _same_as_plain(build)


def test_the_sampling_and_enas_supernets_use_it():
    from strategies.enas.supernet import SharedWeightSupernet
    from strategies.supernet.sampling import SamplingSupernet

    space = model_spaces.build_space("digits_cnn", (1, 8, 8), 10, widths=[8], max_depth=2)
    assert any(type(m) is FastMaxPool2d for m in SamplingSupernet(space).modules())
    enas = model_spaces.build_space("enas_micro", (1, 8, 8), 10, num_nodes=2, cells_per_stage=1, channels=8,
                                    stem_multiplier=1)
    assert any(type(m) is FastAvgPool2d for m in SharedWeightSupernet(enas).modules())


def test_a_proxyless_latency_table_times_pytorchs_pooling_as_the_derived_network_runs_it():
    """The table must time the layers the final network has (its ``latency_ms``), not the supernet's faster ones."""
    from strategies.supernet.depthwise import DepthwiseConv2d
    from strategies.supernet.relaxed import RelaxedSupernet, plain_copy

    space = model_spaces.build_space("digits_cnn", (1, 8, 8), 10, widths=[8], max_depth=2)
    supernet = RelaxedSupernet(space, "proxyless")
    arch = {**supernet.derive(), "depth": 2, "op0": "maxpool3x3", "op1": "avgpool3x3"}
    sample = {**arch, **{label: value for label, (_, value) in supernet.gates(arch).items()}}
    kinds = {type(m) for m in plain_copy(supernet.space, sample).modules()}
    assert nn.MaxPool2d in kinds and nn.AvgPool2d in kinds
    assert not kinds & {FastMaxPool2d, FastAvgPool2d, DepthwiseConv2d}
