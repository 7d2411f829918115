"""The supernets' faster layers in one place: every supernet swaps them in with :func:`use_faster_layers`, and
:data:`PYTORCH_CLASS` names the PyTorch class each one stands for (what a derived network runs, for timing it).

Each computes what its PyTorch class computes, with the same weights and state dict: depthwise 5x5 and dilated
convolutions with a faster backward (:mod:`strategies.supernet.depthwise`), stride-1 pooling in channels-last memory
or as a box convolution (:mod:`strategies.supernet.pooling`).
"""

from __future__ import annotations

from torch import nn

from strategies.supernet.depthwise import DepthwiseConv2d, use_fast_depthwise
from strategies.supernet.pooling import FastAvgPool2d, FastMaxPool2d, use_fast_pooling

PYTORCH_CLASS: dict[type[nn.Module], type[nn.Module]] = {
    DepthwiseConv2d: nn.Conv2d, FastMaxPool2d: nn.MaxPool2d, FastAvgPool2d: nn.AvgPool2d}


def use_faster_layers(module: nn.Module) -> int:
    """Swap every layer of ``module`` that has a faster equivalent, in place. Returns how many were swapped."""
    return use_fast_depthwise(module) + use_fast_pooling(module)
