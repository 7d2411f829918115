"""ENAS's shared weights: one instance of a model space whose every child runs on the same parameters.

Pham et al. (2018, Section 2) see all architectures of a space as subgraphs of one large graph, so a child reuses
the weights every earlier child trained. :class:`SharedWeightSupernet` builds that graph from any nni-nas space
written with ``LayerChoice`` and ``InputChoice``: each of them is replaced, in place, by a routing module that runs
the candidate (or picks the inputs) of the currently *active* architecture. The candidates themselves are the
space's own modules, so their weights are shared by every child that picks them.
"""

from __future__ import annotations

from typing import Any

import torch
from nni.nas.nn.pytorch import ChosenInputs, InputChoice, LayerChoice, MutableModule
from torch import nn

from nni_nas.arch import Choices, arch_key, search_choices, validate_arch
from nni_nas.errors import UnsupportedSpaceError
from strategies.supernet.faster import use_faster_layers


class RoutedLayerChoice(nn.Module):
    """Runs the candidate that the active architecture picks for ``label``; holds every candidate's weights."""

    def __init__(self, choice: LayerChoice, arch: dict[str, Any]):
        super().__init__()
        self.label = choice.label
        self.names = list(choice.names)
        self.candidates = nn.ModuleList(choice[name] for name in self.names)
        self._arch = arch  # the supernet's active architecture, shared by every routing module

    def active(self, arch: dict[str, Any] | None = None) -> nn.Module:
        """The candidate module chosen by ``arch`` (default: the active architecture)."""
        return self.candidates[self.names.index((arch or self._arch)[self.label])]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.active()(*args, **kwargs)


class RoutedInputChoice(nn.Module):
    """Selects (and reduces) the inputs that the active architecture picks for ``label``."""

    def __init__(self, choice: InputChoice, arch: dict[str, Any]):
        super().__init__()
        self.label = choice.label
        self.reduction = choice.reduction
        self._arch = arch

    def forward(self, candidate_inputs: list[torch.Tensor]) -> Any:
        chosen = self._arch[self.label]
        chosen = chosen if isinstance(chosen, list) else [chosen]
        return ChosenInputs._tensor_reduction(self.reduction, [candidate_inputs[i] for i in chosen])


class SharedWeightSupernet(nn.Module):
    """A model space turned into ENAS's shared-weight supernet.

    ``activate(arch)`` selects the child that the next forward passes run; only that child's weights take part in
    the forward pass and receive gradients.

    Parameters
    ----------
    space
        A *fresh* model space instance; it is modified in place (its choices become routing modules).

    Raises
    ------
    UnsupportedSpaceError
        When a label of the space is not a ``LayerChoice`` or ``InputChoice`` (e.g. an ``nni.choice`` width inside
        a ``MutableConv2d``, or a ``Repeat`` depth): those would need weight slicing, which ENAS does not define.
    """

    def __init__(self, space: nn.Module):
        super().__init__()
        self.choices: Choices = search_choices(space)
        unshareable = unshareable_labels(space)
        if unshareable:
            raise UnsupportedSpaceError(
                f"ENAS's shared-weight supernet routes LayerChoice and InputChoice only; labels {unshareable} of space "
                f"{type(space).__name__} are other choices (a width, a depth, ...). Fix them through space_args "
                "(e.g. a single width) or search this space with a multi-trial strategy")
        self._arch: dict[str, Any] = {}
        _route(space, self._arch)
        use_faster_layers(space)
        self.net = space
        self._param_cache: dict[str, int] = {}
        self.activate({label: values[0] for label, values in self.choices.items()})

    @property
    def arch(self) -> dict[str, Any]:
        """A copy of the active architecture."""
        return dict(self._arch)

    def activate(self, arch: dict[str, Any]) -> None:
        """Make ``arch`` the child that the next forward passes run."""
        if set(arch) != set(self.choices):
            arch = validate_arch(self.choices, arch)  # raises with the missing / unknown labels named
        self._arch.clear()
        self._arch.update(arch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def count_params(self, arch: dict[str, Any] | None = None) -> int:
        """Trainable parameters of the child ``arch`` (default: the active one).

        Equals ``count_params`` of the same architecture frozen from a fresh space: freezing keeps every module
        and replaces each choice by its chosen candidate, which is what this walk counts.
        """
        arch = self.arch if arch is None else arch
        key = arch_key(arch)
        if key not in self._param_cache:
            found: dict[int, int] = {}
            _collect_params(self.net, arch, found)
            self._param_cache[key] = sum(found.values())
        return self._param_cache[key]


def unshareable_labels(space: nn.Module) -> list[str]:
    """Labels of ``space`` that are not a ``LayerChoice`` or an ``InputChoice`` (a width inside a
    ``MutableConv2d``, a ``Repeat`` depth): weight sharing would need weight slicing for them, which ENAS does not
    define. Empty when the space can become a :class:`SharedWeightSupernet`; ``space`` is not modified."""
    routable = {module.label for module in space.modules() if isinstance(module, LayerChoice | InputChoice)}
    return [label for label in search_choices(space) if label not in routable]


def _route(module: nn.Module, arch: dict[str, Any]) -> None:
    for name, child in list(module.named_children()):
        if isinstance(child, LayerChoice):
            for candidate in child:
                _route(candidate, arch)
            setattr(module, name, RoutedLayerChoice(child, arch))
        elif isinstance(child, InputChoice):
            setattr(module, name, RoutedInputChoice(child, arch))
        elif isinstance(child, MutableModule) and child.mutables:
            labels = [getattr(m, "label", "?") for m in child.mutables]
            raise UnsupportedSpaceError(
                f"ENAS's shared-weight supernet cannot route {type(child).__name__} at {name!r} (labels {labels}); "
                "fix these choices through space_args or search this space with a multi-trial strategy"
            )
        else:
            _route(child, arch)


def _collect_params(module: nn.Module, arch: dict[str, Any], found: dict[int, int]) -> None:
    if isinstance(module, RoutedLayerChoice):
        _collect_params(module.active(arch), arch, found)
        return
    for param in module.parameters(recurse=False):
        if param.requires_grad:
            found[id(param)] = param.numel()
    for child in module.children():
        _collect_params(child, arch, found)
