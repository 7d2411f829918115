"""BANANAS: White, Neiswanger, Savani, "BANANAS: Bayesian Optimization with Neural Architectures for Neural
Architecture Search", AAAI 2021, Algorithm 1.

Algorithm 1 of the paper: evaluate ``t_0`` random architectures; then, each round, (1) train an ensemble of
networks on every (encoding, result) evaluated so far, (2) make a set of candidates by mutating the best
architectures so far, (3) score each candidate with an acquisition function of the ensemble's predictions and
(4) evaluate the ``k`` best-scored. The paper's settings: ``t_0 = 10``, ``k = 10`` (here 5 by default), 5 networks,
100 candidates, independent Thompson sampling, the path encoding. On NAS-Bench-101 at 150 queries it reaches test
error 5.92 against regularised evolution's 6.11 (White, Nolen, Savani 2021, Table 1).
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from nni_nas.arch import arch_key
from nni_nas.config import Settings, is_int, is_number
from nni_nas.errors import ConfigError, did_you_mean
from strategies.bananas.acquisition import ACQUISITIONS, independent_thompson, upper_confidence_bound
from strategies.bananas.encoding import ENCODINGS, make_encoding
from strategies.bananas.predictor import MlpEnsemble
from strategies.base import Individual, NasTuner

if TYPE_CHECKING:
    from strategies.bananas.encoding import OneHotEncoding, PathEncoding

_logger = logging.getLogger(__name__)


@dataclass
class BananasSettings(Settings):
    """BANANAS's own settings (see :class:`BananasTuner`)."""

    section: ClassVar[str] = "BANANAS"

    initial: int = 10
    batch_size: int = 5
    candidates: int = 100
    random_candidates: int = 0
    parents: int = 10
    mutation_radius: int = 1
    ensemble_size: int = 5
    predictor_epochs: int = 100
    encoding: str = "auto"
    acquisition: str = "its"
    ucb_beta: float = 1.0

    def value_problems(self) -> list[str]:
        problems = []
        for key, most in (("initial", 1_000_000), ("batch_size", 10_000), ("candidates", 1_000_000),
                          ("parents", 10_000), ("mutation_radius", 1_000), ("ensemble_size", 100),
                          ("predictor_epochs", 100_000)):
            if not is_int(getattr(self, key), 1) or getattr(self, key) > most:
                problems.append(f"{key} must be an integer from 1 to {most:,}, got {getattr(self, key)!r}")
        if not is_int(self.random_candidates, 0) or self.random_candidates > 1_000_000:
            problems.append(f"random_candidates must be an integer from 0 to 1,000,000, got {self.random_candidates!r}")
        if is_int(self.batch_size, 1) and is_int(self.candidates, 1) and self.candidates < self.batch_size:
            problems.append(f"candidates must be at least batch_size ({self.batch_size}), got {self.candidates}")
        for key, allowed in (("encoding", ENCODINGS), ("acquisition", ACQUISITIONS)):
            value = getattr(self, key)
            if value not in allowed:
                hint = did_you_mean(value, allowed) if isinstance(value, str) else ""
                problems.append(f"{key} must be {', '.join(allowed[:-1])} or {allowed[-1]}, got {value!r}{hint}")
        if not is_number(self.ucb_beta) or self.ucb_beta < 0:
            problems.append(f"ucb_beta must be a number >= 0, got {self.ucb_beta!r}")
        return problems


