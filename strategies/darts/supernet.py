"""DARTS's continuous relaxation of a cell space, and the derivation of a discrete architecture from it.

Liu, Simonyan, Yang, "DARTS: Differentiable Architecture Search", ICLR 2019, Sec. 2.2 and 2.4. The supernet is
the space itself with every ``LayerChoice`` replaced by a :class:`MixedOp` (eq. 1) and every ``InputChoice``
by a :class:`SummedInputs` (eq. 2: a node sums all its predecessors). Choices that share a label share one
vector of architecture weights alpha, so all normal cells share one alpha and all reduction cells another.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from nni.nas.nn.pytorch import InputChoice, LayerChoice, MutableModule
from torch import nn

from model_spaces.contract import CellSpace
from model_spaces.darts_ops import NONE, FactorizedReduce, Zero
from nni_nas.errors import UnsupportedSpaceError
from strategies.supernet.faster import use_faster_layers


class MixedOp(nn.Module):
    """Paper eq. (1): ``o_bar(x) = sum_o softmax(alpha)_o * o(x)`` over the candidate operations of one edge.

    ``alpha`` belongs to the supernet (it may be shared by many edges); this module only reads it.

    Computed with fewer operations than one call per candidate, the same values and gradients (up to the order of
    floating-point sums): the ``none`` candidate is skipped (its output is zero, so it adds nothing to the sum and
    its weight's gradient is zero; its weight still enters the softmax), the ReLU that the convolutions and the
    factorized reduction all begin with is computed once per edge, and the weighted sum is one stacked product
    instead of a multiplication and an addition per candidate. On a CPU a supernet step is bound by the number of
    small operations dispatched, so each one saved counts (``benchmarks/darts_step.py``).
    """

    def __init__(self, label: str, names: list[str], ops: list[nn.Module], alpha: nn.Parameter):
        super().__init__()
        self.label = label
        self.names = names
        self.ops = nn.ModuleList(ops)
        self._alpha = [alpha]  # in a list, so the shared parameter is not registered once per edge
        self._plan = [(index, *_after_relu(op)) for index, op in enumerate(ops) if not isinstance(op, Zero)]
        self._zero = next((op for op in ops if isinstance(op, Zero)), None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self._alpha[0], dim=-1)
        relu = None
        outputs, indices = [], []
        for index, reads_relu, run in self._plan:
            if reads_relu and relu is None:
                relu = F.relu(x)
            outputs.append(run(relu if reads_relu else x))
            indices.append(index)
        if not outputs:  # only `none`
            return self._zero(x) * weights.sum()
        if len(outputs) == 1:
            return outputs[0] * weights[indices[0]]
        chosen = weights if len(indices) == len(weights) else weights[indices]
        stacked = torch.stack(outputs)
        return (stacked * chosen.view(-1, *([1] * (stacked.dim() - 1)))).sum(0)


def _after_relu(op: nn.Module) -> tuple[bool, Any]:
    """``(True, f)`` when ``op`` begins with a ReLU, ``f`` running the rest of it on an input already through that
    ReLU; ``(False, op)`` otherwise."""
    if isinstance(op, FactorizedReduce):
        if type(op.relu) is nn.ReLU:
            return True, functools.partial(_factorized_reduce_after_relu, op)
        return False, op
    chain = []
    module = op
    while isinstance(module, nn.Sequential) and len(module) and type(module[0]) is not nn.ReLU:
        chain.append(module)
        module = module[0]
    if not (isinstance(module, nn.Sequential) and len(module) and type(module[0]) is nn.ReLU):
        return False, op
    chain.append(module)

    def run(x: torch.Tensor) -> torch.Tensor:
        # the innermost sequence without its ReLU, then the rest of each enclosing sequence
        for layer in list(chain[-1])[1:]:
            x = layer(x)
        for outer in reversed(chain[:-1]):
            for layer in list(outer)[1:]:
                x = layer(x)
        return x

    return True, run


def _factorized_reduce_after_relu(op: FactorizedReduce, x: torch.Tensor) -> torch.Tensor:
    shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
    return op.bn(torch.cat([op.conv_even(x), op.conv_odd(shifted)], dim=1))


class SummedInputs(nn.Module):
    """Paper eq. (2): an intermediate node is the sum of (the mixed operations on) all its predecessors."""

    def __init__(self, label: str, n_chosen: int):
        super().__init__()
        self.label = label
        self.n_chosen = n_chosen

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return sum(inputs)


class DartsSupernet(nn.Module):
    """A model space relaxed for DARTS: network weights ``w`` (the space's parameters) and architecture
    weights ``alpha`` (one vector per ``LayerChoice`` label, initialised to ``1e-3 * N(0, 1)`` as in the paper).

    Parameters
    ----------
    space
        A fresh space instance; it is relaxed in place and owned by the supernet from then on. Its decisions
        must be ``LayerChoice`` and ``InputChoice`` (sum reduction) only, and the space must say which edge
        feeds each input choice (a :class:`model_spaces.contract.CellSpace`, such as ``space: darts``).
    """

    def __init__(self, space: nn.Module):
        super().__init__()
        if not isinstance(space, CellSpace):
            raise UnsupportedSpaceError(
                f"space {type(space).__name__} is not a CellSpace; DARTS derives each node's inputs from its edges' "
                "operation weights, so it needs a cell space such as `space: darts`")
        self.space = space
        self.alphas = nn.ParameterDict()
        self.op_names: dict[str, list[str]] = {}
        self.input_choices: dict[str, int] = {}
        self._relax(space)
        remaining = [name for name, module in space.named_modules() if isinstance(module, MutableModule) and name]
        if remaining:
            raise UnsupportedSpaceError(
                f"DARTS relaxes LayerChoice and InputChoice only; the space also has {remaining[:3]} "
                "(e.g. nni.choice widths or Repeat): use a multi-trial strategy for it, or `space: darts`")
        use_faster_layers(space)  # the same values and gradients, faster (strategies/supernet/faster.py)

    def _relax(self, module: nn.Module) -> None:
        for name, child in list(module.named_children()):
            if isinstance(child, LayerChoice):
                label = child.label
                names = [str(n) for n in child.names]
                if label not in self.alphas:
                    self.alphas[label] = nn.Parameter(1e-3 * torch.randn(len(names)))
                    self.op_names[label] = names
                elif self.op_names[label] != names:
                    raise UnsupportedSpaceError(f"LayerChoice {label!r} appears with different candidates")
                for candidate in child:
                    self._relax(candidate)
                setattr(module, name, MixedOp(label, names, list(child), self.alphas[label]))
            elif isinstance(child, InputChoice):
                if child.reduction != "sum":
                    raise UnsupportedSpaceError(f"InputChoice {child.label!r} reduces by {child.reduction!r}; DARTS "
                                                "sums a node's inputs (eq. 2), so it needs reduction='sum'")
                self.input_choices[child.label] = child.n_chosen
                setattr(module, name, SummedInputs(child.label, child.n_chosen))
            else:
                self._relax(child)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.space(x)

    def arch_parameters(self) -> list[nn.Parameter]:
        """The architecture weights alpha, one tensor per label."""
        return list(self.alphas.values())

    def weight_parameters(self) -> list[nn.Parameter]:
        """The network weights w (everything but alpha)."""
        return [p for p in self.space.parameters() if p.requires_grad]

    def alpha_softmax(self) -> dict[str, dict[str, float]]:
        """Per label, the softmax of alpha by operation name (what the history and the picture show)."""
        return {label: dict(zip(self.op_names[label], torch.softmax(alpha.detach().cpu(), -1).tolist()))
                for label, alpha in self.alphas.items()}

    def derive_architecture(self) -> dict[str, Any]:
        """The discrete architecture of the current alphas (see :func:`derive_architecture`)."""
        return derive_architecture(self.alpha_softmax(), self.space.cell_edges(), self.input_choices)


def derive_architecture(weights: dict[str, dict[str, float]], cell_edges: dict[str, list[str]],
                        input_choices: dict[str, int]) -> dict[str, Any]:
    """Paper Sec. 2.4: the discrete ``arch`` dict from the operation weights (softmax of alpha) of every edge.

    For each intermediate node keep the ``n_chosen`` (2) incoming edges whose strongest non-``none`` operation
    is strongest (ties: the earlier source), and on each kept edge its strongest non-``none`` operation.
    Edges that are not kept get their first operation (their value does not change the network; this is the
    canonical form the multi-trial tuners use). A ``LayerChoice`` outside any cell edge gets its strongest
    non-``none`` operation.

    Parameters
    ----------
    weights
        Label -> {operation name -> weight}.
    cell_edges
        Input-choice label -> the op label of the edge from each candidate source, in source order.
    input_choices
        Input-choice label -> how many inputs the node takes.
    """
    arch: dict[str, Any] = {}
    for inputs, edge_labels in cell_edges.items():
        strengths = [_strongest(weights[label]) for label in edge_labels]
        n_chosen = input_choices.get(inputs, 2)
        ranked = sorted(range(len(edge_labels)), key=lambda source: (-strengths[source][1], source))
        kept = sorted(ranked[:n_chosen])
        arch[inputs] = kept
        for source, label in enumerate(edge_labels):
            arch[label] = strengths[source][0] if source in kept else next(iter(weights[label]))
    for label, op_weights in weights.items():
        arch.setdefault(label, _strongest(op_weights)[0])
    return arch


def _strongest(op_weights: dict[str, float]) -> tuple[str, float]:
    candidates = [(name, w) for name, w in op_weights.items() if name != NONE]
    if not candidates:
        raise UnsupportedSpaceError(f"an edge offers only {list(op_weights)}; DARTS needs an op besides 'none'")
    return max(candidates, key=lambda item: item[1])


def ranked_derivations(weights: dict[str, dict[str, float]], cell_edges: dict[str, list[str]],
                       input_choices: dict[str, int]) -> Iterator[dict[str, Any]]:
    """Every discrete architecture the paper's derivation can give, strongest first: by the sum, over the kept edges
    of every node (and every ``LayerChoice`` outside the cells), of the log weight of the chosen non-``none``
    operation. The first is :func:`derive_architecture`'s (keeping each node's two edges whose strongest operation
    is strongest maximises that sum); the next ones give up as little weight as possible.

    Each node is one decision (which inputs, which operation on each), its options sorted by score; the
    architectures come out of a best-first walk over the options' ranks (a heap of rank vectors), in exact order.
    Used to derive the strongest architecture within a budget (:func:`derive_within`).
    """
    decisions: list[list[tuple[float, dict[str, Any]]]] = []
    in_cells: set[str] = set()
    for inputs, edge_labels in cell_edges.items():
        in_cells.update(edge_labels)
        unused = {label: next(iter(weights[label])) for label in edge_labels}
        options = []
        for kept in itertools.combinations(range(len(edge_labels)), input_choices.get(inputs, 2)):
            per_edge = [[(name, w) for name, w in weights[edge_labels[source]].items() if name != NONE]
                        for source in kept]
            for ops in itertools.product(*per_edge):
                partial = {inputs: list(kept), **unused}
                partial.update({edge_labels[source]: name for source, (name, _) in zip(kept, ops)})
                options.append((sum(_log(w) for _, w in ops), partial))
        decisions.append(sorted(options, key=lambda option: -option[0]))
    for label, op_weights in weights.items():
        if label not in in_cells:
            options = [(_log(w), {label: name}) for name, w in op_weights.items() if name != NONE]
            decisions.append(sorted(options, key=lambda option: -option[0]))
    start = (0,) * len(decisions)
    heap, queued = [(0.0, start)], {start}
    while heap:
        loss, ranks = heapq.heappop(heap)
        arch: dict[str, Any] = {}
        for options, rank in zip(decisions, ranks):
            arch.update(options[rank][1])
        yield arch
        for i, rank in enumerate(ranks):
            if rank + 1 < len(decisions[i]):
                step = ranks[:i] + (rank + 1,) + ranks[i + 1:]
                if step not in queued:
                    queued.add(step)
                    heapq.heappush(heap, (loss + decisions[i][rank][0] - decisions[i][rank + 1][0], step))


def _log(weight: float) -> float:
    return math.log(max(weight, 1e-300))


def derive_within(weights: dict[str, dict[str, float]], cell_edges: dict[str, list[str]],
                  input_choices: dict[str, int], fits: Any, max_candidates: int = 300
                  ) -> tuple[dict[str, Any] | None, int]:
    """The strongest derivation (:func:`ranked_derivations`) for which ``fits(arch)`` is true, and how many were
    looked at; ``(None, count)`` when none of the ``max_candidates`` strongest fits."""
    count = 0
    for arch in itertools.islice(ranked_derivations(weights, cell_edges, input_choices), max_candidates):
        count += 1
        if fits(arch):
            return arch, count
    return None, count
