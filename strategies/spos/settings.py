"""SPOS's settings (``tuner.classArgs``) and their checks, importable without torch: NNI's dispatcher builds the
tuner, which validates them, and must connect to the manager within 10 s.

Guo et al., "Single Path One-Shot Neural Architecture Search with Uniform Sampling", ECCV 2020.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from nni_nas.config import Settings, is_int, is_number


@dataclass
class SposSettings(Settings):
    """SPOS's own settings (``tuner.classArgs``); see :class:`strategies.spos.SposTuner` for each one."""

    section: ClassVar[str] = "SPOS"

    search_epochs: int | None = None
    population_size: int = 20
    generations: int = 5
    parents: int = 5
    mutation_prob: float = 0.1
    bn_batches: int = 20
    eval_batches: int | None = None
    retrain: bool = True
    retrain_epochs: int | None = None
    retrain_space_args: dict[str, Any] | None = None

    def value_problems(self) -> list[str]:
        checks = [
            ("search_epochs", self.search_epochs is None or is_int(self.search_epochs, 1)
             and self.search_epochs <= 100_000, "an integer from 1 to 100000, or null"),
            ("population_size", is_int(self.population_size, 2) and self.population_size <= 100_000,
             "an integer from 2 to 100000"),
            ("generations", is_int(self.generations, 1) and self.generations <= 100_000, "an integer from 1 to 100000"),
            ("parents", is_int(self.parents, 1) and self.parents <= 100_000, "an integer from 1 to 100000"),
            ("mutation_prob", is_number(self.mutation_prob) and 0 < self.mutation_prob <= 1, "a number in (0, 1]"),
            ("bn_batches", is_int(self.bn_batches, 0) and self.bn_batches <= 100_000, "an integer from 0 to 100000"),
            ("eval_batches", self.eval_batches is None or is_int(self.eval_batches, 1)
             and self.eval_batches <= 10_000_000, "an integer >= 1, or null (the whole validation split)"),
            ("retrain_epochs", self.retrain_epochs is None or is_int(self.retrain_epochs, 1)
             and self.retrain_epochs <= 100_000, "an integer from 1 to 100000, or null"),
        ]
        problems = [f"{key} must be {what}, got {getattr(self, key)!r}" for key, ok, what in checks if not ok]
        if is_int(self.parents, 1) and is_int(self.population_size, 2) and self.parents > self.population_size:
            problems.append(f"parents must be at most population_size ({self.population_size}), got {self.parents}")
        return problems