class BananasTuner(NasTuner):
    """BANANAS as an NNI tuner: a predictor ensemble picks which mutations of the best architectures to train.

    1. **Start**: the first ``initial`` trials are random architectures (the paper's t_0 = 10).
    2. **Each round** (when the previous round's architectures are all handed out): fit an ensemble of
       ``ensemble_size`` small MLPs (:class:`strategies.bananas.predictor.MlpEnsemble`, each trained from scratch)
       on every architecture with a result, in the ``encoding`` (:mod:`strategies.bananas.encoding`: the path
       encoding on spaces that declare their cell's paths, as ``nasbench201`` does; one-hot per label on any other
       space); make ``candidates`` architectures by mutating the ``parents`` best evaluated ones (each candidate
       changes 1 to ``mutation_radius`` labels of one parent, the parents taken in turn); score them with the
       ``acquisition`` (:mod:`strategies.bananas.acquisition`) and hand out the ``batch_size`` best-scored (the
       paper's k) as the round's trials.

    No architecture is evaluated twice: candidates already evaluated, running or found over ``max_params`` /
    ``max_flops`` are never scored (over-budget ones are counted once and remembered); when no new mutation is
    left, the round draws random architectures instead. A failed or NaN trial counts as the worst result: never a
    parent, and left out of the predictor's data. On ``nnictl resume`` the history is imported (failed trials from
    NNI's records too); the random start goes on if it was not complete, then rounds go on from everything known.

    Parameters
    ----------
    initial
        Random architectures before the first round (the paper: 10).
    batch_size
        Architectures proposed per round, the paper's k. Default 5, not the paper's 10: on NAS-Bench-201 at 50
        queries (20 seeds searching cifar10-val, seeds 100-119, not the benchmark's) the best validation accuracy
        found was 84.30 ± 0.20 with 5 against 84.01 ± 0.17 with 10; a round refits the predictor on more results.
    candidates
        Mutations scored per round (the paper: 100).
    random_candidates
        Random architectures scored beside the mutations (default 0, the paper's pure mutation): a way off a plateau
        where every mutation of the best is as good as they are (our addition).
    parents
        How many of the best evaluated architectures are mutated.
    mutation_radius
        Most labels one mutation changes (1: the architecture's neighbours, as the paper's mutation).
    ensemble_size
        MLPs in the ensemble (the paper: 5).
    predictor_epochs
        Training passes of each MLP per round.
    encoding
        ``auto`` (default), ``path`` or ``one_hot``.
    acquisition
        ``its`` (independent Thompson sampling, the paper's) or ``ucb`` (mean + ``ucb_beta`` * std).
    ucb_beta
        The exploration weight of ``ucb``.
    **kwargs
        Common tuner settings: ``space``, ``space_args``, ``data``, ``data_args``, ``train``, ``seed``,
        ``optimize_mode``, ``metric``, ``constraints`` (see :class:`strategies.base.NasTuner`).
    """

    settings_class = BananasSettings

    def __init__(self, space: str, **kwargs: Any):
        super().__init__(space, **kwargs)
        self.queue: list[dict[str, Any]] = []
        self.rounds = 0
        self.np_rng = np.random.default_rng(self.seed)

    # The space, and what depends on it, is built on first use (see NasTuner).
    @functools.cached_property
    def encoding(self) -> OneHotEncoding | PathEncoding:
        problem = self.search_problem(self.space)
        if problem:
            raise ConfigError(problem)
        return make_encoding(self.settings.encoding, self.space, self.choices)

    @functools.cached_property
    def ensemble(self) -> MlpEnsemble:
        return MlpEnsemble(members=self.settings.ensemble_size, epochs=self.settings.predictor_epochs, seed=self.seed)

    def search_problem(self, space: Any) -> str | None:
        """``encoding: path`` needs a space that declares its cell's paths."""
        from model_spaces.contract import PathSpace

        if self.settings.encoding == "path" and not isinstance(space, PathSpace):
            return (f"tuner.classArgs.encoding: path needs a cell space that declares its input-to-output paths "
                    f"(nasbench201 does); {self.space_name!r} does not: use encoding: one_hot or auto")
        return None

    def budget_problem(self, max_trials: int) -> str | None:
        """The first ``initial`` trials are random; with no more trials than that the predictor never picks one."""
        if self.settings.initial >= max_trials:
            return (f"tuner.classArgs.initial: {self.settings.initial} >= maxTrialNumber {max_trials}: BANANAS "
                    "would never leave its random start; use initial < maxTrialNumber (a few times smaller), or the "
                    "random tuner")
        return None

    # ---------------------------------------------------------------------------------- proposals
    def propose(self) -> dict[str, Any]:
        if not self.queue and len(self.history) + len(self.pending) >= self.settings.initial:
            self.queue = self.next_round()
        return self.queue.pop(0) if self.queue else self.random_arch()

    def next_round(self) -> list[dict[str, Any]]:
        """The round's architectures, best-scored first; empty while fewer than 2 results are known (then random)."""
        known = [ind for ind in self.history if math.isfinite(ind.fitness)]
        if len(known) < 2:
            return []
        pool = self.mutations(self.best(known, self.settings.parents)) + self.random_candidates()
        candidates = list({arch_key(arch): arch for arch in pool}.values())
        if not candidates:
            _logger.info("BANANAS: every mutation of the best architectures is evaluated; random architectures")
            return []
        self.rounds += 1
        self.ensemble.fit(self.encoding.encode([ind.arch for ind in known]), np.array([ind.fitness for ind in known]))
        scores = self.acquire(self.ensemble.predict(self.encoding.encode(candidates)))
        ranked = [candidates[i] for i in np.argsort(-scores, kind="stable")]
        chosen = self._feasible_head(ranked, self.settings.batch_size)
        _logger.info("BANANAS round %d: %d results, %d candidates, %d chosen", self.rounds, len(known),
                     len(candidates), len(chosen))
        return chosen

    def acquire(self, predictions: np.ndarray) -> np.ndarray:
        """The acquisition function's score of each candidate (``predictions``: members x candidates)."""
        if self.settings.acquisition == "ucb":
            return upper_confidence_bound(predictions, self.settings.ucb_beta)
        return independent_thompson(predictions, self.np_rng)

    def mutations(self, parents: list[Individual]) -> list[dict[str, Any]]:
        """Up to ``candidates`` distinct canonical architectures, none evaluated, running or over budget before,
        each 1 to ``mutation_radius`` labels away from one of ``parents`` (taken in turn)."""
        mutable = [label for label, values in self.choices.items() if len(values) > 1]
        out: dict[str, dict[str, Any]] = {}
        if not mutable or not parents:
            return []
        for attempt in range(self.settings.candidates * 10):
            if len(out) >= self.settings.candidates:
                break
            child = dict(parents[attempt % len(parents)].arch)
            edits = self.rng.randint(1, min(self.settings.mutation_radius, len(mutable)))
            for label in self.rng.sample(mutable, edits):
                child[label] = self.rng.choice([v for v in self.choices[label] if v != child[label]])
            child = self.canonical(child)
            key = arch_key(child)
            if key not in self.seen:
                out.setdefault(key, child)
        return list(out.values())

    def random_candidates(self) -> list[dict[str, Any]]:
        """``random_candidates`` distinct canonical random architectures, none evaluated, running or over budget:
        candidates the acquisition may pick far from the best so far, where every mutation of the best is stuck on a
        plateau."""
        out: dict[str, dict[str, Any]] = {}
        for _ in range(self.settings.random_candidates * 10):
            if len(out) >= self.settings.random_candidates:
                break
            arch = self.canonical(self.random_arch())
            if arch_key(arch) not in self.seen:
                out.setdefault(arch_key(arch), arch)
        return list(out.values())

    def _feasible_head(self, ranked: list[dict[str, Any]], quota: int) -> list[dict[str, Any]]:
        """The first ``quota`` of ``ranked`` within ``max_params`` / ``max_flops`` (costs counted only as far down
        the ranking as needed); the others found on the way are remembered as over budget."""
        out = []
        for arch in ranked:
            if len(out) >= quota:
                break
            if self.feasible(arch):
                out.append(arch)
            else:
                self.seen.add(arch_key(arch))
                self.infeasible.add(arch_key(arch))
        return out

    @staticmethod
    def best(individuals: list[Individual], count: int) -> list[Individual]:
        return sorted(individuals, key=lambda ind: ind.fitness, reverse=True)[:count]

    # ------------------------------------------------------------------------------------- resume
    def import_data(self, data: list[dict[str, Any]]) -> None:
        """Restore the history (base class); the next proposal starts a round from it (or goes on with the random
        start while fewer than ``initial`` are known)."""
        super().import_data(data)
        self.queue = []
