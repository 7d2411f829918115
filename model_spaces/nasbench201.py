"""The NAS-Bench-201 cell space (Dong & Yang, "NAS-Bench-201: Extending the Scope of Reproducible Neural
Architecture Search", ICLR 2020), trainable, with the conversion to and from the benchmark's architecture string.

The cell is a DAG of 4 nodes: node 0 is the cell's input, node ``i`` (1..3) is the sum of one operation applied
to every earlier node ``j``, and node 3 is the output. Each of the 6 edges chooses one of ``OPS``; the same cell
is used everywhere in the network, so an ``arch`` has 6 labels ``edge_{i}_{j}`` ("node i takes node j").
The benchmark writes the same cell as ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (blocks for nodes 1, 2, 3).

The macro skeleton follows the paper (Fig. 1): a 3x3 stem, three stages of ``cells_per_stage`` cells with
``channels``, ``2 * channels`` and ``4 * channels`` channels, joined by residual reduction blocks (stride 2),
then batch norm, ReLU, global pooling and a linear classifier. The paper uses ``channels=16, cells_per_stage=5``;
small values (8, 1) train on the 8x8 digits in seconds.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import torch
from nni.nas.nn.pytorch import LayerChoice
from torch import nn

from model_spaces import register_space
from model_spaces.contract import PathSpace, ProgressiveSpace, SearchSpace, TabularSpace
from nni_nas.errors import ConfigError, InvalidArchError

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NUM_NODES = 4
# (i, j): node i takes node j, in the order of the benchmark string.
EDGES = tuple((i, j) for i in range(1, NUM_NODES) for j in range(i))
_TOKEN = re.compile(r"^([a-z0-9_]+)~(\d+)$")


def edge_label(node: int, source: int) -> str:
    """The ``arch`` label of the edge by which ``node`` takes ``source``."""
    return f"edge_{node}_{source}"


EDGE_LABELS = tuple(edge_label(i, j) for i, j in EDGES)


def arch_to_string(arch: dict[str, Any]) -> str:
    """The benchmark's string of an ``arch`` dict, e.g. ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|``."""
    missing = [label for label in EDGE_LABELS if label not in arch]
    if missing:
        raise InvalidArchError(f"NAS-Bench-201 arch lacks labels {missing}; it needs {list(EDGE_LABELS)}")
    bad = {label: arch[label] for label in EDGE_LABELS if arch[label] not in OPS}
    if bad:
        raise InvalidArchError(f"NAS-Bench-201 arch has unknown ops {bad}; each edge takes one of {list(OPS)}")
    blocks = ["|".join(f"{arch[edge_label(i, j)]}~{j}" for j in range(i)) for i in range(1, NUM_NODES)]
    return "|" + "|+|".join(blocks) + "|"


def string_to_arch(text: str) -> dict[str, str]:
    """The ``arch`` dict of a benchmark string (inverse of :func:`arch_to_string`)."""
    blocks = text.strip().split("+")
    if len(blocks) != NUM_NODES - 1:
        raise InvalidArchError(f"{text!r} is not a NAS-Bench-201 string: it needs {NUM_NODES - 1} '+'-separated "
                               "blocks, like |nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|")
    arch: dict[str, str] = {}
    for node, block in enumerate(blocks, start=1):
        tokens = block.strip("|").split("|")
        if len(tokens) != node:
            raise InvalidArchError(f"block {node} of {text!r} must have {node} edge(s) op~j, got {len(tokens)}")
        for source, token in enumerate(tokens):
            match = _TOKEN.match(token)
            if not match or match.group(1) not in OPS or int(match.group(2)) != source:
                raise InvalidArchError(f"edge {token!r} in block {node} of {text!r} must read op~{source} with op in "
                                 f"{list(OPS)}")
            arch[edge_label(node, source)] = match.group(1)
    return arch


def all_archs() -> list[dict[str, str]]:
    """Every cell of the space (5^6 = 15,625), in a fixed order."""
    return [dict(zip(EDGE_LABELS, ops)) for ops in itertools.product(OPS, repeat=len(EDGE_LABELS))]


class Zero(nn.Module):
    """The ``none`` op: the edge carries nothing (zeros of the input's shape)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def relu_conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    """ReLU, convolution, batch norm: the ``nor_conv_kxk`` ops and the reduction block's halves."""
    return nn.Sequential(
        nn.ReLU(),
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
    )


def _make_op(name: str, channels: int) -> nn.Module:
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return relu_conv_bn(channels, channels, 1)
    if name == "nor_conv_3x3":
        return relu_conv_bn(channels, channels, 3)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ConfigError(f"unknown NAS-Bench-201 op {name!r}; ops are {OPS}")


