"""The space contract: what every nni-nas search space is, and the capabilities a space may declare.

Every registered space subclasses :class:`SearchSpace` (an NNI ``ModelSpace``): its constructor takes
``input_shape``, ``num_classes`` and its own ``space_args``, it keeps ``input_shape``, and it answers
:meth:`~SearchSpace.example_input` and :meth:`~SearchSpace.inactive_labels`. A space that offers more says so by
also subclassing a capability, whose methods it must then implement:

- :class:`CellSpace`: cells that DARTS can relax (which edge feeds each node, the paper's genotype);
- :class:`ProgressiveSpace`: blocks that PNAS grows one at a time;
- :class:`TabularSpace`: architectures keyed like a published tabular benchmark;
- :class:`PathSpace`: one cell whose input-to-output paths describe it (BANANAS's path encoding).

Strategies and the glue ask ``isinstance(space, CellSpace)`` (or ``issubclass`` on the class), never
``hasattr``; which strategy needs which capability is said once, by each tuner's ``space_problem``.
"""

from __future__ import annotations

import abc
import warnings
from typing import Any, ClassVar

import torch

# NNI 3.0 probes every torch.nn class when its layers module is imported and warns about new torch classes it
# does not know (Buffer, LinearCrossEntropyOptions). The warning is harmless; filtered before NNI is imported.
warnings.filterwarnings("ignore", message=".*is found to be not a nn.Module.*")

from nni.nas.nn.pytorch import ModelSpace  # noqa: E402


class SearchSpace(ModelSpace):
    """Base class of every nni-nas space.

    Attributes
    ----------
    space_name
        The name the space is registered under (set by :func:`model_spaces.register_space`).
    input_rank
        Dimensions of one input: 3 for images ``(C, H, W)``, 2 for signals ``(C, L)``, 1 for byte-encoded texts
        ``(max_len,)``.
    input_shape
        The shape of one input, set by the constructor.
    not_relaxable
        Why a weighted mix of candidates (DARTS, GDAS, ProxylessNAS on a space that is not a cell space) cannot
        run this space, or None when it can.
    """

    space_name: ClassVar[str]
    input_rank: ClassVar[int] = 3
    not_relaxable: ClassVar[str | None] = None
    input_shape: tuple[int, ...]

    def example_input(self, batch_size: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
        """A batch the network accepts, for cost metrics and export checks: seeded normal noise of
        ``input_shape`` (spaces whose inputs are not real-valued override it)."""
        return torch.randn(batch_size, *self.input_shape, generator=generator)

    def inactive_labels(self, arch: dict[str, Any]) -> list[str]:
        """Labels whose value does not change the network of ``arch`` (a layer beyond the chosen depth).

        Two dicts that differ only there are the same network; tuners must not train it twice
        (:func:`nni_nas.arch.canonical`). Default: none.
        """
        return []


class CellSpace(abc.ABC):
    """Capability: the space is built of cells whose decisions DARTS can relax (``LayerChoice`` per edge,
    ``InputChoice`` with sum reduction per node)."""

    @abc.abstractmethod
    def cell_edges(self) -> dict[str, list[str]]:
        """Input-choice label -> the op label of the edge from each candidate source, in source order."""

    @abc.abstractmethod
    def genotype(self, arch: dict[str, Any]) -> Any:
        """``arch`` in the paper's notation (what DARTS prints, draws and records)."""


class ProgressiveSpace(abc.ABC):
    """Capability: the space grows block by block (PNAS, Liu et al. 2018); a cell with fewer blocks is a real
    network of the space whose later blocks are "not grown yet"."""

    @abc.abstractmethod
    def progressive_blocks(self) -> list[list[str]]:
        """The labels of each block, in growth order."""

    @abc.abstractmethod
    def fill_ungrown(self, arch: dict[str, Any], num_blocks: int) -> dict[str, Any]:
        """``arch`` with the blocks after the first ``num_blocks`` set to the space's "not grown" values."""


class TabularSpace(abc.ABC):
    """Capability: every architecture has the key a published tabular benchmark uses for it.

    ``benchmark_network`` is the input shape and number of classes the published table was measured with; the
    space's default arguments are the table's network sizes (what :mod:`model_spaces.costs` counts for it).
    """

    benchmark_network: ClassVar[dict[str, Any]] = {"input_shape": (3, 32, 32), "num_classes": 10}

    @staticmethod
    @abc.abstractmethod
    def to_benchmark_key(arch: dict[str, Any]) -> str:
        """The benchmark's key of ``arch`` (``ValueError`` for a dict that is not an architecture of the space)."""

    @staticmethod
    @abc.abstractmethod
    def from_benchmark_key(key: str) -> dict[str, Any]:
        """The architecture of a benchmark key."""


class PathSpace(abc.ABC):
    """Capability: an architecture is one cell, a DAG from an input node to an output node with an operation on
    each edge, so it is described by the operation sequences of its input-to-output paths: the path encoding of
    BANANAS (White, Neiswanger, Savani, AAAI 2021, Sec. 4), under which two cells that compute the same function
    through different node numberings are one point."""

    path_ops: ClassVar[tuple[str, ...]]  # the operations a path may go through (those that carry a signal)
    max_path_length: ClassVar[int]  # edges on the longest input-to-output path

    @abc.abstractmethod
    def cell_paths(self, arch: dict[str, Any]) -> list[tuple[str, ...]]:
        """The operation sequence of every input-to-output path of ``arch``'s cell that carries a signal (a path
        through an edge that outputs zeros carries none), each of ``path_ops``."""


CAPABILITIES: dict[str, type] = {"cells": CellSpace, "blocks": ProgressiveSpace, "tabular": TabularSpace,
                                 "paths": PathSpace}


def capabilities(space_cls: type) -> list[str]:
    """Names of the capabilities ``space_cls`` declares (``cells``, ``blocks``, ``tabular``, ``paths``)."""
    return [name for name, capability in CAPABILITIES.items() if issubclass(space_cls, capability)]
