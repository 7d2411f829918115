"""Search strategies, and the one registry that answers "which class is this strategy?".

Multi-trial strategies (:mod:`strategies.evolution`, :mod:`strategies.random_search`,
:mod:`strategies.pareto_evolution`, :mod:`strategies.pnas`, :mod:`strategies.local_search`, :mod:`strategies.tpe`,
:mod:`strategies.grid_search`, :mod:`strategies.bananas`, :mod:`strategies.hyperband`) are
NNI tuners that propose one architecture per trial; one-shot strategies (:mod:`strategies.darts`,
:mod:`strategies.enas`) train a supernet inside each trial. Every strategy has a short name (``evolution``), the
``builtinName`` that ``nni-nas register`` gives it in NNI (``NasEvolution``) and a class path
(``strategies.evolution.RegularizedEvolutionTuner``); a config names it by any of the three.

This module imports no torch: NNI's dispatcher and the CLI read it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from nni_nas.errors import UnknownStrategyError, did_you_mean


@dataclass(frozen=True)
class Strategy:
    """One registered strategy: its names, its tuner class and its kind (``multi-trial`` or ``one-shot``)."""

    name: str
    builtin_name: str
    class_path: str
    kind: str

    def tuner_class(self) -> type:
        """The tuner class (imported on first use)."""
        return resolve_class_path(self.class_path)


STRATEGIES: dict[str, Strategy] = {entry.name: entry for entry in (
    Strategy("evolution", "NasEvolution", "strategies.evolution.RegularizedEvolutionTuner", "multi-trial"),
    Strategy("random", "NasRandom", "strategies.random_search.RandomTuner", "multi-trial"),
    Strategy("pareto", "NasParetoEvolution", "strategies.pareto_evolution.ParetoEvolutionTuner", "multi-trial"),
    Strategy("pnas", "NasPnas", "strategies.pnas.PnasTuner", "multi-trial"),
    Strategy("local_search", "NasLocalSearch", "strategies.local_search.LocalSearchTuner", "multi-trial"),
    Strategy("tpe", "NasTpe", "strategies.tpe.TpeTuner", "multi-trial"),
    Strategy("grid", "NasGrid", "strategies.grid_search.GridTuner", "multi-trial"),
    Strategy("bananas", "NasBananas", "strategies.bananas.BananasTuner", "multi-trial"),
    Strategy("hyperband", "NasHyperband", "strategies.hyperband.HyperbandTuner", "multi-trial"),
    Strategy("darts", "NasDarts", "strategies.darts.DartsTuner", "one-shot"),
    Strategy("enas", "NasEnas", "strategies.enas.EnasTuner", "one-shot"),
    Strategy("spos", "NasSpos", "strategies.spos.SposTuner", "one-shot"),
    Strategy("gdas", "NasGdas", "strategies.gdas.GdasTuner", "one-shot"),
    Strategy("proxyless", "NasProxyless", "strategies.proxyless.ProxylessTuner", "one-shot"),
)}


def strategy_names() -> list[str]:
    """Short names of every strategy, in the registry's order."""
    return list(STRATEGIES)


def get_strategy(name: str) -> Strategy:
    """The strategy called ``name``: its short name, its NNI ``builtinName`` or its class path."""
    for entry in STRATEGIES.values():
        if name in (entry.name, entry.builtin_name, entry.class_path):
            return entry
    known = ", ".join(f"{entry.builtin_name} ({entry.name})" for entry in STRATEGIES.values())
    names = [n for entry in STRATEGIES.values() for n in (entry.name, entry.builtin_name)]
    raise UnknownStrategyError(f"unknown strategy {name!r}{did_you_mean(name, names)}; nni-nas strategies: {known} "
                               "(run `nni-nas register` once so that nnictl knows their names too)")


def class_path_of(tuner: dict[str, Any]) -> str:
    """The tuner class path of a config's ``tuner`` section: its ``className``, or the class of its ``name``."""
    if tuner.get("className"):
        return str(tuner["className"])
    return get_strategy(str(tuner.get("name"))).class_path


def strategy_of(tuner: dict[str, Any]) -> Strategy | None:
    """The registered strategy a config's ``tuner`` section runs, or None for a class nni-nas does not know."""
    try:
        return get_strategy(class_path_of(tuner))
    except UnknownStrategyError:
        return None


def strategy_label(tuner: dict[str, Any]) -> str:
    """A short, readable name of the strategy of a ``tuner`` section (``evolution``, or the foreign class name)."""
    entry = strategy_of(tuner)
    if entry is not None:
        return entry.name
    return str(tuner.get("className") or tuner.get("name") or "unknown").rsplit(".", 1)[-1]


def resolve_class_path(class_path: str) -> type:
    """Import ``package.module.Class``; a clear error says what could not be found."""
    module_name, _, class_name = class_path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, class_name)
    except (ImportError, AttributeError, ValueError) as err:
        known = ", ".join(entry.class_path for entry in STRATEGIES.values())
        raise UnknownStrategyError(
            f"cannot import tuner class {class_path!r} ({err}); nni-nas offers: {known}") from None


def resolve_tuner(tuner: dict[str, Any]) -> type:
    """The tuner class of a config's ``tuner`` section (``name`` or ``className``)."""
    return resolve_class_path(class_path_of(tuner))


def unsupported_reason(strategy: str, space: Any) -> str | None:
    """Why ``strategy`` cannot search ``space`` (a built space instance), or None when it can.

    Each tuner class says what it needs (:meth:`strategies.base.NasTuner.space_problem`); the spaces declare what
    they offer in :mod:`model_spaces.contract`.
    """
    return get_strategy(strategy).tuner_class().space_problem(space)
