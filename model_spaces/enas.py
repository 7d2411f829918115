"""The ENAS search spaces of Pham et al., "Efficient Neural Architecture Search via Parameter Sharing" (ICML 2018).

- ``enas_macro`` (Section 2.3): a chain of ``num_layers`` layers. Layer ``i`` applies one of six operations to the
  previous layer's output (label ``layer{i}_op``) and adds the outputs of any subset of the earlier layers
  ``0 .. i-1`` (one binary decision each, label ``layer{i}_skip{j}``: 0 = no connection, 1 = connection).
  With the paper's L = 12 that is 6^12 * 2^66 (about 1.6e29) networks.
- ``enas_micro`` (Section 2.4): a stack of cells that all share one sampled *normal* cell and one *reduction* cell.
  A cell holds ``num_nodes`` nodes after its two inputs; node ``k`` picks two inputs among the cell inputs and the
  nodes before it (labels ``{kind}_node{k}_in0/1``) and one of five operations for each (``{kind}_node{k}_op0/1``)
  and sums the two results. Nodes that no other node reads ("loose ends") are averaged into the cell's output.

Both are plain NNI model spaces (``LayerChoice``, ``InputChoice``), so every nni-nas strategy can search them: the
multi-trial tuners freeze one architecture per trial, ENAS routes a shared-weight supernet through them.
Defaults are the paper's CIFAR-10 search sizes; the digits configs pass small ``space_args``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import torch
from nni.nas.nn.pytorch import InputChoice, LayerChoice
from torch import nn

from model_spaces import register_space
from model_spaces.contract import SearchSpace
from nni_nas.errors import ConfigError


# --------------------------------------------------------------------------------------------- operations
def conv_bn_relu(channels: int, kernel: int) -> nn.Module:
    """A ``kernel`` x ``kernel`` convolution, batch norm, ReLU (the macro space's convolutions)."""
    return nn.Sequential(nn.Conv2d(channels, channels, kernel, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(channels), nn.ReLU())


def sep_conv_bn_relu(channels: int, kernel: int) -> nn.Module:
    """A depthwise-separable convolution (depthwise ``kernel`` x ``kernel``, pointwise 1x1), batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(channels, channels, kernel, padding=kernel // 2, groups=channels, bias=False),
                         nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU())


def relu_sep_conv_bn(channels: int, kernel: int) -> nn.Module:
    """ReLU, depthwise-separable convolution, batch norm (the micro cell's separable convolutions)."""
    return nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, kernel, padding=kernel // 2, groups=channels,
                                              bias=False),
                         nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels))


def _max_pool(_: int) -> nn.Module:
    return nn.MaxPool2d(3, stride=1, padding=1)


def _avg_pool(_: int) -> nn.Module:
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)


MACRO_OPS: dict[str, Callable[[int], nn.Module]] = {
    "conv3x3": lambda c: conv_bn_relu(c, 3),
    "conv5x5": lambda c: conv_bn_relu(c, 5),
    "sepconv3x3": lambda c: sep_conv_bn_relu(c, 3),
    "sepconv5x5": lambda c: sep_conv_bn_relu(c, 5),
    "maxpool3x3": _max_pool,
    "avgpool3x3": _avg_pool,
}

MICRO_OPS: dict[str, Callable[[int], nn.Module]] = {
    "identity": lambda c: nn.Identity(),
    "sepconv3x3": lambda c: relu_sep_conv_bn(c, 3),
    "sepconv5x5": lambda c: relu_sep_conv_bn(c, 5),
    "avgpool3x3": _avg_pool,
    "maxpool3x3": _max_pool,
}


