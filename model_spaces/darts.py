"""The DARTS cell search space (Liu, Simonyan, Yang, "DARTS: Differentiable Architecture Search", ICLR 2019).

A network is a stem followed by ``num_cells`` cells; the cells at 1/3 and 2/3 of the depth are *reduction*
cells (stride 2, twice the channels), the others *normal* cells. All normal cells share one architecture and
all reduction cells another (the paper's Sec. 2.1), so the labels below exist once per cell type.

A cell has two input nodes (the outputs of the two previous cells, numbered 0 and 1) and ``num_nodes``
intermediate nodes numbered 2, 3, ...; node ``j`` takes 2 of its predecessors ``0 .. j-1``, each through one
operation, and sums them. The cell's output concatenates all intermediate nodes. Labels of the ``arch`` dict:

- ``{cell}_op_{j}_{i}``: the operation on the edge from node ``i`` to node ``j`` (``LayerChoice`` over ``ops``);
- ``{cell}_input_{j}``: the two predecessors node ``j`` takes (``InputChoice``, a sorted list of 2 indices);

with ``cell`` in ``normal``, ``reduce``. An edge whose source is not chosen is inactive (see
:meth:`DartsSpace.inactive_labels`). :meth:`DartsSpace.genotype` writes an ``arch`` in the paper's notation.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from nni.nas.nn.pytorch import InputChoice, LayerChoice
from torch import nn

from model_spaces import register_space
from model_spaces.contract import CellSpace, SearchSpace
from model_spaces.darts_ops import NONE, OPS, AuxiliaryHead, FactorizedReduce, ReLUConvBN, drop_path, make_op
from nni_nas.errors import ConfigError, InvalidArchError

CELL_TYPES = ("normal", "reduce")
INPUTS_PER_NODE = 2


def op_label(cell_type: str, node: int, source: int) -> str:
    """Label of the operation on the edge ``source -> node`` of the ``cell_type`` cell."""
    return f"{cell_type}_op_{node}_{source}"


def input_label(cell_type: str, node: int) -> str:
    """Label of the choice of the two predecessors of ``node`` in the ``cell_type`` cell."""
    return f"{cell_type}_input_{node}"


class Genotype(NamedTuple):
    """A discrete cell pair in the paper's notation: per intermediate node, two ``(op, source)`` pairs."""

    normal: list[tuple[str, int]]
    normal_concat: range
    reduce: list[tuple[str, int]]
    reduce_concat: range


