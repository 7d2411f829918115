"""A character-level CNN search space for text classification (inputs from :mod:`nni_nas.data.text`).

Texts arrive as ``(batch, max_len)`` UTF-8 byte tokens (0 pads). The fixed part follows Zhang, Zhao and LeCun,
"Character-level Convolutional Networks for Text Classification" (NeurIPS 2015): a byte embedding, convolutions
over time with max-pooling, a pooled feature vector, a linear classifier; Kim (EMNLP 2014) for max-over-time
pooling. The searched part, each a flat label in the ``arch`` dict:

- ``width``: channels of every searched layer (one global choice);
- ``activation``: the non-linearity of every layer (one global choice, shared label);
- ``depth``: how many searched layers run (``Repeat``);
- ``op0`` .. ``op{max_depth-1}``: each layer's operation (``LayerChoice``): convolution of kernel 3, 5 or 7, a
  dilated convolution (kernel 3, dilation 2), a separable convolution (kernel 5), max or average pooling, identity;
- ``skip``: the classifier reads the last layer alone ``[0]`` or its sum with the stem ``[1]`` (``InputChoice``);
- ``pool``: max- or average-over-time pooling of the final features (``LayerChoice``).
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
from model_spaces.layers import GlobalAvgPool, GlobalMaxPool, RepeatedLayersSpace, SearchLayer, check_layer_args

VOCAB_SIZE = 257  # as nni_nas.data.text: 256 byte values + padding (0)
OPS = ("conv3", "conv5", "conv7", "dilconv3", "sepconv5", "maxpool3", "avgpool3", "identity")


def _candidate_ops(width: Any) -> dict[str, nn.Module]:
    return {
        "conv3": MutableConv1d(width, width, 3, padding=1, bias=False),
        "conv5": MutableConv1d(width, width, 5, padding=2, bias=False),
        "conv7": MutableConv1d(width, width, 7, padding=3, bias=False),
        "dilconv3": MutableConv1d(width, width, 3, padding=2, dilation=2, bias=False),
        # depthwise over time, then pointwise across channels
        "sepconv5": nn.Sequential(
            MutableConv1d(width, width, 5, padding=2, groups=width, bias=False),
            MutableConv1d(width, width, 1, bias=False),
        ),
        "maxpool3": nn.MaxPool1d(3, stride=1, padding=1),
        "avgpool3": nn.AvgPool1d(3, stride=1, padding=1, count_include_pad=False),
        "identity": nn.Identity(),
    }


@register_space("text_cnn")
class TextCNN(RepeatedLayersSpace):
    """Character-level CNN space: global width and activation, searched depth, per-layer op, skip, pooling.

    Parameters
    ----------
    input_shape
        ``(max_len,)``: bytes per text. The stem halves the sequence with fixed max-pooling until it is at most
        ``max_steps`` long, so long texts stay cheap.
    num_classes
        Number of output classes.
    embed_dim
        Size of the byte embedding (fixed).
    widths
        Candidate channel counts of the searched layers.
    min_depth, max_depth
        Range of the number of searched layers.
    ops
        Candidate operations of each layer, a subset of ``OPS``.
    activations
        Candidate activations, a subset of ``relu``, ``silu``, ``gelu``.
    max_steps
        Longest sequence the searched layers see.
    """

    input_rank = 1  # inputs are (batch, max_len) token ids

    def __init__(
        self,
        input_shape: tuple[int, ...] = (256,),
        num_classes: int = 8,
        embed_dim: int = 32,
        widths: tuple[int, ...] = (32, 64, 128),
        min_depth: int = 1,
        max_depth: int = 4,
        ops: tuple[str, ...] = OPS,
        activations: tuple[str, ...] = ("relu", "silu", "gelu"),
        max_steps: int = 64,
    ):
        super().__init__()
        check_layer_args(ops, OPS, activations, widths, min_depth, max_depth)
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.max_depth = max_depth
        max_len = input_shape[0]
        width = nni.choice("width", list(widths))
        reductions = max(0, math.ceil(math.log2(max_len / max_steps))) if max_len > max_steps else 0
        self.embedding = nn.Embedding(VOCAB_SIZE, embed_dim, padding_idx=0)
        stem: list[nn.Module] = [MutableConv1d(embed_dim, width, 3, padding=1, bias=False), MutableBatchNorm1d(width),
                                 nn.ReLU()]
        stem += [nn.MaxPool1d(2) for _ in range(reductions)]
        self.stem = nn.Sequential(*stem)
        self.layers = Repeat(
            lambda index: SearchLayer(index, _candidate_ops(width), tuple(ops), MutableBatchNorm1d(width),
                                      tuple(activations)),
            (min_depth, max_depth),
            label="depth",
        )
        self.skip = InputChoice(2, 1, label="skip")
        self.pool = LayerChoice({"max": GlobalMaxPool(), "avg": GlobalAvgPool()}, label="pool")
        self.classifier = MutableLinear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stem = self.stem(self.embedding(x).transpose(1, 2))
        body = self.layers(stem)
        return self.classifier(self.pool(self.skip([body, body + stem])))

    def example_input(self, batch_size: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
        """Token ids for cost metrics and export (random bytes; the network takes ``int64`` tokens)."""
        return torch.randint(1, VOCAB_SIZE, (batch_size, *self.input_shape), generator=generator)
