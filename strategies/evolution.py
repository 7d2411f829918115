"""Regularised (aging) evolution: Real, Aggarwal, Huang, Le, "Regularized Evolution for Image Classifier
Architecture Search", AAAI 2019, Algorithm 1."""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from nni_nas.config import Settings, is_int
from strategies.base import Individual, NasTuner

_logger = logging.getLogger(__name__)


@dataclass
class EvolutionSettings(Settings):
    """Regularised evolution's own settings (see :class:`RegularizedEvolutionTuner`)."""

    section: ClassVar[str] = "evolution"

    population_size: int = 20
    sample_size: int = 5

    def value_problems(self) -> list[str]:
        problems = []
        population_ok = is_int(self.population_size, 2) and self.population_size <= 1_000_000
        if not population_ok:
            problems.append(f"population_size must be an integer from 2 to 1,000,000, got {self.population_size!r}")
        if not is_int(self.sample_size, 1) or (population_ok and self.sample_size > self.population_size):
            problems.append(f"sample_size must be an integer from 1 to population_size "
                            f"({self.population_size if population_ok else 'at most 1,000,000'}), got "
                            f"{self.sample_size!r}")
        return problems


class RegularizedEvolutionTuner(NasTuner):
    """Regularised evolution as an NNI tuner.

    Algorithm 1 of the paper: the first ``population_size`` architectures are random; afterwards each new
    architecture is a mutation of the best of ``sample_size`` individuals drawn uniformly from the population
    (tournament selection), and when a result arrives the newest individual joins the population and the
    **oldest** leaves it (aging), whatever its accuracy. The population is a queue ordered by the time results
    arrive, so with several concurrent trials it follows NNI's order of completion.

    A mutation changes exactly one label to a different value. An architecture is never evaluated twice
    (a repeated child is re-mutated, then replaced by a random one). A failed or NaN trial joins the
    population with the worst fitness, so it is never a parent and ages out.

    Parameters
    ----------
    population_size
        Size of the population P (paper: 100 on CIFAR-10; small values suit short CPU searches).
    sample_size
        Tournament size S (paper: 25); ``sample_size <= population_size``.
    **kwargs
        Common tuner settings: ``space``, ``space_args``, ``data``, ``data_args``, ``train``, ``seed``,
        ``optimize_mode``, ``metric`` (see :class:`strategies.base.NasTuner`).
    """

    settings_class = EvolutionSettings

    def __init__(self, space: str, **kwargs: Any):
        super().__init__(space, **kwargs)
        self.population_size = self.settings.population_size
        self.sample_size = self.settings.sample_size
        self.population: collections.deque[Individual] = collections.deque()

    def budget_problem(self, max_trials: int) -> str | None:
        """Why ``max_trials`` cannot run this evolution, or None: the first ``population_size`` trials are random,
        so with no more trials than that no child is ever mutated (random search under another name)."""
        if self.population_size >= max_trials:
            return (f"tuner.classArgs.population_size: {self.population_size} >= maxTrialNumber {max_trials}: "
                    "evolution would never leave its random start (the first population_size trials are random); "
                    "use population_size < maxTrialNumber (a few times smaller), or the random tuner")
        return None

    def propose(self) -> dict[str, Any]:
        # Until the population is full (counting trials still running) the paper starts from random models.
        if len(self.population) + len(self.pending) < self.population_size or not self.population:
            return self.random_arch()
        sample = self.rng.sample(list(self.population), min(self.sample_size, len(self.population)))
        return self.mutate(self.tournament(sample).arch)

    def tournament(self, sample: list[Individual]) -> Individual:
        """The parent: the fittest of ``sample`` (ties go to the first drawn)."""
        return max(sample, key=lambda individual: individual.fitness)

    def mutate(self, arch: dict[str, Any]) -> dict[str, Any]:
        """``arch`` with one label, drawn uniformly among labels that have alternatives, set to another value."""
        mutable = [label for label, values in self.choices.items() if len(values) > 1]
        label = self.rng.choice(mutable)
        child = dict(arch)
        child[label] = self.rng.choice([v for v in self.choices[label] if v != arch[label]])
        return child

    def on_result(self, individual: Individual) -> None:
        self.population.append(individual)
        while len(self.population) > self.population_size:
            self.population.popleft()  # aging: the oldest dies, not the worst
