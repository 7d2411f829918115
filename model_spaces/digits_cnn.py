"""A small CNN search space for 8x8 up to 32x32 images (the embedded digits default, CIFAR-10, user arrays).

Choices, each a flat label in the ``arch`` dict:

- ``width``: channels of every searched layer (one global choice);
- ``activation``: the non-linearity used in every layer (one global choice, shared label);
- ``depth``: how many searched layers run (``Repeat``);
- ``op0`` .. ``op{max_depth-1}``: the operation of each layer (``LayerChoice``);
- ``skip``: whether the classifier reads the last layer alone ``[0]`` or its sum with the stem ``[1]``
  (``InputChoice``), a long residual connection.
"""

from __future__ import annotations

import math
from typing import Any

import nni
import torch
from nni.nas.nn.pytorch import (
    InputChoice,
    MutableBatchNorm2d,
    MutableConv2d,
    MutableLinear,
    Repeat,
)
from torch import nn

from model_spaces import register_space
from model_spaces.layers import RepeatedLayersSpace, SearchLayer, check_layer_args

OPS = ("conv3x3", "conv5x5", "sepconv3x3", "maxpool3x3", "avgpool3x3", "identity")


def _candidate_ops(width: Any) -> dict[str, nn.Module]:
    return {
        "conv3x3": MutableConv2d(width, width, 3, padding=1, bias=False),
        "conv5x5": MutableConv2d(width, width, 5, padding=2, bias=False),
        # depthwise 3x3 followed by pointwise 1x1 (MobileNet-style separable convolution)
        "sepconv3x3": nn.Sequential(
            MutableConv2d(width, width, 3, padding=1, groups=width, bias=False),
            MutableConv2d(width, width, 1, bias=False),
        ),
        "maxpool3x3": nn.MaxPool2d(3, stride=1, padding=1),
        "avgpool3x3": nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
        "identity": nn.Identity(),
    }


@register_space("digits_cnn")
class DigitsCNN(RepeatedLayersSpace):
    """Small CNN space: global width and activation, searched depth, per-layer op, a long skip.

    Parameters
    ----------
    input_shape
        (channels, height, width) of the images; 8x8 to 32x32 works. Inputs larger than 8x8 are
        halved by fixed max-pooling after the stem until they are 8x8 or smaller.
    num_classes
        Number of output classes.
    widths
        Candidate channel counts of the searched layers.
    min_depth, max_depth
        Range of the number of searched layers.
    ops
        Candidate operations of each layer, a subset of ``OPS``.
    activations
        Candidate activations, a subset of ``relu``, ``silu``, ``gelu``.
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int] = (1, 8, 8),
        num_classes: int = 10,
        widths: tuple[int, ...] = (16, 32, 64),
        min_depth: int = 1,
        max_depth: int = 4,
        ops: tuple[str, ...] = OPS,
        activations: tuple[str, ...] = ("relu", "silu", "gelu"),
    ):
        super().__init__()
        check_layer_args(ops, OPS, activations, widths, min_depth, max_depth)
        channels, height, _ = input_shape
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.max_depth = max_depth
        width = nni.choice("width", list(widths))
        reductions = max(0, math.ceil(math.log2(min(input_shape[1:]) / 8))) if height > 8 else 0
        stem: list[nn.Module] = [MutableConv2d(channels, width, 3, padding=1, bias=False), MutableBatchNorm2d(width),
                                 nn.ReLU()]
        stem += [nn.MaxPool2d(2) for _ in range(reductions)]
        self.stem = nn.Sequential(*stem)
        self.layers = Repeat(
            lambda index: SearchLayer(index, _candidate_ops(width), tuple(ops), MutableBatchNorm2d(width),
                                      tuple(activations)),
            (min_depth, max_depth),
            label="depth",
        )
        self.skip = InputChoice(2, 1, label="skip")
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = MutableLinear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stem = self.stem(x)
        body = self.layers(stem)
        features = self.skip([body, body + stem])
        return self.classifier(torch.flatten(self.pool(features), 1))
