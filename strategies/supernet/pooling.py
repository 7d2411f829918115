"""Stride-1 pooling for the supernets, where PyTorch's CPU kernels for NCHW tensors are slow.

Every supernet here (the DARTS cell space, the generic relaxation, the path-sampling supernet, ENAS's shared weights)
runs the pooling candidates of each edge on every pass. On a CPU, ``max_pool2d`` and ``avg_pool2d`` on NCHW tensors
loop over one channel plane at a time, which on the small maps of these supernets is slow. Forward and backward,
one thread, a 3x3 stride-1 window on 64 x 16 channels of 8x8 (``benchmarks/supernet_pooling.py``; its README has
the other shapes):

- max pooling 1.71 ms, against 0.56 ms in channels-last memory, whose kernel vectorises over the channels
  (conversions both ways included). Its values and gradients are the same bit for bit: the channels-last kernel
  visits each window in the same order and keeps the same maximum (the first, as ties go).
- average pooling 1.23 ms, against 0.40 ms as a depthwise convolution with a kernel of ones (oneDNN's fast path, its
  backward too), times the reciprocal of each output's window count: the count of in-bounds inputs with
  ``count_include_pad=False``, the window's size otherwise. The same sum in another order: values and gradients
  differ by rounding (``tests/strategies/test_pooling.py``).

Stride-2 windows gain nothing (measured) and keep PyTorch's kernels, and so do tensors with fewer than
:data:`MIN_CHANNELS` channels, where the conversions cost more than they save, and tensors on a GPU (not measured).
:func:`use_fast_pooling` swaps the class of a supernet's pooling layers in place; derived architectures are built
anew from the space and keep ``nn.MaxPool2d`` and ``nn.AvgPool2d``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MIN_CHANNELS = 8  # below this, PyTorch's own kernels are as fast (measured on 3 channels)


def _applies(x: torch.Tensor) -> bool:
    """Whether ``x`` takes the faster computation: a 4-D CPU tensor of enough channels (the measurements are of
    PyTorch's CPU kernels; a GPU keeps its own)."""
    return x.dim() == 4 and x.device.type == "cpu" and x.shape[1] >= MIN_CHANNELS


def _pair(value) -> tuple[int, int]:
    return tuple(value) if isinstance(value, tuple | list) else (value, value)


class FastMaxPool2d(nn.MaxPool2d):
    """An ``nn.MaxPool2d`` of stride 1 run in channels-last memory (see the module docstring); made by
    :func:`use_fast_pooling`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _applies(x):
            return super().forward(x)
        return super().forward(x.contiguous(memory_format=torch.channels_last)).contiguous()


class FastAvgPool2d(nn.AvgPool2d):
    """An ``nn.AvgPool2d`` of stride 1 computed as a depthwise convolution with a kernel of ones, scaled per output
    by its window count (see the module docstring); made by :func:`use_fast_pooling`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _applies(x):
            return super().forward(x)
        kernel, padding = _pair(self.kernel_size), _pair(self.padding)
        ones = x.new_ones(x.shape[1], 1, *kernel)
        out = F.conv2d(x, ones, None, 1, padding, 1, x.shape[1])
        if self.count_include_pad:
            return out / (kernel[0] * kernel[1])
        return out * self._inverse_count(x, kernel, padding)

    def _inverse_count(self, x: torch.Tensor, kernel, padding) -> torch.Tensor:
        key = (tuple(x.shape[2:]), x.dtype, x.device)
        cache = self.__dict__.setdefault("_inverse_counts", {})
        if key not in cache:
            count = F.conv2d(x.new_ones(1, 1, *x.shape[2:]), x.new_ones(1, 1, *kernel), None, 1, padding)
            cache[key] = 1.0 / count
        return cache[key]


def fast_pooling_applies(layer: nn.Module) -> bool:
    """Whether :func:`use_fast_pooling` swaps ``layer``: a plain 2-D max or average pooling of stride 1, a max pool
    without returned indices, an average pool without ``ceil_mode`` or ``divisor_override``."""
    if type(layer) is nn.MaxPool2d:
        return _pair(layer.stride) == (1, 1) and not layer.return_indices
    return (type(layer) is nn.AvgPool2d and _pair(layer.stride) == (1, 1) and not layer.ceil_mode
            and layer.divisor_override is None
            and all(2 * p <= k for p, k in zip(_pair(layer.padding), _pair(layer.kernel_size))))  # else torch refuses


def use_fast_pooling(module: nn.Module) -> int:
    """Give every pooling layer of ``module`` that :func:`fast_pooling_applies` to the faster computation, in place
    (the class of the layer changes, nothing else). Returns how many were changed."""
    changed = 0
    for layer in module.modules():
        if fast_pooling_applies(layer):
            layer.__class__ = FastMaxPool2d if type(layer) is nn.MaxPool2d else FastAvgPool2d
            changed += 1
    return changed
