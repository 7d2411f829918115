"""TPE over the flattened architecture dict, through NNI 3.0's own tuner: Bergstra, Bardenet, Bengio, Kégl,
"Algorithms for Hyper-Parameter Optimization", NeurIPS 2011 (the Tree-structured Parzen Estimator), as NNI's ``TPE``
NAS strategy (``nni.nas.strategy.TPE``) runs it: every label of the space one ``choice``.

TPE splits the results into the best ``gamma * sqrt(n)`` ("below", l(x)) and the rest ("above", g(x)), models each
label's values under both as smoothed counts, draws ``n_ei_candidates`` values from l and keeps the one with the
largest l(x) / g(x), the expected-improvement criterion of the paper (Sec. 4.1). Labels are modelled independently.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from nni_nas.arch import arch_key
from nni_nas.config import Settings, is_int, is_number
from strategies.base import Individual, NasTuner

_logger = logging.getLogger(__name__)
LIARS = ("best", "worst", "mean")


@dataclass
class TpeSettings(Settings):
    """TPE's own settings: NNI's ``TpeArguments`` (``nni.algorithms.hpo.tpe_tuner``), same names and defaults."""

    section: ClassVar[str] = "TPE"

    constant_liar_type: str | None = "best"
    n_startup_jobs: int = 20
    n_ei_candidates: int = 24
    linear_forgetting: int = 25
    prior_weight: float = 1.0
    gamma: float = 0.25

    def value_problems(self) -> list[str]:
        problems = []
        if self.constant_liar_type is not None and self.constant_liar_type not in LIARS:
            problems.append(f"constant_liar_type must be best, worst, mean or null, got {self.constant_liar_type!r}")
        for name, most in (("n_startup_jobs", 1_000_000), ("n_ei_candidates", 100_000),
                           ("linear_forgetting", 1_000_000)):
            value = getattr(self, name)
            if not is_int(value, 1) or value > most:
                problems.append(f"{name} must be an integer from 1 to {most:,}, got {value!r}")
        if not is_number(self.prior_weight) or self.prior_weight <= 0:
            problems.append(f"prior_weight must be a number > 0 (with 0 an unseen value has probability 0 and "
                            f"TPE divides by zero), got {self.prior_weight!r}")
        if not is_number(self.gamma) or not 0 < self.gamma <= 1:
            problems.append(f"gamma must be a number in (0, 1], got {self.gamma!r}")
        return problems


class TpeTuner(NasTuner):
    """NNI 3.0's TPE tuner (``nni.algorithms.hpo.tpe_tuner.TpeTuner``) over the space's labels, as an nni-nas tuner.

    The space is handed to NNI's TPE as NNI's ``TPE`` NAS strategy hands it over: one ``choice`` per label (here over
    the indices of the label's values, which is what TPE models for any ``choice``). What TPE proposes goes through
    the same path as every nni-nas tuner: canonical form, no architecture evaluated twice (a twin TPE proposes is
    discarded and TPE asked again; after ``max_retries`` a random architecture), failed trials the worst result,
    ``max_params`` / ``max_flops``, the portal's parameters without inactive labels. Unlike NNI's ``TPE`` strategy
    (whose ``HPOTunerStrategy`` does not resume), ``nnictl resume`` replays every finished trial into TPE.

    One part of NNI's tuner is replaced: its ``Deduplicator``. On a space of choices only TPE soon proposes the mode
    of l(x), an architecture it has seen, again and again, and NNI's deduplicator answers each repeat with the next
    point of a grid walked from the first value of every label (``none`` on every NAS-Bench-201 edge): most of the
    budget goes to that corner (on a 6-label synthetic score, proposals 51-100 averaged 0.9 matching labels against
    random's 1.2, and 3.7 with this class's de-duplication). Here a repeat is asked of TPE again, as a twin is.

    TPE always maximises the tuner's fitness (the metric, negated for ``optimize_mode: minimize``); a failed trial is
    the worst loss. With ``trialConcurrency > 1`` NNI's constant liar stands in for running trials' results.

    Parameters
    ----------
    constant_liar_type
        How running trials count in the model: ``best`` (NNI's default), ``worst``, ``mean`` or ``null`` (not at all).
    n_startup_jobs
        Random architectures before TPE models anything (NNI: 20).
    n_ei_candidates
        Values drawn from l(x) per label, of which the best l(x)/g(x) is kept (NNI: 24).
    linear_forgetting
        Results older than the newest ``linear_forgetting`` weigh less (NNI: 25).
    prior_weight
        Weight of the uniform prior in each label's counts (NNI: 1.0; > 0).
    gamma
        The best ``min(ceil(gamma * sqrt(n)), linear_forgetting)`` results are l(x) (NNI: 0.25).
    **kwargs
        Common tuner settings: ``space``, ``space_args``, ``data``, ``data_args``, ``train``, ``seed``,
        ``optimize_mode``, ``metric``, ``constraints`` (see :class:`strategies.base.NasTuner`).
    """

    settings_class = TpeSettings

    def __init__(self, space: str, **kwargs: Any):
        super().__init__(space, **kwargs)
        self._tpe = None
        self._drafts: list[tuple[int, str]] = []  # TPE ids and keys of this request's proposals
        self._tpe_ids: dict[str, int] = {}  # key of a running architecture -> TPE's id of it
        self._next_tpe_id = 0

    def budget_problem(self, max_trials: int) -> str | None:
        """The first ``n_startup_jobs`` trials are random: with no more trials than that TPE never chooses one."""
        if self.settings.n_startup_jobs >= max_trials:
            return (f"tuner.classArgs.n_startup_jobs: {self.settings.n_startup_jobs} >= maxTrialNumber {max_trials}: "
                    "TPE would never leave its random start; use n_startup_jobs < maxTrialNumber (a few times "
                    "smaller), or the random tuner")
        return None

    @property
    def tpe(self):
        """NNI's TPE tuner over the indices of each label's values (built on first use, with the space)."""
        if self._tpe is None:
            from nni.algorithms.hpo.tpe_tuner import TpeTuner as NniTpeTuner

            args = {name: getattr(self.settings, name) for name in ("constant_liar_type", "n_startup_jobs",
                    "n_ei_candidates", "linear_forgetting", "prior_weight", "gamma")}
            self._tpe = NniTpeTuner(optimize_mode="maximize", seed=self.seed, tpe_args=args)
            self._tpe.update_search_space({label: {"_type": "choice", "_value": list(range(len(values)))}
                                           for label, values in self.choices.items()})
            self._tpe.dedup = _KeepProposal()  # de-duplication is the base class's (see the class docstring)
        return self._tpe

    def encode(self, arch: dict[str, Any]) -> dict[str, int]:
        """``arch`` as TPE's parameters: each label's value as its index."""
        return {label: values.index(arch[label]) for label, values in self.choices.items()}

    def decode(self, params: dict[str, int]) -> dict[str, Any]:
        return {label: values[params[label]] for label, values in self.choices.items()}

    # ---------------------------------------------------------------------------------- proposals
    def propose(self) -> dict[str, Any]:
        from nni import NoMoreTrialError

        tpe_id = self._next_tpe_id
        self._next_tpe_id += 1
        try:
            arch = self.canonical(self.decode(self.tpe.generate_parameters(tpe_id)))
        except NoMoreTrialError:  # TPE's own dict space is exhausted; the base class knows what is left
            return self.random_arch()
        self._drafts.append((tpe_id, arch_key(arch)))
        return arch

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        self._drafts = []
        try:
            arch = super().generate_parameters(parameter_id, **kwargs)
        finally:
            key = None if parameter_id not in self.pending else arch_key(self.pending[parameter_id])
            for tpe_id, draft in self._drafts:
                if draft == key and key not in self._tpe_ids:
                    self._tpe_ids[key] = tpe_id  # TPE counts it as running (its constant liar)
                else:
                    self.tpe.trial_end(tpe_id, False)  # a twin of an evaluated one, or over budget: forgotten
            self._drafts = []
        return arch

    def on_result(self, individual: Individual) -> None:
        # TPE sorts losses: the worst result must be a number it can sort, and finite for the mean liar
        fitness = individual.fitness if math.isfinite(individual.fitness) else -1e30
        tpe_id = self._tpe_ids.pop(arch_key(individual.arch), None)
        if tpe_id is not None:
            self.tpe.receive_trial_result(tpe_id, None, fitness)
        else:  # imported on resume, or a random architecture of the base class: TPE learns it all the same
            self.tpe.import_data([{"parameter": self.encode(individual.arch), "value": fitness}])


class _KeepProposal:
    """Stands in for NNI's ``Deduplicator`` inside its TPE tuner: keeps every proposal (the base class de-duplicates
    canonical forms, asking TPE again)."""

    def __call__(self, formatted_parameters: Any) -> Any:
        return formatted_parameters

    def add_history(self, formatted_parameters: Any) -> None:
        """NNI's ``import_data`` records resumed trials here; the base class's ``seen`` holds them."""
