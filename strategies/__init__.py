"""Search strategies. Multi-trial strategies are NNI tuners; one-shot strategies train a supernet inside one
trial. Each is registered by a short name (used by ``nni-nas register`` as NNI's ``builtinName``)."""

from __future__ import annotations

import importlib

# short name -> (NNI builtinName, class path)
STRATEGIES: dict[str, tuple[str, str]] = {
    "evolution": ("NasEvolution", "strategies.evolution.RegularizedEvolutionTuner"),
    "random": ("NasRandom", "strategies.random_search.RandomTuner"),
    "darts": ("NasDarts", "strategies.darts.DartsTuner"),
    "enas": ("NasEnas", "strategies.enas.EnasTuner"),
    "pnas": ("NasPnas", "strategies.pnas.PnasTuner"),
}


class UnknownStrategyError(KeyError):
    """Raised for a strategy (tuner) name or class that nni-nas does not know."""

    def __str__(self) -> str:
        return str(self.args[0])


def builtin_names() -> dict[str, str]:
    """NNI builtinName -> class path, for every strategy."""
    return {builtin: path for builtin, path in STRATEGIES.values()}


def resolve_class_path(class_path: str) -> type:
    """Import ``package.module.Class``; a clear error says what could not be found."""
    module_name, _, class_name = class_path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, class_name)
    except (ImportError, AttributeError, ValueError) as err:
        known = ", ".join(path for _, path in STRATEGIES.values())
        raise UnknownStrategyError(
            f"cannot import tuner class {class_path!r} ({err}); nni-nas offers: {known}") from None


def resolve_tuner(name: str | None = None, class_name: str | None = None) -> type:
    """The tuner class for a config's ``tuner.name`` (builtinName or short name) or ``tuner.className``."""
    if class_name:
        return resolve_class_path(class_name)
    for short, (builtin, path) in STRATEGIES.items():
        if name in (short, builtin):
            return resolve_class_path(path)
    known = ", ".join(f"{builtin} ({short})" for short, (builtin, _) in STRATEGIES.items())
    raise UnknownStrategyError(f"unknown strategy {name!r}; nni-nas strategies: {known}")