class NoConnection(nn.Module):
    """The "off" side of a binary skip decision: contributes nothing to the sum (a broadcastable zero)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(())


def _check_ops(ops: Sequence[str], known: dict[str, Callable[[int], nn.Module]], space: str) -> tuple[str, ...]:
    ops = tuple(ops)
    unknown = [op for op in ops if op not in known]
    if unknown or not ops:
        raise ConfigError(f"{space}: unknown or empty ops {unknown or list(ops)}; choose a subset of {list(known)}")
    return ops


# ------------------------------------------------------------------------------------------------- macro
class MacroLayer(nn.Module):
    """Layer ``index`` of the macro space: chosen op on the previous output, plus chosen skips, then batch norm.

    A skip decision is a two-way ``LayerChoice`` (``NoConnection`` / identity) rather than a custom mutable, so that
    freezing, the multi-trial tuners and the ENAS supernet all handle it like any other decision.
    """

    def __init__(self, index: int, channels: int, ops: tuple[str, ...]):
        super().__init__()
        self.op = LayerChoice({name: MACRO_OPS[name](channels) for name in ops}, label=f"layer{index}_op")
        self.skips = nn.ModuleList(
            LayerChoice([NoConnection(), nn.Identity()], label=f"layer{index}_skip{j}") for j in range(index)
        )
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor, earlier: list[torch.Tensor]) -> torch.Tensor:
        out = self.op(x)
        for gate, h in zip(self.skips, earlier):
            out = out + gate(h)
        return self.bn(out)


@register_space("enas_macro")
class EnasMacro(SearchSpace):
    """ENAS macro space (Pham et al. 2018, Section 2.3): a whole network, one op and a set of skips per layer.

    Parameters
    ----------
    input_shape
        (channels, height, width) of the images.
    num_classes
        Number of output classes.
    num_layers
        Number of searched layers L (paper: 12).
    channels
        Channels of every layer (paper's search: 36; constant here, see ``pool_after``).
    pool_after
        Indices of the layers after which the resolution halves (2x2 average pooling). Every earlier output is
        pooled too, so later skips still fit; the authors' release uses a learned factorized reduction and doubles
        the channels there instead. Default: after layers L/3 - 1 and 2L/3 - 1, as in the paper's network.
    ops
        Candidate operations, a subset of ``MACRO_OPS`` (paper: all six).
    """

    def __init__(self, input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10,
                 num_layers: int = 12, channels: int = 36, pool_after: Sequence[int] | None = None,
                 ops: Sequence[str] = tuple(MACRO_OPS)):
        super().__init__()
        ops = _check_ops(ops, MACRO_OPS, "enas_macro")
        if num_layers < 1 or channels < 1:
            raise ConfigError(f"enas_macro: num_layers ({num_layers}) and channels ({channels}) must be positive")
        if pool_after is None:
            pool_after = sorted({max(0, num_layers // 3 - 1), max(0, 2 * num_layers // 3 - 1)} - {num_layers - 1})
        bad = [i for i in pool_after if not 0 <= i < num_layers]
        if bad:
            raise ConfigError(f"enas_macro: pool_after {bad} outside layers 0..{num_layers - 1}")
        if 2 ** len(set(pool_after)) > min(input_shape[1:]):
            raise ConfigError(f"enas_macro: {len(set(pool_after))} poolings do not fit {input_shape[1:]} inputs; "
                             "pass fewer pool_after entries")
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.pool_after = frozenset(pool_after)
        self.stem = nn.Sequential(nn.Conv2d(input_shape[0], channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels))
        self.layers = nn.ModuleList(MacroLayer(i, channels, ops) for i in range(num_layers))
        self.pool = nn.AvgPool2d(2)
        self.head = nn.Sequential(nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        outputs: list[torch.Tensor] = []
        for index, layer in enumerate(self.layers):
            x = layer(x, outputs)
            outputs.append(x)
            if index in self.pool_after:
                outputs = [self.pool(h) for h in outputs]
                x = outputs[-1]
        return self.head(x)


# ------------------------------------------------------------------------------------------------- micro
class ReLUConvBN(nn.Sequential):
    """ReLU, 1x1 convolution, batch norm: brings a cell input to the cell's width."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.ReLU(), nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing pixels: two strided 1x1 convolutions, one shifted by a pixel."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        if out_channels % 2:
            raise ConfigError(f"enas_micro: channels must be even for the factorized reduction, got {out_channels}")
        self.relu = nn.ReLU()
        self.conv_a = nn.Conv2d(in_channels, out_channels // 2, 1, stride=2, bias=False)
        self.conv_b = nn.Conv2d(in_channels, out_channels // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = nn.functional.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv_a(x), self.conv_b(shifted)], dim=1))


def _preprocess(in_channels: int, out_channels: int, factor: int) -> nn.Module:
    # A cell input arrives at 1x, 2x or 4x the cell's resolution (after one or two reductions).
    if factor == 1:
        return ReLUConvBN(in_channels, out_channels)
    if factor == 2:
        return FactorizedReduce(in_channels, out_channels)
    return nn.Sequential(FactorizedReduce(in_channels, out_channels), FactorizedReduce(out_channels, out_channels))


class MicroNode(nn.Module):
    """Node ``index`` of a cell: two chosen inputs, a chosen op on each, summed."""

    def __init__(self, kind: str, index: int, channels: int, ops: tuple[str, ...]):
        super().__init__()
        # Inputs before ops, as in the paper: the controller decides where from, then what to apply.
        self.inputs = nn.ModuleList(InputChoice(index + 2, 1, label=f"{kind}_node{index}_in{slot}") for slot in (0, 1))
        self.ops = nn.ModuleList(
            LayerChoice({name: MICRO_OPS[name](channels) for name in ops}, label=f"{kind}_node{index}_op{slot}")
            for slot in (0, 1)
        )

    def forward(self, states: list[torch.Tensor], used: set[int]) -> torch.Tensor:
        out: torch.Tensor | int = 0
        for choose, op in zip(self.inputs, self.ops):
            x = choose(states)
            used.add(_position(x, states))
            out = out + op(x)
        return out  # type: ignore[return-value]


def _position(tensor: torch.Tensor, states: list[torch.Tensor]) -> int:
    # An input choice of one input returns that very tensor, so identity tells which state a node read.
    for index, state in enumerate(states):
        if state is tensor:
            return index
    raise RuntimeError("an input choice returned a tensor that is not one of the cell's states")


def loose_ends(num_states: int, used: set[int]) -> list[int]:
    """Indices of the nodes (states 2 .. num_states-1) that no node reads: the cell's outputs."""
    return [index for index in range(2, num_states) if index not in used]


class MicroCell(nn.Module):
    """A normal or reduction cell; every cell of one kind uses the same labels, hence the same sampled cell."""

    def __init__(self, kind: str, num_nodes: int, prev_prev: tuple[int, int], prev: tuple[int, int],
                 channels: int, ops: tuple[str, ...]):
        super().__init__()
        # prev_prev / prev: (channels, resolution factor relative to this cell's input resolution)
        self.pre0 = _preprocess(prev_prev[0], channels, prev_prev[1])
        self.pre1 = _preprocess(prev[0], channels, prev[1])
        # A reduction cell first halves both inputs, so that all its ops run at stride 1 (as the authors' release).
        self.reduce = (nn.ModuleList([FactorizedReduce(channels, channels), FactorizedReduce(channels, channels)])
                       if kind == "reduce" else None)
        self.nodes = nn.ModuleList(MicroNode(kind, k, channels, ops) for k in range(num_nodes))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        if self.reduce is not None:
            states = [reduce(state) for reduce, state in zip(self.reduce, states)]
        used: set[int] = set()
        for node in self.nodes:
            states.append(node(states, used))
        # The paper averages the loose ends; that keeps the width fixed whatever the cell (the authors' release
        # concatenates them and projects with a sliced 1x1 convolution instead).
        outputs = [states[i] for i in loose_ends(len(states), used)]
        return sum(outputs) / len(outputs)


@register_space("enas_micro")
class EnasMicro(SearchSpace):
    """ENAS micro (cell) space (Pham et al. 2018, Section 2.4): one normal and one reduction cell, stacked.

    The network is a stem, then three stages of ``cells_per_stage`` normal cells with a reduction cell between
    stages (channels double there); each cell reads the two cells before it.

    Parameters
    ----------
    input_shape
        (channels, height, width) of the images (at least 4x4: two reductions).
    num_classes
        Number of output classes.
    num_nodes
        Computed nodes per cell (paper: B = 7 including the two inputs, so 5).
    cells_per_stage
        Normal cells per stage (the authors' search: 2, i.e. 6 normal + 2 reduction cells; their final network
        uses 5, set it through the strategy's ``retrain_space_args``).
    channels
        Width of the first stage (paper's search: 20; final network: 36).
    stem_multiplier
        The stem has ``stem_multiplier * channels`` channels.
    ops
        Candidate operations, a subset of ``MICRO_OPS`` (paper: all five).
    """
    not_relaxable: ClassVar[str | None] = (
        "its cells find their outputs (the loose ends) by which state each InputChoice returned, and a weighted mix "
        "of states is none of them")


    def __init__(self, input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10,
                 num_nodes: int = 5, cells_per_stage: int = 2, channels: int = 20, stem_multiplier: int = 3,
                 ops: Sequence[str] = tuple(MICRO_OPS)):
        super().__init__()
        ops = _check_ops(ops, MICRO_OPS, "enas_micro")
        if num_nodes < 1 or cells_per_stage < 1 or channels < 2:
            raise ConfigError(f"enas_micro: num_nodes ({num_nodes}) and cells_per_stage ({cells_per_stage}) must be "
                             f"at least 1 and channels ({channels}) at least 2")
        if min(input_shape[1:]) < 4:
            raise ConfigError(f"enas_micro: inputs of {input_shape[1:]} are too small for two reductions (need 4x4)")
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        stem_channels = stem_multiplier * channels
        self.stem = nn.Sequential(nn.Conv2d(input_shape[0], stem_channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(stem_channels))
        cells = []
        # (channels, scale) of the two previous outputs; scale = how often the resolution was halved
        prev_prev = prev = (stem_channels, 0)
        width, scale = channels, 0
        for stage in range(3):
            kinds = (["reduce"] if stage else []) + ["normal"] * cells_per_stage
            for kind in kinds:
                if kind == "reduce":
                    width, scale = width * 2, scale + 1
                input_scale = scale - 1 if kind == "reduce" else scale
                cells.append(MicroCell(kind, num_nodes, (prev_prev[0], 2 ** (input_scale - prev_prev[1])),
                                       (prev[0], 2 ** (input_scale - prev[1])), width, ops))
                prev_prev, prev = prev, (width, scale)
        self.cells = nn.ModuleList(cells)
        self.head = nn.Sequential(nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.head(s1)
