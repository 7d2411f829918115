"""The NAS-Bench-Macro space (Su et al., "Prioritized Architecture Sampling with Monte-Carlo Tree Search",
CVPR 2021), trainable, with the conversion to and from the benchmark's 8-digit key.

A chain of 8 searched layers in three stages of 2, 3 and 3 layers. The first layer of each stage halves the
resolution and doubles the channels. Each layer is one of (the digit in the benchmark's key):

- ``0`` ``identity``: the input unchanged; where the shape changes, a 1x1 convolution with stride and batch norm;
- ``1`` ``mb_k3_e3``: a MobileNetV2 inverted residual block, kernel 3, expansion 3;
- ``2`` ``mb_k5_e6``: the same with kernel 5, expansion 6.

The key lists the layers from the input to the output (``"22212220"`` is the benchmark's best). Around the
layers: a 3x3 stem with ``init_channels`` (benchmark: 32), and a head of a 1x1 convolution to ``head_channels``
(benchmark: 1280), global pooling and a linear classifier. Small widths (8 and 64) train on the 8x8 digits.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from nni.nas.nn.pytorch import LayerChoice
from torch import nn

from model_spaces import register_space
from model_spaces.contract import ProgressiveSpace, SearchSpace, TabularSpace
from nni_nas.errors import ConfigError, InvalidArchError

LAYER_OPS = ("identity", "mb_k3_e3", "mb_k5_e6")  # position = the digit in the benchmark key
STAGES = (2, 3, 3)
NUM_LAYERS = sum(STAGES)
LAYER_LABELS = tuple(f"layer{index}" for index in range(NUM_LAYERS))


def arch_to_key(arch: dict[str, Any]) -> str:
    """The benchmark's 8-digit key of an ``arch`` dict (``layer0`` is the first digit)."""
    missing = [label for label in LAYER_LABELS if label not in arch]
    if missing:
        raise InvalidArchError(f"NAS-Bench-Macro arch lacks labels {missing}; it needs {list(LAYER_LABELS)}")
    bad = {label: arch[label] for label in LAYER_LABELS if arch[label] not in LAYER_OPS}
    if bad:
        raise InvalidArchError(f"NAS-Bench-Macro arch has unknown ops {bad}; each layer is one of {list(LAYER_OPS)}")
    return "".join(str(LAYER_OPS.index(arch[label])) for label in LAYER_LABELS)


def key_to_arch(key: str) -> dict[str, str]:
    """The ``arch`` dict of an 8-digit key (inverse of :func:`arch_to_key`)."""
    key = str(key)
    if len(key) != NUM_LAYERS or any(digit not in "012" for digit in key):
        raise InvalidArchError(f"{key!r} is not a NAS-Bench-Macro key: it needs {NUM_LAYERS} digits 0/1/2, "
                               "like '22212220'")
    return {label: LAYER_OPS[int(digit)] for label, digit in zip(LAYER_LABELS, key)}


def all_keys() -> list[str]:
    """Every key of the space (3^8 = 6,561), in lexicographic order."""
    return ["".join(digits) for digits in itertools.product("012", repeat=NUM_LAYERS)]


class ShapeIdentity(nn.Module):
    """The ``identity`` layer: nothing, or a strided 1x1 convolution and batch norm where the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.project = None
        if stride != 1 or c_in != c_out:
            self.project = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.project is None else self.project(x)


class InvertedResidual(nn.Module):
    """MobileNetV2 block (Sandler et al., CVPR 2018): 1x1 expansion, depthwise kxk, linear 1x1 projection,
    batch norm after each; a residual connection when the shape is unchanged."""

    def __init__(self, c_in: int, c_out: int, stride: int, kernel: int, expansion: int):
        super().__init__()
        hidden = c_in * expansion
        self.body = nn.Sequential(
            nn.Conv2d(c_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(),
            nn.Conv2d(hidden, hidden, kernel, stride=stride, padding=kernel // 2, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden), nn.ReLU(),
            nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out),
        )
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return out + x if self.residual else out


def _layer_candidates(c_in: int, c_out: int, stride: int) -> dict[str, nn.Module]:
    return {
        "identity": ShapeIdentity(c_in, c_out, stride),
        "mb_k3_e3": InvertedResidual(c_in, c_out, stride, kernel=3, expansion=3),
        "mb_k5_e6": InvertedResidual(c_in, c_out, stride, kernel=5, expansion=6),
    }


@register_space("nas_bench_macro")
class NasBenchMacro(SearchSpace, ProgressiveSpace, TabularSpace):
    """The NAS-Bench-Macro search space: 8 layers, each identity or one of two MobileNetV2 blocks.

    Parameters
    ----------
    input_shape
        (channels, height, width) of the images; three stride-2 stages need height and width >= 8.
    num_classes
        Number of output classes.
    init_channels
        Channels of the stem (benchmark: 32); the stages have 2x, 4x and 8x.
    head_channels
        Channels of the 1x1 convolution before pooling (benchmark: 1280).
    """

    def __init__(self, input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10,
                 init_channels: int = 32, head_channels: int = 1280):
        super().__init__()
        if init_channels < 1 or head_channels < 1:
            raise ConfigError(f"init_channels and head_channels must be >= 1, got {init_channels}, {head_channels}")
        if min(input_shape[1:]) < 8:
            raise ConfigError(f"input {tuple(input_shape)} is too small for three stride-2 stages (need >= 8x8)")
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.stem = nn.Sequential(nn.Conv2d(input_shape[0], init_channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(init_channels), nn.ReLU())
        layers: list[nn.Module] = []
        width = init_channels
        for stage_length in STAGES:
            for position in range(stage_length):
                stride, c_out = (2, width * 2) if position == 0 else (1, width)
                layers.append(LayerChoice(_layer_candidates(width, c_out, stride), label=LAYER_LABELS[len(layers)]))
                width = c_out
        self.layers = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Conv2d(width, head_channels, 1, bias=False), nn.BatchNorm2d(head_channels),
                                  nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Linear(head_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(self.layers(self.stem(x)))
        return self.classifier(torch.flatten(features, 1))

    # ------------------------------------------------------------------------- tabular benchmark key
    @staticmethod
    def to_benchmark_key(arch: dict[str, Any]) -> str:
        """The 8-digit NAS-Bench-Macro key of ``arch``."""
        return arch_to_key(arch)

    @staticmethod
    def from_benchmark_key(key: str) -> dict[str, str]:
        """The ``arch`` dict of an 8-digit NAS-Bench-Macro key."""
        return key_to_arch(key)

    # ---------------------------------------------------------------------- PNAS progressive blocks
    def progressive_blocks(self) -> list[list[str]]:
        """PNAS blocks: one layer each, from the input on; layers not grown yet are ``identity``."""
        return [[label] for label in LAYER_LABELS]

    def fill_ungrown(self, arch: dict[str, Any], num_blocks: int) -> dict[str, Any]:
        """``arch`` with the layers from ``num_blocks`` on set to ``identity`` (a shallower real network)."""
        out = dict(arch)
        for label in LAYER_LABELS[num_blocks:]:
            out[label] = "identity"
        return out
