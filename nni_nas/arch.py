"""The architecture dict, the one currency between tuner, trial, export and report.

An ``arch`` is a flat JSON dict: choice label -> chosen value. ``search_choices`` lists, for every label of
a space, the values it may take (an ``InputChoice`` that picks several inputs becomes one value per
combination, a sorted list), so a tuner can treat every decision the same way.
"""

from __future__ import annotations

import itertools
import json
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch and NNI's mutables are imported where used: tuners import this module at startup
    from torch import nn

from nni_nas.errors import InvalidArchError

Choices = dict[str, list[Any]]


def search_choices(space: nn.Module) -> Choices:
    """Every label of ``space`` with the list of values it may take, in the space's own order."""
    from nni.mutable import Categorical, CategoricalMultiple

    choices: Choices = {}
    for label, mutable in space.simplify().items():
        if isinstance(mutable, CategoricalMultiple):
            values = list(mutable.values)
            sizes = [mutable.n_chosen] if mutable.n_chosen is not None else range(1, len(values) + 1)
            choices[label] = [list(combo) for size in sizes for combo in itertools.combinations(values, size)]
        elif isinstance(mutable, Categorical):
            choices[label] = list(mutable.values)
        else:
            raise InvalidArchError(
                f"label {label!r} is a {type(mutable).__name__}; nni-nas spaces support categorical choices "
                "(LayerChoice, InputChoice, Repeat, nni.choice) only"
            )
    return choices


def space_size(choices: Choices) -> int:
    """Number of distinct dicts in the space (an upper bound on distinct networks)."""
    return math.prod(len(values) for values in choices.values())


def canonical(space: nn.Module, choices: Choices, arch: dict[str, Any]) -> dict[str, Any]:
    """``arch`` with the labels the network does not use set to their first value (added when missing, so the
    active-only dict of :func:`active_arch` becomes a whole one again).

    Spaces whose decisions can be inactive (layers beyond a chosen depth) say which through
    :meth:`model_spaces.contract.SearchSpace.inactive_labels`; two dicts with the same canonical form are the same
    network. A plain NNI ``ModelSpace`` declares none.
    """
    from model_spaces.contract import SearchSpace  # torch: imported where used (tuners import this module)

    out = dict(arch)
    if not isinstance(space, SearchSpace):
        return out
    for label in space.inactive_labels(arch):
        if label in choices:
            out[label] = choices[label][0]
    return out


def active_arch(space: nn.Module, arch: dict[str, Any]) -> dict[str, Any]:
    """``arch`` without the labels the network does not use: what the portal shows as the trial's parameters and
    ``arch.json`` holds (op3 of a depth-2 network is not part of it). :func:`canonical` restores the rest."""
    from model_spaces.contract import SearchSpace

    if not isinstance(space, SearchSpace):
        return dict(arch)
    inactive = set(space.inactive_labels(arch))
    return {label: value for label, value in arch.items() if label not in inactive}


ENUMERATION_LIMIT = 1_000_000


def count_networks(space: nn.Module, choices: Choices, limit: int = ENUMERATION_LIMIT) -> int | None:
    """How many distinct networks the space holds: the number of distinct :func:`canonical` forms, counted by
    enumerating every dict when there are at most ``limit`` of them; None above that (a space without inactive
    labels holds exactly :func:`space_size` networks)."""
    from model_spaces.contract import SearchSpace

    size = space_size(choices)
    if not isinstance(space, SearchSpace) or type(space).inactive_labels is SearchSpace.inactive_labels:
        return size  # no label is ever inactive: every dict is its own network
    if size > limit:
        return None
    labels = list(choices)
    return len({arch_key(canonical(space, choices, dict(zip(labels, values))))
                for values in itertools.product(*choices.values())})


def validate_arch(choices: Choices, arch: Any) -> dict[str, Any]:
    """Check that ``arch`` sets every label of the space to one of its values; return it as a plain dict."""
    if not isinstance(arch, dict):
        raise InvalidArchError(f"an architecture must be a JSON object (label -> value), got {type(arch).__name__}")
    missing = [label for label in choices if label not in arch]
    unknown = [label for label in arch if label not in choices]
    bad = [
        f"{label}={arch[label]!r} (allowed: {choices[label]})"
        for label in choices
        if label in arch and _normalise(arch[label]) not in [_normalise(v) for v in choices[label]]
    ]
    problems = []
    if missing:
        problems.append(f"missing labels {missing}")
    if unknown:
        problems.append(f"unknown labels {unknown}")
    if bad:
        problems.append("values outside the space: " + "; ".join(bad))
    if problems:
        raise InvalidArchError(
            "architecture does not fit the space: " + ", ".join(problems)
            + " (run `nni-nas space <name>` to list the labels and values)"
        )
    return {label: _normalise(arch[label]) for label in choices}


def _normalise(value: Any) -> Any:
    # JSON turns tuples into lists; compare and store lists so a round-trip keeps the dict equal.
    if isinstance(value, tuple):
        return list(value)
    return value


def arch_key(arch: dict[str, Any]) -> str:
    """A stable string for an architecture (sorted keys), for de-duplication and as a dict key."""
    return json.dumps(arch, sort_keys=True, separators=(",", ":"))


def freeze(space_factory, arch: dict[str, Any]) -> nn.Module:
    """A concrete network for ``arch`` from a *fresh* space instance.

    A frozen NNI model shares its layers with the space it came from, so freezing the same space twice
    would give two networks with shared weights; ``space_factory`` builds a new space every call.
    """
    return space_factory().freeze(arch)


def describe(arch: dict[str, Any], limit: int = 80) -> str:
    """One-line summary of an architecture for tables: ``label=value`` pairs, shortened to ``limit`` chars."""
    text = " ".join(f"{label}={_short(value)}" for label, value in arch.items())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ",".join(str(v) for v in value) + "]"
    return str(value)