class Nb201Cell(nn.Module):
    """One cell: node i = sum over j < i of op_{i,j}(node j); the output is node 3.

    Every cell uses the labels ``edge_{i}_{j}``, so all cells of a network share one architecture.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.edges = nn.ModuleDict({
            f"{i}_{j}": LayerChoice({op: _make_op(op, channels) for op in OPS}, label=edge_label(i, j))
            for i, j in EDGES
        })

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for i in range(1, NUM_NODES):
            nodes.append(sum(self.edges[f"{i}_{j}"](nodes[j]) for j in range(i)))
        return nodes[-1]


class ResidualReduction(nn.Module):
    """The fixed reduction block between stages: a stride-2 residual block that doubles the channels."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = relu_conv_bn(c_in, c_out, 3, stride=2)
        self.conv_b = relu_conv_bn(c_out, c_out, 3)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.shortcut(x)


@register_space("nasbench201")
class NasBench201(SearchSpace, ProgressiveSpace, TabularSpace, PathSpace):
    """The NAS-Bench-201 search space: one searched cell (6 edges, 5 ops each) in a fixed ResNet-like skeleton.

    Parameters
    ----------
    input_shape
        (channels, height, width) of the images; two stride-2 reductions need height and width >= 4.
    num_classes
        Number of output classes.
    channels
        Channels of the first stage (paper: 16); the second and third stages have 2x and 4x.
    cells_per_stage
        Cells per stage N (paper: 5).
    """

    def __init__(self, input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10, channels: int = 16,
                 cells_per_stage: int = 5):
        super().__init__()
        if channels < 1 or cells_per_stage < 1:
            raise ConfigError(f"channels and cells_per_stage must be >= 1, got {channels} and {cells_per_stage}")
        if min(input_shape[1:]) < 4:
            raise ConfigError(f"input {tuple(input_shape)} is too small for two stride-2 reductions (need >= 4x4)")
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.stem = nn.Sequential(nn.Conv2d(input_shape[0], channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels))
        layers: list[nn.Module] = []
        width = channels
        for stage in range(3):
            if stage > 0:
                layers.append(ResidualReduction(width, width * 2))
                width *= 2
            layers.extend(Nb201Cell(width) for _ in range(cells_per_stage))
        self.cells = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(self.cells(self.stem(x)))
        return self.classifier(torch.flatten(features, 1))

    # ------------------------------------------------------------------------- tabular benchmark key
    @staticmethod
    def to_benchmark_key(arch: dict[str, Any]) -> str:
        """The NAS-Bench-201 string of ``arch`` (the ``arch_str`` column of the benchmark's table)."""
        return arch_to_string(arch)

    @staticmethod
    def from_benchmark_key(key: str) -> dict[str, str]:
        """The ``arch`` dict of a NAS-Bench-201 string."""
        return string_to_arch(key)

    # ------------------------------------------------------------------------ BANANAS path encoding
    path_ops = tuple(op for op in OPS if op != "none")
    max_path_length = NUM_NODES - 1

    def cell_paths(self, arch: dict[str, Any]) -> list[tuple[str, ...]]:
        """The ops of every path from node 0 to node 3 (0-3, 0-1-3, 0-2-3, 0-1-2-3) without a ``none`` edge: the
        paths that carry the cell's input to its output."""
        paths = []
        for inner in itertools.chain.from_iterable(itertools.combinations(range(1, NUM_NODES - 1), size)
                                                   for size in range(NUM_NODES - 1)):
            nodes = (0, *inner, NUM_NODES - 1)
            ops = tuple(arch[edge_label(nodes[k + 1], nodes[k])] for k in range(len(nodes) - 1))
            if "none" not in ops:
                paths.append(ops)
        return paths

    # ---------------------------------------------------------------------- PNAS progressive blocks
    def progressive_blocks(self) -> list[list[str]]:
        """PNAS blocks: block b is intermediate node b with all its incoming edges (1, 2, then 3 edges).

        A cell "with b blocks" computes nodes 1..b; the nodes not grown yet pass node b through unchanged
        (see :meth:`fill_ungrown`), so every partial cell is a real NAS-Bench-201 cell with a table entry.
        """
        return [[edge_label(i, j) for j in range(i)] for i in range(1, NUM_NODES)]

    def fill_ungrown(self, arch: dict[str, Any], num_blocks: int) -> dict[str, Any]:
        """``arch`` with the nodes after ``num_blocks`` set to copy their predecessor (skip from node i-1,
        ``none`` from the others), so the cell's output is node ``num_blocks``."""
        out = dict(arch)
        for i in range(num_blocks + 1, NUM_NODES):
            for j in range(i):
                out[edge_label(i, j)] = "skip_connect" if j == i - 1 else "none"
        return out
