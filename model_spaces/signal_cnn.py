"""A 1-D CNN search space for signals and sequences of numbers: ``(C, L)`` float inputs (sensor channels over time,
audio frames, ECG leads, one channel for a plain sequence).

The fixed part is the fully convolutional time-series classifier of Wang, Yan and Oates, "Time Series Classification
from Scratch with Deep Neural Networks: A Strong Baseline" (IJCNN 2017): convolutions over time with batch norm,
global pooling over time, a linear classifier. The searched part, each a flat label in the ``arch`` dict:

- ``width``: channels of every searched layer (one global choice);
- ``activation``: the non-linearity of every layer (one global choice, shared label);
- ``depth``: how many searched layers run (``Repeat``);
- per layer ``i`` (``i`` < ``max_depth``):

  - ``kernel{i}``: the convolution's kernel size (``nni.choice`` inside ``MutableConv1d``, padded "same");
  - ``dilation{i}``: its dilation (``LayerChoice`` of ``d1``, ``d2``, ``d4``: one convolution per dilation,
    sharing the kernel choice), as in WaveNet's dilated convolutions (van den Oord et al. 2016);
  - ``skip{i}``: the layer's output alone ``[0]`` or with its input added ``[1]``, a residual (``InputChoice``);
  - ``pool{i}``: what follows the layer: ``none``, or max- or average-pooling over 3 steps, ``max3`` or ``avg3``
    (stride 1: the length stays; ``LayerChoice``);

- ``global_pool``: max- or average-over-time pooling of the final features (``LayerChoice``).

Only ``MutableConv1d`` and ``MutableBatchNorm1d`` take searched arguments (the width and the kernel size), so one-shot
strategies share one weight per layer across candidates (:mod:`strategies.supernet.mixed_1d`).
"""

from __future__ import annotations

import math
from typing import Any

import nni
import torch
from nni.nas.nn.pytorch import (
    InputChoice,
    LayerChoice,
    MutableBatchNorm1d,
    MutableConv1d,
    MutableLinear,
    Repeat,
)
from torch import nn

from model_spaces import register_space
from model_spaces.contract import SearchSpace
from model_spaces.layers import ACTIVATIONS, GlobalAvgPool, GlobalMaxPool
from nni_nas.errors import ConfigError

DILATIONS = (1, 2, 4)
POOLS = ("none", "max3", "avg3")
MIN_LENGTH = 8  # as the npz signal rule: shorter sequences leave a kernel of 7 nothing to slide over


def _pools() -> dict[str, nn.Module]:
    # stride 1, "same" length: every candidate of a position gives one shape, so a weighted mix (DARTS) can add them
    return {"none": nn.Identity(), "max3": nn.MaxPool1d(3, stride=1, padding=1),
            "avg3": nn.AvgPool1d(3, stride=1, padding=1, count_include_pad=False)}


