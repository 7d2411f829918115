"""The depthwise convolution with a faster backward (strategies/supernet/depthwise.py): the same values, gradients
and second derivatives as PyTorch's own, on every supernet that uses it."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import model_spaces
from strategies.supernet.depthwise import DepthwiseConv2d, depthwise_conv2d, use_fast_depthwise
from tests.strategies.supernet_checks import assert_same_outputs_and_gradients, darts_cell_supernet

CASES = [(k, d, s) for k in (3, 5) for d in (1, 2) for s in (1, 2)]


@pytest.mark.parametrize("kernel,dilation,stride", CASES)
@pytest.mark.parametrize("size", [(1, 1), (4, 5), (7, 8)])
def test_values_and_gradients_equal_pytorchs_depthwise_convolution(kernel, dilation, stride, size):
    """Input and weight gradients (and the bias's), float64, on sizes where the kernel reaches past the input
    (the taps cut by _reach) and odd sizes at stride 2."""
    torch.manual_seed(0)
    padding = dilation * (kernel - 1) // 2
    plain = nn.Conv2d(3, 3, kernel, stride, padding, dilation, groups=3, bias=True).double()
    fast = copy.deepcopy(plain)
    fast.__class__ = DepthwiseConv2d
    x = torch.randn(4, 3, *size, dtype=torch.float64, requires_grad=True)
    ours, theirs = fast(x), plain(x)
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)
    grad = torch.randn_like(theirs)
    ours_grads = torch.autograd.grad(ours, (x, fast.weight, fast.bias), grad)
    theirs_grads = torch.autograd.grad(theirs, (x, plain.weight, plain.bias), grad)
    for a, b in zip(ours_grads, theirs_grads):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_second_derivatives_equal_pytorchs():
    """DARTS's exact Hessian-vector product differentiates a gradient again: the backward must be differentiable."""
    torch.manual_seed(1)
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 1, 5, 5, dtype=torch.float64, requires_grad=True)
    for stride in (1, 2):
        results = []
        for conv in (lambda s=stride: depthwise_conv2d(x, w, (s, s), (4, 4), (2, 2)),
                     lambda s=stride: F.conv2d(x, w, None, s, 4, 2, 3)):
            out = conv()
            gx, gw = torch.autograd.grad((out.tanh() ** 2).sum(), (x, w), create_graph=True)
            results.append(torch.autograd.grad((gx ** 2).sum() + (gw ** 3).sum(), (x, w)))
        for a, b in zip(*results):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_only_plain_depthwise_convolutions_with_a_slow_backward_are_swapped():
    layers = nn.Sequential(
        nn.Conv2d(4, 4, 5, padding=2, groups=4),             # 5x5 depthwise: swapped
        nn.Conv2d(4, 4, 3, padding=2, dilation=2, groups=4),  # dilated depthwise: swapped
        nn.Conv2d(4, 4, 3, padding=1, groups=4),             # 3x3 depthwise: oneDNN's backward is fast, kept
        nn.Conv2d(4, 4, 5, padding=2),                       # dense: kept
        nn.Conv2d(4, 8, 5, padding=2, groups=4),             # a channel multiplier: kept
        nn.Conv2d(4, 4, 5, padding="same", groups=4),        # string padding: kept
    )
    keys = list(layers.state_dict())
    assert use_fast_depthwise(layers) == 2
    assert [type(layer) is DepthwiseConv2d for layer in layers] == [True, True, False, False, False, False]
    assert list(layers.state_dict()) == keys


def _unswapped(module: nn.Module) -> nn.Module:
    for layer in module.modules():
        if type(layer) is DepthwiseConv2d:
            layer.__class__ = nn.Conv2d
    return module


def _compare(build, x: torch.Tensor, y: torch.Tensor) -> None:
    """The supernet ``build()`` makes against the same one (same seed) with PyTorch's own depthwise convolutions.
    Two builds rather than a deep copy: the DARTS MixedOp's plan holds closures over its own candidates."""
    assert_same_outputs_and_gradients(build(), _unswapped(build()), x, y)


def test_darts_cell_supernet_uses_it_with_the_same_values_and_gradients():
    def build():
        return darts_cell_supernet(width=4)

    swapped = [m for m in build().modules() if type(m) is DepthwiseConv2d]
    assert len(swapped) == 3 * 5 * 4  # per edge the two 5x5 separable layers and both dilated ones; 5 edges, 3 cells
    _compare(build, torch.randn(6, 1, 8, 8, dtype=torch.float64), torch.randint(0, 10, (6,)))


def test_enas_supernet_uses_it_with_the_same_values_and_gradients():
    from strategies.enas.supernet import SharedWeightSupernet

    def build():
        torch.manual_seed(0)
        space = model_spaces.build_space("enas_micro", (1, 8, 8), 10, num_nodes=2, cells_per_stage=1, channels=4,
                                         stem_multiplier=1)
        supernet = SharedWeightSupernet(space).double()
        # a child that runs the 5x5 separable convolution wherever it can
        supernet.activate({label: ("sepconv5x5" if "sepconv5x5" in values else values[-1])
                           for label, values in supernet.choices.items()})
        return supernet

    assert any(type(m) is DepthwiseConv2d for m in build().modules())
    _compare(build, torch.randn(6, 1, 8, 8, dtype=torch.float64), torch.randint(0, 10, (6,)))


def test_a_backward_that_does_not_reach_the_weights_computes_no_weight_gradient(monkeypatch):
    """DARTS's alpha-only passes: PyTorch's own convolution skips the weight gradient there, and so must ours."""
    import strategies.supernet.depthwise as depthwise
    from strategies.darts.supernet import DartsSupernet

    calls = []
    original = depthwise._weight_grad
    monkeypatch.setattr(depthwise, "_weight_grad", lambda *a: calls.append(1) or original(*a))
    torch.manual_seed(0)
    supernet = DartsSupernet(model_spaces.build_space("darts", (1, 8, 8), 10, width=4, num_cells=3, num_nodes=2,
                                                      affine=False, auxiliary=False))
    loss = F.cross_entropy(supernet(torch.randn(5, 1, 8, 8)), torch.randint(0, 10, (5,)))
    alpha_grads = torch.autograd.grad(loss, supernet.arch_parameters(), retain_graph=True)
    assert not calls and all(bool(g.abs().sum() > 0) for g in alpha_grads)
    loss.backward()
    assert len(calls) == 3 * 5 * 4
