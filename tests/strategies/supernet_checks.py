"""Shared by the tests of the supernets' faster layers (depthwise, pooling): a small DARTS cell supernet, and the
comparison of a supernet with its twin built from the same seed with PyTorch's own layers."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import model_spaces


def darts_cell_supernet(width: int) -> nn.Module:
    """The DARTS cell supernet (3 cells of 2 nodes, 8x8 inputs, float64), alphas drawn from N(0, 0.5) so that every
    candidate weighs differently; the same every call (seed 0)."""
    from strategies.darts.supernet import DartsSupernet

    torch.manual_seed(0)
    space = model_spaces.build_space("darts", (1, 8, 8), 10, width=width, num_cells=3, num_nodes=2, affine=False,
                                     auxiliary=False)
    supernet = DartsSupernet(space).double()
    with torch.no_grad():
        for alpha in supernet.arch_parameters():
            alpha.normal_(0, 0.5)
    return supernet


def assert_same_outputs_and_gradients(fast: nn.Module, plain: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    """``fast`` and ``plain`` give the same output and the same gradient on every parameter (1e-10, float64). Each
    forward starts from the same seed (GDAS draws a Gumbel sample for each label it is not fixed to)."""
    outs = []
    for net in (fast, plain):
        torch.manual_seed(1)
        out = net(x)
        F.cross_entropy(out, y).backward()
        outs.append(out)
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=1e-10)
    compared = 0
    for (name, p), q in zip(fast.named_parameters(), plain.parameters()):
        assert (p.grad is None) == (q.grad is None), name
        if p.grad is not None:
            torch.testing.assert_close(p.grad, q.grad, rtol=0, atol=1e-10, msg=name)
            compared += 1
    assert compared
