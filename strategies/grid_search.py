"""Grid search: every architecture of the space once, in a fixed order (NNI's ``GridSearch`` tuner and its
``GridSearch`` NAS strategy, ``nni.nas.strategy.GridSearch``, over the flattened space)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from nni_nas.arch import arch_key, space_size
from nni_nas.config import Settings, is_int
from nni_nas.errors import ConfigError
from strategies.base import NasTuner

MAX_SIZE_LIMIT = 10**15


@dataclass
class GridSettings(Settings):
    """Grid search's own settings (see :class:`GridTuner`)."""

    section: ClassVar[str] = "grid"

    max_size: int = 100_000

    def value_problems(self) -> list[str]:
        if not is_int(self.max_size, 1) or self.max_size > MAX_SIZE_LIMIT:
            return [f"max_size must be an integer from 1 to {MAX_SIZE_LIMIT:,}, got {self.max_size!r}"]
        return []


class GridTuner(NasTuner):
    """Every architecture of the space, each once, in a fixed order, as an NNI tuner.

    The order is the product of the labels' values in the space's order, the last label changing fastest (as
    ``itertools.product``); an architecture whose canonical form was handed out already (a twin that differs only
    in labels its network does not use) is skipped, and so is one over ``max_params`` / ``max_flops``. When every
    architecture has been handed out the tuner ends the search the NNI way (``NoMoreTrialError``). On
    ``nnictl resume`` the walk starts again from the first architecture and skips every one NNI's records hold, so
    it goes on where it stopped.

    A space of more than ``max_size`` architectures (label-value dicts, twins included) is refused, by
    ``nni-nas check`` and by the tuner when NNI starts it, in one line that names its size.

    Parameters
    ----------
    max_size
        The most architectures a space may have (default 100,000; at most 10**15).
    **kwargs
        Common tuner settings: ``space``, ``space_args``, ``data``, ``data_args``, ``train``, ``seed``,
        ``optimize_mode``, ``metric``, ``constraints`` (see :class:`strategies.base.NasTuner`).
    """

    settings_class = GridSettings

    def __init__(self, space: str, **kwargs: Any):
        super().__init__(space, **kwargs)
        self.max_size = self.settings.max_size
        self._walk: Iterator[tuple[Any, ...]] | None = None

    def search_problem(self, space: Any) -> str | None:
        """The space (a built one) has more than ``max_size`` architectures: grid search would never finish it."""
        from nni_nas.arch import search_choices

        size = space_size(search_choices(space))
        if size > self.max_size:
            return (f"tuner.classArgs.max_size: space {self.space_name!r} has {size:,} architectures (label-value "
                    f"combinations), more than max_size {self.max_size:,}: grid search cannot enumerate it; use a "
                    "smaller space (space_args), another strategy (random, evolution, local_search), or raise max_size")
        return None

    def propose(self) -> dict[str, Any]:
        if self._walk is None:
            problem = self.search_problem(self.space)
            if problem:
                raise ConfigError(problem)
            self._walk = itertools.product(*self.choices.values())
        labels = list(self.choices)
        for values in self._walk:
            arch = self.canonical(dict(zip(labels, values)))
            key = arch_key(arch)
            if key in self.seen:
                continue
            if not self.feasible(arch):
                self.seen.add(key)
                self.infeasible.add(key)
                continue
            return arch
        from nni import NoMoreTrialError

        raise NoMoreTrialError(f"grid search handed out all {space_size(self.choices):,} architectures of space "
                               f"{self.space_name!r} ({len(self.infeasible)} over budget were skipped)")
