"""Layers shared by several spaces: the searched layer of the repeated-layer spaces (``digits_cnn``, ``text_cnn``)
and their common base; global pooling over time (``text_cnn``, ``signal_cnn``)."""

from __future__ import annotations

from typing import Any

import torch
from nni.nas.nn.pytorch import LayerChoice
from torch import nn

from model_spaces.contract import SearchSpace
from nni_nas.errors import ConfigError

ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU, "gelu": nn.GELU}


class SearchLayer(nn.Module):
    """One searched layer: chosen op (label ``op{index}``), batch norm, chosen activation (label ``activation``).

    ``candidates`` are every op of the space by name, ``ops`` the ones searched; ``norm`` the batch norm (2-d
    for images, 1-d over time for texts).
    """

    def __init__(self, index: int, candidates: dict[str, nn.Module], ops: tuple[str, ...], norm: nn.Module,
                 activations: tuple[str, ...]):
        super().__init__()
        self.op = LayerChoice({name: candidates[name] for name in ops}, label=f"op{index}")
        self.bn = norm
        # The same label in every layer makes this one shared decision.
        self.act = LayerChoice({name: ACTIVATIONS[name]() for name in activations}, label="activation")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.op(x)))


def check_layer_args(ops: Any, known_ops: tuple[str, ...], activations: Any, widths: Any, min_depth: Any,
                     max_depth: Any) -> None:
    """One :class:`ConfigError` naming every bad argument of a repeated-layer space (unknown ops or activations,
    widths that are not positive integers, a depth range that is empty or starts below 1)."""
    problems = []
    if not isinstance(ops, list | tuple) or not ops or not isinstance(activations, list | tuple) or not activations:
        problems.append(f"ops and activations must be non-empty lists, got {ops!r} and {activations!r}")
    else:
        unknown = [op for op in ops if op not in known_ops] + [a for a in activations if a not in ACTIVATIONS]
        if unknown:
            problems.append(f"unknown ops/activations {unknown}; choose from {known_ops} and {tuple(ACTIVATIONS)}")
    if (not isinstance(widths, list | tuple) or not widths
            or not all(isinstance(w, int) and not isinstance(w, bool) and 1 <= w <= 4096 for w in widths)):
        problems.append(f"widths must be a non-empty list of channel counts from 1 to 4096, like [16, 32], "
                        f"got {widths!r}")
    depths_ok = all(isinstance(d, int) and not isinstance(d, bool) for d in (min_depth, max_depth))
    if not depths_ok or not 1 <= min_depth <= max_depth <= 64:
        problems.append(f"need 1 <= min_depth <= max_depth <= 64 (integers), got {min_depth!r} and {max_depth!r}")
    if problems:
        raise ConfigError("; ".join(problems))


class GlobalMaxPool(nn.Module):
    """Max over time: ``(N, C, L) -> (N, C)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=2)


class GlobalAvgPool(nn.Module):
    """Mean over time: ``(N, C, L) -> (N, C)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=2)


class RepeatedLayersSpace(SearchSpace):
    """A space whose searched layers ``op0`` .. ``op{max_depth-1}`` run up to the ``depth`` choice."""

    max_depth: int

    def inactive_labels(self, arch: dict[str, Any]) -> list[str]:
        """Labels of layers beyond ``depth``: they are not in the network, so their values do not matter
        and two dicts that differ only there are the same model (tuners must not train it twice)."""
        return [f"op{index}" for index in range(arch.get("depth", self.max_depth), self.max_depth)]