class UnusedEdge(nn.Module):
    """Placeholder for an edge that the architecture does not use (no parameters, never called)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("an unused edge of a frozen DARTS cell was called")


class CellNode(nn.Module):
    """Intermediate node ``node`` of a cell: 2 chosen predecessors, each through its chosen operation, summed."""

    def __init__(self, cell_type: str, node: int, channels: int, reduction: bool, ops: tuple[str, ...],
                 affine: bool):
        super().__init__()
        self.edges = nn.ModuleList(
            LayerChoice({name: make_op(name, channels, 2 if reduction and source < 2 else 1, affine)
                         for name in ops}, label=op_label(cell_type, node, source))
            for source in range(node)
        )
        self.inputs = InputChoice(node, INPUTS_PER_NODE, reduction="sum", label=input_label(cell_type, node))

    def forward(self, states: list[torch.Tensor], drop_prob: float = 0.0) -> torch.Tensor:
        # A frozen node (ChosenInputs) computes its two chosen edges only; the space and the supernet use all.
        used = getattr(self.inputs, "chosen", range(len(self.edges)))
        outputs: list[torch.Tensor | None] = [None] * len(self.edges)
        for source in used:
            edge = self.edges[source]
            out = edge(states[source])
            if self.training and drop_prob > 0.0 and not isinstance(edge, nn.Identity):
                out = drop_path(out, drop_prob)
            outputs[source] = out
        return self.inputs(outputs)

    def drop_unused_edges(self) -> None:
        """After freezing: replace the edges the node does not read, so they hold no parameters."""
        for source in range(len(self.edges)):
            if source not in self.inputs.chosen:
                self.edges[source] = UnusedEdge()


class Cell(nn.Module):
    """A normal or reduction cell; its output concatenates the intermediate nodes (4 * channels)."""

    def __init__(self, cell_type: str, num_nodes: int, c_prev_prev: int, c_prev: int, channels: int,
                 reduction_prev: bool, ops: tuple[str, ...], affine: bool):
        super().__init__()
        self.reduction = cell_type == "reduce"
        self.preprocess0 = (FactorizedReduce(c_prev_prev, channels, affine) if reduction_prev
                            else ReLUConvBN(c_prev_prev, channels, 1, 1, 0, affine))
        self.preprocess1 = ReLUConvBN(c_prev, channels, 1, 1, 0, affine)
        self.nodes = nn.ModuleList(
            CellNode(cell_type, node, channels, self.reduction, ops, affine) for node in range(2, 2 + num_nodes)
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in self.nodes:
            states.append(node(states, drop_prob))
        return torch.cat(states[2:], dim=1)


@register_space("darts")
class DartsSpace(SearchSpace, CellSpace):
    """The DARTS cell space; sized for 8x8 digits on a CPU or for CIFAR-10 at the paper's size.

    Paper sizes on CIFAR-10: search ``width=16, num_cells=8``; evaluation ``width=36, num_cells=20,
    auxiliary=True``. The ``arch`` dict does not depend on ``width`` or ``num_cells``, so an architecture found
    on the small network is evaluated on the large one.

    Parameters
    ----------
    input_shape
        (channels, height, width) of the images.
    num_classes
        Number of output classes.
    width
        Channels per node of the first cells (the paper's C); doubled at each reduction cell.
    num_cells
        Number of cells (at least 3); the cells at ``num_cells // 3`` and ``2 * num_cells // 3`` are reduction
        cells.
    num_nodes
        Intermediate nodes per cell (4 in the paper).
    stem_multiplier
        The stem convolution outputs ``stem_multiplier * width`` channels.
    ops
        Candidate operations of every edge, a subset of ``OPS`` with at least one operation besides ``none``.
    auxiliary
        Add the auxiliary classifier after the 2/3-depth cell (evaluation only). In training mode its logits
        are left in ``self.aux_logits`` for the training module; ``forward`` always returns the main logits.
    affine
        ``False`` builds the paper's search network (batch norm without affine parameters, normalised pooling).
    """

    def __init__(self, input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10, width: int = 16,
                 num_cells: int = 8, num_nodes: int = 4, stem_multiplier: int = 3, ops: tuple[str, ...] = OPS,
                 auxiliary: bool = False, affine: bool = True):
        super().__init__()
        ops = tuple(ops)
        unknown = [op for op in ops if op not in OPS]
        if unknown or not [op for op in ops if op != NONE]:
            raise ConfigError(f"ops {list(ops)} must be a subset of {OPS} with at least one op besides 'none'")
        if num_cells < 3:
            raise ConfigError(f"num_cells must be at least 3 (normal cells besides the two reduction cells), "
                             f"got {num_cells}")
        if num_nodes < 1:
            raise ConfigError(f"num_nodes must be at least 1, got {num_nodes}")
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.num_nodes = num_nodes
        self.ops = ops
        self.drop_path_prob = 0.0  # set per epoch by the evaluation's drop-path schedule
        self.aux_logits: torch.Tensor | None = None

        c_stem = stem_multiplier * width
        self.stem = nn.Sequential(nn.Conv2d(input_shape[0], c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem))
        reduction_cells = (num_cells // 3, 2 * num_cells // 3)
        self.aux_after = reduction_cells[1]
        c_prev_prev, c_prev, channels = c_stem, c_stem, width
        cells, reduction_prev = [], False
        for index in range(num_cells):
            reduction = index in reduction_cells
            channels = channels * 2 if reduction else channels
            cell_type = "reduce" if reduction else "normal"
            cells.append(Cell(cell_type, num_nodes, c_prev_prev, c_prev, channels, reduction_prev, ops, affine))
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, num_nodes * channels
            if index == self.aux_after:
                c_aux = c_prev
        self.cells = nn.ModuleList(cells)
        self.auxiliary_head = AuxiliaryHead(c_aux, num_classes) if auxiliary else None
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        self.aux_logits = None
        for index, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if index == self.aux_after and self.auxiliary_head is not None and self.training:
                self.aux_logits = self.auxiliary_head(s1)
        return self.classifier(torch.flatten(self.pool(s1), 1))

    # ------------------------------------------------------------------------------------ the arch dict
    def freeze(self, sample: dict[str, Any]) -> nn.Module:
        """The network for ``sample``, without the edges it does not use (no parameters, no FLOPs there)."""
        model = super().freeze(sample)
        for module in model.modules():
            if isinstance(module, CellNode):
                module.drop_unused_edges()
        return model

    def node_range(self) -> range:
        """Numbers of the intermediate nodes (2 .. num_nodes + 1)."""
        return range(2, 2 + self.num_nodes)

    def cell_edges(self) -> dict[str, list[str]]:
        """For every input-choice label, the op label of the edge from each candidate source, in order.

        DARTS derives the inputs of a node from the weights of these edges' operations.
        """
        return {input_label(cell, node): [op_label(cell, node, source) for source in range(node)]
                for cell in CELL_TYPES for node in self.node_range()}

    def inactive_labels(self, arch: dict[str, Any]) -> list[str]:
        """Op labels of edges whose source the node does not take: their values do not change the network."""
        inactive = []
        for inputs, edge_labels in self.cell_edges().items():
            chosen = arch.get(inputs, range(len(edge_labels)))
            inactive += [label for source, label in enumerate(edge_labels) if source not in chosen]
        return inactive

    def genotype(self, arch: dict[str, Any]) -> Genotype:
        """``arch`` in the paper's notation: per node, its two ``(op, source)`` pairs, sources in order."""
        cells = {}
        for cell in CELL_TYPES:
            cells[cell] = [(arch[op_label(cell, node, source)], source)
                           for node in self.node_range() for source in sorted(arch[input_label(cell, node)])]
        concat = range(2, 2 + self.num_nodes)
        return Genotype(cells["normal"], concat, cells["reduce"], concat)

    def arch_from_genotype(self, genotype: Genotype) -> dict[str, Any]:
        """The ``arch`` dict of a genotype in the paper's notation (e.g. a published cell), inactive edges set
        to their first operation. Inverse of :meth:`genotype`."""
        arch: dict[str, Any] = {}
        for cell, pairs in (("normal", genotype.normal), ("reduce", genotype.reduce)):
            if len(pairs) != INPUTS_PER_NODE * self.num_nodes:
                raise InvalidArchError(f"the {cell} cell lists {len(pairs)} edges; this space has {self.num_nodes} "
                                       f"nodes of {INPUTS_PER_NODE} inputs ({INPUTS_PER_NODE * self.num_nodes} edges)")
            for position, node in enumerate(self.node_range()):
                node_pairs = pairs[INPUTS_PER_NODE * position: INPUTS_PER_NODE * (position + 1)]
                sources = sorted(source for _, source in node_pairs)
                arch[input_label(cell, node)] = sources
                for source in range(node):
                    arch[op_label(cell, node, source)] = self.ops[0]
                for op, source in node_pairs:
                    arch[op_label(cell, node, source)] = op
        return arch