class SignalLayer(nn.Module):
    """One searched layer: a dilated convolution of searched kernel, batch norm, the shared activation, an optional
    residual, an optional local pooling."""

    def __init__(self, index: int, width: Any, kernels: tuple[int, ...], dilations: tuple[int, ...],
                 pools: tuple[str, ...], activations: tuple[str, ...]):
        super().__init__()
        kernel = nni.choice(f"kernel{index}", list(kernels))
        # "same" padding for every kernel and dilation, so the residual below adds tensors of one length
        self.conv = LayerChoice(
            {f"d{d}": MutableConv1d(width, width, kernel, padding=(kernel - 1) // 2 * d, dilation=d, bias=False)
             for d in dilations},
            label=f"dilation{index}")
        self.bn = MutableBatchNorm1d(width)
        self.act = LayerChoice({name: ACTIVATIONS[name]() for name in activations}, label="activation")
        self.skip = InputChoice(2, 1, label=f"skip{index}")
        all_pools = _pools()
        self.pool = LayerChoice({name: all_pools[name] for name in pools}, label=f"pool{index}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn(self.conv(x)))
        return self.pool(self.skip([out, out + x]))


def check_signal_args(input_shape: Any, widths: Any, kernels: Any, dilations: Any, pools: Any, activations: Any,
                      min_depth: Any, max_depth: Any) -> None:
    """One :class:`ConfigError` naming every bad argument of :class:`SignalCNN`."""
    problems = []
    if len(input_shape) != 2 or input_shape[1] < MIN_LENGTH:
        problems.append(f"input_shape must be (channels, length) with length >= {MIN_LENGTH}, got {input_shape}")

    def positive_ints(values: Any, high: int) -> bool:
        return (isinstance(values, list | tuple) and bool(values)
                and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= high for v in values))

    if not positive_ints(widths, 4096):
        problems.append(f"widths must be a non-empty list of channel counts from 1 to 4096, got {widths!r}")
    if not positive_ints(kernels, 64) or any(k % 2 == 0 for k in kernels):
        problems.append(f"kernels must be a non-empty list of odd kernel sizes from 1 to 63 (odd: padded 'same'), "
                        f"got {kernels!r}")
    if not positive_ints(dilations, 64) or len(set(dilations)) != len(dilations):
        problems.append(f"dilations must be a non-empty list of distinct integers from 1 to 64, got {dilations!r}")
    for name, values, known in (("pools", pools, POOLS), ("activations", activations, tuple(ACTIVATIONS))):
        if not isinstance(values, list | tuple) or not values or any(v not in known for v in values):
            problems.append(f"{name} must be a non-empty list from {known}, got {values!r}")
    depths_ok = all(isinstance(d, int) and not isinstance(d, bool) for d in (min_depth, max_depth))
    if not depths_ok or not 1 <= min_depth <= max_depth <= 64:
        problems.append(f"need 1 <= min_depth <= max_depth <= 64 (integers), got {min_depth!r} and {max_depth!r}")
    if problems:
        raise ConfigError("signal_cnn: " + "; ".join(problems))


@register_space("signal_cnn")
class SignalCNN(SearchSpace):
    """1-D CNN space for (channels, length) signals: width, activation, depth, and per layer kernel, dilation,
    residual and pooling, then global pooling.

    Parameters
    ----------
    input_shape
        ``(channels, length)`` of one signal; a plain sequence of numbers is ``(1, length)``. The stem halves the
        time axis with fixed max-pooling until it is at most ``max_steps`` long, so long signals stay cheap.
    num_classes
        Number of output classes.
    widths
        Candidate channel counts of the searched layers.
    kernels
        Candidate (odd) kernel sizes of each layer's convolution.
    dilations
        Candidate dilations of each layer's convolution.
    pools
        Candidates after each layer: ``none``, ``max3``, ``avg3`` (pooling over 3 steps, stride 1).
    activations
        Candidate activations, a subset of ``relu``, ``silu``, ``gelu``.
    min_depth, max_depth
        Range of the number of searched layers.
    max_steps
        Longest sequence the searched layers see.
    """

    input_rank = 2  # inputs are (batch, channels, length) floats

    def __init__(
        self,
        input_shape: tuple[int, int] = (1, 128),
        num_classes: int = 2,
        widths: tuple[int, ...] = (16, 32, 64),
        kernels: tuple[int, ...] = (3, 5, 7),
        dilations: tuple[int, ...] = DILATIONS,
        pools: tuple[str, ...] = POOLS,
        activations: tuple[str, ...] = ("relu", "silu", "gelu"),
        min_depth: int = 1,
        max_depth: int = 4,
        max_steps: int = 128,
    ):
        super().__init__()
        input_shape = tuple(input_shape)
        check_signal_args(input_shape, widths, kernels, dilations, pools, activations, min_depth, max_depth)
        channels, length = input_shape
        self.input_shape = input_shape
        self.num_classes = num_classes
        self.max_depth = max_depth
        width = nni.choice("width", list(widths))
        reductions = max(0, math.ceil(math.log2(length / max_steps))) if length > max_steps else 0
        stem: list[nn.Module] = [MutableConv1d(channels, width, 7, padding=3, bias=False), MutableBatchNorm1d(width),
                                 nn.ReLU()]
        stem += [nn.MaxPool1d(2) for _ in range(reductions)]
        self.stem = nn.Sequential(*stem)
        self.layers = Repeat(
            lambda index: SignalLayer(index, width, tuple(kernels), tuple(dilations), tuple(pools),
                                      tuple(activations)),
            (min_depth, max_depth),
            label="depth",
        )
        self.global_pool = LayerChoice({"avg": GlobalAvgPool(), "max": GlobalMaxPool()}, label="global_pool")
        self.classifier = MutableLinear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.global_pool(self.layers(self.stem(x))))

    def inactive_labels(self, arch: dict[str, Any]) -> list[str]:
        """The labels of layers beyond ``depth`` (not in the network: two dicts that differ only there are the
        same model)."""
        return [f"{name}{index}" for index in range(arch.get("depth", self.max_depth), self.max_depth)
                for name in ("kernel", "dilation", "skip", "pool")]
