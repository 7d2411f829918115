"""A model space (not registered) that packs the constructs export must handle before the real spaces use them:
NNI's ``Cell`` with two predecessors (lists inside), ``InputChoice``, ``LayerChoice`` of blocks, ``Repeat``,
a forward with ``*inputs``, one taking a flag, a module whose output the parent iterates over, a direct
parameter, persistent and non-persistent buffers, a plain tensor attribute, a ``ModuleDict``, a ``ModuleList``,
an unused module with weights (an auxiliary head), a stateless unused module and a training-only branch."""

from __future__ import annotations

import torch
from nni.nas.nn.pytorch import Cell, InputChoice, LayerChoice, ModelSpace, MutableConv2d, Repeat
from torch import nn


class DropPath(nn.Module):
    """Drops the whole sample in training (a branch that must vanish from the evaluation-mode source)."""

    def __init__(self, p: float = 0.2):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.p > 0:
            keep = (torch.rand(x.shape[0], 1, 1, 1) > self.p).to(x.dtype)
            return x * keep / (1 - self.p)
        return x


class Scaled(nn.Module):
    """A direct parameter, a persistent and a non-persistent buffer and a plain tensor attribute."""

    def __init__(self, channels: int):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(channels))
        self.register_buffer("shift", torch.zeros(channels))
        self.register_buffer("mask", torch.linspace(0.5, 1.5, channels), persistent=False)
        self.offset = torch.full((channels,), 0.25)  # not a buffer: becomes a constant of the source

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1, 1, 1)
        return x * (self.gain * self.mask).view(shape) + (self.shift + self.offset).view(shape)


class SumAll(nn.Module):
    """``forward(*inputs)``: cannot be traced on its own; traced inside its parent."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return sum(inputs)


class Split(nn.Module):
    """Returns a list that the parent iterates over."""

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        half = x.shape[1] // 2
        return [x[:, :half], x[:, half:]]


class Gated(nn.Module):
    """A forward with a flag argument."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor, double: bool = False) -> torch.Tensor:
        y = self.conv(x)
        return y * 2 if double else y


class Block(nn.Module):
    def __init__(self, index: int, channels: int):
        super().__init__()
        self.op = LayerChoice({
            "conv": nn.Sequential(MutableConv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels)),
            "scaled": Scaled(channels),
            "pool": nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
        }, label=f"block{index}")
        self.drop = DropPath()
        self.split = Split()
        self.sum = SumAll()
        self.gated = Gated(channels)
        self.branches = nn.ModuleDict({"a": nn.ReLU(), "b-2": nn.Tanh()})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.drop(self.op(x))
        halves = [h * 1.0 for h in self.split(y)]
        y = torch.cat(halves, dim=1)
        return self.sum(self.branches["a"](y), self.branches["b-2"](x), self.gated(y, double=True))


def _cell_ops(channels: int) -> dict:
    # NNI's Cell builds each candidate per (node, op, input) from these factories.
    return {
        "sep": lambda node, op, chosen: nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels), nn.Conv2d(channels, channels, 1)),
        "max": lambda node, op, chosen: nn.MaxPool2d(3, stride=1, padding=1),
        "skip": lambda node, op, chosen: nn.Identity(),
    }


class TrickySpace(ModelSpace):
    """Stress test for export; inputs (1, 8, 8), 10 classes."""

    def __init__(self, input_shape: tuple[int, int, int] = (1, 8, 8), num_classes: int = 10, channels: int = 8):
        super().__init__()
        width = channels
        self.stem = nn.Sequential(MutableConv2d(input_shape[0], width, 3, padding=1), nn.ReLU())
        self.blocks = Repeat(lambda i: Block(i, width), (1, 2), label="depth")
        self.pre = nn.ModuleList([nn.Identity(), nn.Conv2d(input_shape[0], 2 * channels, 1)])
        self.cell = Cell(_cell_ops(2 * channels), num_nodes=2, num_ops_per_node=1, num_predecessors=2,
                         merge_op="all", label="cell")
        self.to_cell = MutableConv2d(width, 2 * channels, 1)
        self.skip = InputChoice(2, 1, label="skip")
        self.aux_head = nn.Linear(4, 10)  # trained only with an auxiliary loss: weights, but unused here
        self.unused = nn.Dropout(0.3)
        self.classifier = nn.Linear(4 * channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = self.to_cell(self.blocks(self.stem(x)))
        s1 = self.pre[1](x)
        out = self.cell([s0, s1])
        pooled = torch.flatten(nn.functional.adaptive_avg_pool2d(out, 1), 1)
        return self.classifier(self.skip([pooled, pooled * 0.5]))
