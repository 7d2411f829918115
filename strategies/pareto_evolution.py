"""Multi-objective aging evolution: regularised evolution (Real, Aggarwal, Huang, Le, "Regularized Evolution for
Image Classifier Architecture Search", AAAI 2019, Algorithm 1) whose tournament ranks by NSGA-II's non-dominated
sorting and crowding distance (Deb, Pratap, Agarwal, Meyarivan, "A Fast and Elitist Multiobjective Genetic
Algorithm: NSGA-II", IEEE TEC 2002, sections III-A and III-B)."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from nni_nas.config import Settings, is_int
from nni_nas.errors import ConfigError
from nni_nas.results.pareto import (
    Cost,
    Objective,
    check_metrics,
    cost_of,
    crowded_order,
    non_dominated_sort,
    parse_objectives,
    rank_and_crowding,
)
from strategies.base import RESULT_KEYS, Individual
from strategies.evolution import RegularizedEvolutionTuner

_logger = logging.getLogger(__name__)

FRONT_FILE = "pareto_front.json"
# what a trained trial reports besides RESULT_KEYS (nni_nas.evaluation.training); table lookups report neither
TRAINED_KEYS = ("latency_ms", "train_seconds")


def _default_objectives() -> list[dict[str, str]]:
    return [{"metric": "val_acc", "mode": "max"}, {"metric": "params", "mode": "min"}]


@dataclass
class ParetoEvolutionSettings(Settings):
    """The multi-objective evolution's own settings (see :class:`ParetoEvolutionTuner`)."""

    section: ClassVar[str] = "Pareto evolution"

    population_size: int = 20
    sample_size: int = 5
    objectives: list[dict[str, str]] = field(default_factory=_default_objectives)

    def value_problems(self) -> list[str]:
        problems = []
        population_ok = is_int(self.population_size, 2) and self.population_size <= 100_000
        if not population_ok:
            problems.append(f"need population_size from 2 to 100000 (an integer), got {self.population_size!r}")
        if not is_int(self.sample_size, 2) or (population_ok and self.sample_size > self.population_size):
            problems.append(f"need 2 <= sample_size <= population_size "
                            f"({self.population_size if population_ok else 'at most 100000'}), got "
                            f"{self.sample_size!r} (a tournament of one is random selection)")
        try:
            parse_objectives(self.objectives)
        except ConfigError as err:
            problems.append(str(err))
        return problems


