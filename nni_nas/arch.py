"""The architecture dict, the one currency between tuner, trial, export and report.

An ``arch`` is a flat JSON dict: choice label -> chosen value. ``search_choices`` lists, for every label of
a space, the values it may take (an ``InputChoice`` that picks several inputs becomes one value per
combination, a sorted list), so a tuner can treat every decision the same way.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch and NNI's mutables are imported where used: tuners import this module at startup
    from torch import nn

from nni_nas.errors import InvalidArchError

Choices = dict[str, list[Any]]
# Keys a multi-fidelity tuner (strategies.hyperband) adds to a trial's parameters beside the architecture's labels: how
# many epochs this trial trains and which rung of successive halving it is. No space label starts with "_".
EPOCHS_KEY = "_epochs"
RUNG_KEY = "_rung"
FIDELITY_KEYS = (EPOCHS_KEY, RUNG_KEY)


def split_fidelity(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A trial's parameters as (the architecture, its fidelity: ``{"_epochs": 9, "_rung": 2}`` or empty)."""
    arch = {label: value for label, value in params.items() if label not in FIDELITY_KEYS}
    return arch, {key: params[key] for key in FIDELITY_KEYS if key in params}


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


def inactive_labels(space: nn.Module, arch: dict[str, Any]) -> list[str]:
    """Labels whose value does not change the network of ``arch``: what an nni-nas space declares
    (:meth:`model_spaces.contract.SearchSpace.inactive_labels`), and for any other NNI ``ModelSpace`` the labels used
    only inside blocks of a ``Repeat`` beyond its chosen depth (:func:`repeat_only_labels`)."""
    from model_spaces.contract import SearchSpace  # torch: imported where used (tuners import this module)

    if isinstance(space, SearchSpace):
        return list(space.inactive_labels(arch))
    return [label for label, places in repeat_only_labels(space).items()
            if all(repeat in arch and block >= _depth(arch[repeat]) for repeat, block in places)]


def _depth(value: Any) -> float:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else float("inf")


def repeat_only_labels(space: nn.Module) -> dict[str, list[tuple[str, int]]]:
    """Label -> every (Repeat label, block index) it is used in, for the labels of ``space`` used only inside the
    blocks of ``Repeat`` modules with a searched depth (a label used anywhere else is always active). Computed once
    per space instance."""
    cached = getattr(space, "_nni_nas_repeat_only", None)
    if cached is not None:
        return cached
    from nni.mutable import Categorical
    from nni.nas.nn.pytorch import MutableModule, Repeat

    def labels_in(module: nn.Module) -> set[str]:
        return {label for sub in module.modules() if isinstance(sub, MutableModule) for label in sub.simplify()}

    places: dict[str, list[tuple[str, int]]] = {}
    inside: set[int] = set()
    for module in space.modules():
        if isinstance(module, Repeat) and isinstance(module.depth_choice, Categorical):
            for index, block in enumerate(module.blocks):
                inside.update(id(sub) for sub in block.modules())
                for label in labels_in(block):
                    places.setdefault(label, []).append((module.depth_choice.label, index))
    outside = {label for sub in space.modules() if isinstance(sub, MutableModule) and id(sub) not in inside
               and not isinstance(sub, Repeat) and sub is not space for label in _own_labels(sub)}
    result = {label: where for label, where in places.items() if label not in outside}
    with contextlib.suppress(AttributeError):
        space._nni_nas_repeat_only = result  # a plain attribute: not a module, parameter or buffer
    return result


def _own_labels(module: nn.Module) -> set[str]:
    """The labels of ``module``'s own mutables (not its children's): what it decides by itself."""
    return {label for mutable in getattr(module, "mutables", []) for label in mutable.simplify()}


def canonical(space: nn.Module, choices: Choices, arch: dict[str, Any]) -> dict[str, Any]:
    """``arch`` with the labels the network does not use set to their first value (added when missing, so the
    active-only dict of :func:`active_arch` becomes a whole one again); two dicts with the same canonical form are
    the same network (:func:`inactive_labels`)."""
    out = dict(arch)
    for label in inactive_labels(space, arch):
        if label in choices:
            out[label] = choices[label][0]
    return out


def active_arch(space: nn.Module, arch: dict[str, Any]) -> dict[str, Any]:
    """``arch`` without the labels the network does not use: what the portal shows as the trial's parameters and
    ``arch.json`` holds (op3 of a depth-2 network is not part of it). :func:`canonical` restores the rest."""
    inactive = set(inactive_labels(space, arch))
    return {label: value for label, value in arch.items() if label not in inactive}


ENUMERATION_LIMIT = 1_000_000


def count_networks(space: nn.Module, choices: Choices, limit: int = ENUMERATION_LIMIT) -> int | None:
    """How many distinct networks the space holds: the number of distinct :func:`canonical` forms, counted by
    enumerating every dict when there are at most ``limit`` of them; None above that (a space without inactive
    labels holds exactly :func:`space_size` networks)."""
    from model_spaces.contract import SearchSpace

    size = space_size(choices)
    declared = isinstance(space, SearchSpace) and type(space).inactive_labels is not SearchSpace.inactive_labels
    if not declared and (isinstance(space, SearchSpace) or not repeat_only_labels(space)):
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