class ParetoEvolutionTuner(RegularizedEvolutionTuner):
    """Aging evolution towards the whole front of several objectives, as an NNI tuner.

    The loop is inherited from regularised evolution (:class:`strategies.evolution.RegularizedEvolutionTuner`,
    Algorithm 1 of Real et al.): the first ``population_size`` architectures are random; afterwards each new one is
    a one-label mutation of the winner of a tournament among ``sample_size`` individuals drawn uniformly from the
    population, and when a result arrives the newest individual joins the population and the **oldest** leaves it
    (the same ``population_size < maxTrialNumber`` rule). Only the tournament changes: the population is
    sorted into non-dominated fronts and each individual gets its crowding distance within its front (NSGA-II,
    Deb et al. 2002, III-A and III-B), and the winner is the best of the sample by the crowded-comparison operator:
    the lower front wins, and within one front the larger crowding distance (a sparser part of the front).

    A trial that failed, or whose result lacks an objective, is worse than every measured one: it is never a parent
    while a measured individual is in the sample, and it ages out.

    After every result the non-dominated architectures of everything evaluated so far (the archive, not only the
    living population) are written to ``<experiment folder>/pareto_front.json`` (atomically: a temporary file
    renamed). On ``nnictl resume`` the history, population and front are rebuilt from NNI's records. The portal
    still shows one ``default`` per trial (the validation accuracy); ``nni-nas top --pareto`` prints the front.

    Parameters
    ----------
    objectives
        Keys of the trials' final result and their direction, e.g.
        ``[{metric: val_acc, mode: max}, {metric: params, mode: min}]`` (the default). At least two; ``flops``,
        ``test_acc`` and, for trained trials, ``latency_ms`` are other choices.
    population_size
        Size of the aging population P.
    sample_size
        Tournament size S, ``2 <= S <= P``.
    **kwargs
        Common tuner settings: ``space``, ``space_args``, ``data``, ``data_args``, ``train``, ``evaluator``,
        ``seed`` (see :class:`strategies.base.NasTuner`). ``metric`` and ``optimize_mode`` are single-objective
        settings and are refused here: ``objectives`` replaces them.
    """

    settings_class = ParetoEvolutionSettings

    def __init__(self, space: str, **kwargs: Any):
        for key in ("metric", "optimize_mode"):
            if key in kwargs:
                raise ConfigError(f"{key} is a single-objective setting; NasParetoEvolution ranks by objectives "
                                  f"(e.g. objectives: [{{metric: val_acc, mode: max}}, {{metric: params, mode: min}}])")
        super().__init__(space, **kwargs)
        self.objectives: tuple[Objective, ...] = parse_objectives(self.settings.objectives)
        table = (kwargs.get("evaluator") or {}).get("kind") == "benchmark"
        known = RESULT_KEYS if table else RESULT_KEYS + TRAINED_KEYS
        check_metrics(self.objectives, known, "objectives",
                      "of a " + ("table lookup's result" if table else "trained trial's final result"))

    # ------------------------------------------------------------------------------------------ selection
    def tournament(self, sample: list[Individual]) -> Individual:
        """The winner of ``sample`` by the crowded-comparison operator, ranks and distances taken over the whole
        population (NSGA-II ranks the population, then compares); ties go to the first drawn."""
        order = self.crowded_order()
        return min(sample, key=lambda individual: order[id(individual)])

    def crowded_order(self) -> dict[int, tuple[int, float]]:
        """id(individual) -> its crowded-comparison key in the current population; unmeasured ones last."""
        measured = [ind for ind in self.population if self.cost(ind) is not None]
        rank, crowd = rank_and_crowding([self.cost(ind) for ind in measured])
        order = {id(ind): crowded_order(r, c) for ind, r, c in zip(measured, rank, crowd)}
        worst = (len(self.population) + 1, 0.0)
        return {id(ind): order.get(id(ind), worst) for ind in self.population}

    # ---------------------------------------------------------------------------------------- bookkeeping
    def cost(self, individual: Individual) -> Cost | None:
        """The individual's costs (smaller is better in each), None when it has no value for every objective."""
        return cost_of(individual.result, self.objectives)

    def on_result(self, individual: Individual) -> None:
        super().on_result(individual)  # aging: the oldest dies, whatever its front
        if not self._importing:
            self.write_front()

    _importing = False

    def import_data(self, data: list[dict[str, Any]]) -> None:
        self._importing = True
        try:
            super().import_data(data)
        finally:
            self._importing = False
        self.write_front()

    def front(self) -> list[Individual]:
        """The non-dominated individuals of everything evaluated so far, in evaluation order."""
        measured = [ind for ind in self.history if self.cost(ind) is not None]
        if not measured:
            return []
        return [measured[i] for i in non_dominated_sort([self.cost(ind) for ind in measured])[0]]

    def front_record(self) -> dict[str, Any]:
        """What :data:`FRONT_FILE` holds: the objectives, how many trials were seen, and the front."""
        return {
            "objectives": [{"metric": o.metric, "mode": o.mode} for o in self.objectives],
            "evaluated": len(self.history),
            "front": [{"trial_id": ind.trial_id, "arch": ind.arch,
                       "values": {o.metric: ind.result[o.metric] for o in self.objectives}}
                      for ind in self.front()],
        }

    def front_path(self) -> Path | None:
        """``<experiment folder>/pareto_front.json`` inside NNI's dispatcher (``NNI_LOG_DIRECTORY`` is the
        experiment's ``log`` folder); None elsewhere (in-process studies write nothing)."""
        log_dir = os.environ.get("NNI_LOG_DIRECTORY")
        return Path(log_dir).parent / FRONT_FILE if log_dir else None

    def write_front(self) -> None:
        path = self.front_path()
        if path is None:
            return
        partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
        try:
            partial.write_text(json.dumps(self.front_record(), indent=1))
            partial.replace(path)  # atomic: a reader sees the old front or the new one, never half a file
        except OSError as err:
            _logger.warning("could not write the Pareto front to %s: %s", path, err)
