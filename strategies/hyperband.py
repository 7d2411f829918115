"""Hyperband over training epochs: Li, Jamieson, DeSalvo, Rostamizadeh, Talwalkar, "Hyperband: A Novel Bandit-Based
Approach to Hyperparameter Optimization", JMLR 18(185), 2018 (Algorithm 1), whose inner loop is successive halving
(Jamieson & Talwalkar, "Non-stochastic Best Arm Identification and Hyperparameter Optimization", AISTATS 2016).

The resource is the number of training epochs; R, the most a trial may train, is ``train.epochs`` in units of
``min_epochs``. With ``s_max = floor(log_eta(R))`` and ``B = (s_max + 1) R``, bracket ``s`` (from ``s_max`` down to 0)
draws ``n = ceil(B / R * eta^s / (s + 1))`` random architectures and runs successive halving on them: at rung ``i``
(``0 <= i <= s``) ``n_i = floor(n eta^-i)`` architectures train for ``r_i = R eta^(i-s)`` units each, and the best
``floor(n_i / eta)`` of them go on to rung ``i + 1``. The last rung of every bracket trains for R, the full fidelity.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from nni_nas.arch import EPOCHS_KEY, RUNG_KEY, arch_key
from nni_nas.config import Settings, TrainSettings, is_int
from nni_nas.errors import ConfigError
from strategies.base import RESUMED_STATES, NasTuner, experiment_trials, was_interrupted

_logger = logging.getLogger(__name__)


@dataclass
class HyperbandSettings(Settings):
    """Hyperband's own settings (see :class:`HyperbandTuner`)."""

    section: ClassVar[str] = "hyperband"

    eta: int = 3
    min_epochs: int = 1
    successive_halving: bool = False

    def value_problems(self) -> list[str]:
        problems = []
        if not is_int(self.eta, 2) or self.eta > 100:
            problems.append(f"eta must be an integer from 2 to 100 (the paper: 3), got {self.eta!r}")
        if not is_int(self.min_epochs, 1) or self.min_epochs > 100_000:
            problems.append(f"min_epochs must be an integer from 1 to 100000, got {self.min_epochs!r}")
        return problems


def bracket_plan(max_epochs: int, min_epochs: int, eta: int, s: int) -> list[tuple[int, int]]:
    """(architectures, epochs) of each rung of bracket ``s`` (Algorithm 1 of Li et al. 2018, with R = ``max_epochs``
    in units of ``min_epochs``): ``n_i = floor(n eta^-i)`` at ``r_i = R eta^(i-s)`` units, rounded to whole epochs."""
    units = max_epochs / min_epochs
    s_max = brackets_of(max_epochs, min_epochs, eta)
    n = math.ceil((s_max + 1) * eta**s / (s + 1))
    plan = []
    for i in range(s + 1):
        epochs = max_epochs if i == s else max(min_epochs, round(min_epochs * units * eta ** (i - s)))
        plan.append((n // eta**i, epochs))
    return plan


def brackets_of(max_epochs: int, min_epochs: int, eta: int) -> int:
    """``s_max = floor(log_eta(R))``, counted in integers (no floating-point log): the most rungs minus one."""
    s_max = 0
    while min_epochs * eta ** (s_max + 1) <= max_epochs:
        s_max += 1
    return s_max


@dataclass
class Bracket:
    """One run of successive halving: its rungs' plan, the rung it is at, and that rung's jobs and results."""

    s: int
    plan: list[tuple[int, int]]
    rung: int = 0
    to_draw: int = 0  # new random architectures still to hand out (rung 0)
    queue: list[dict[str, Any]] = field(default_factory=list)  # promoted architectures still to hand out
    running: int = 0  # jobs of this rung handed out, without a result yet
    results: list[tuple[float, int, dict[str, Any]]] = field(default_factory=list)  # (fitness, order, arch)
    done: bool = False

    @property
    def epochs(self) -> int:
        return self.plan[self.rung][1]

    def has_work(self) -> bool:
        return not self.done and (bool(self.queue) or self.to_draw > 0)


@dataclass
class Job:
    """A trial handed out: which bracket and rung it belongs to."""

    bracket: Bracket
    rung: int
    arch: dict[str, Any]


@dataclass
class PastTrial:
    """A trial of the experiment before ``nnictl resume``, as NNI's records have it. ``outcome``: ``result`` (it
    ended: ``fitness``, the worst for a failure), ``running`` (NNI runs it again itself, under ``parameter_id``) or
    ``again`` (it was interrupted: its manager was lost or its disk filled up, so its architecture is handed out
    again at its rung)."""

    arch: dict[str, Any]
    rung: int
    outcome: str
    fitness: float = -math.inf
    parameter_id: int | None = None


class HyperbandTuner(NasTuner):
    """Hyperband (or successive halving alone) over training epochs, as an NNI tuner.

    Each trial's parameters are the architecture plus ``_epochs`` (how long this trial trains) and ``_rung``; the
    trial trains for that many epochs (:func:`nni_nas.runtime.trial.trial_fidelity`) and its final dict notes
    ``epochs`` and ``rung``, so the portal shows both. Rung 0 of a bracket draws new random architectures (never one
    evaluated before); a rung is complete when each of its trials has a result (a failed or early-stopped trial counts
    as the worst and is never promoted), and then the best ``floor(n_i / eta)`` are handed out again, each retrained
    from scratch for ``eta`` times the epochs (as NNI's own Hyperband advisor does, and Algorithm 1's
    ``run_then_return``).

    Brackets go ``s_max, s_max - 1, ..., 0`` and start over, until ``maxTrialNumber``; with
    ``successive_halving: true`` every bracket is ``s_max`` (the most architectures at the fewest epochs). With
    ``trialConcurrency > 1`` a rung that is waiting for results lets the next bracket start, so no slot idles. The
    architecture to export is the best trial of a last rung (``epochs`` equal to ``train.epochs``): the lower rungs
    trained for fewer epochs and their accuracies are not comparable. ``nnictl resume`` (or ``nni-nas resume``) picks
    every bracket up where it stopped (:meth:`import_data`).

    Parameters
    ----------
    eta
        The halving rate: a rung keeps the best ``1/eta`` and trains them ``eta`` times longer (the paper: 3).
    min_epochs
        Epochs of the shortest rung (r_min); ``train.epochs`` is R, the full fidelity, and must be at least
        ``min_epochs * eta`` (two rungs).
    successive_halving
        Run only the most exploratory bracket, over and over (Jamieson & Talwalkar 2016), instead of Hyperband's
        cycle of brackets.
    **kwargs
        Common tuner settings: ``space``, ``space_args``, ``data``, ``data_args``, ``train``, ``seed``,
        ``optimize_mode``, ``metric``, ``constraints`` (see :class:`strategies.base.NasTuner`).
    """

    settings_class = HyperbandSettings

    def __init__(self, space: str, train: dict | None = None, **kwargs: Any):
        super().__init__(space, train=train, **kwargs)
        epochs = (train or {}).get("epochs", TrainSettings.epochs)
        self.eta, self.min_epochs = self.settings.eta, self.settings.min_epochs
        if self.benchmark_costs:
            raise ConfigError("hyperband trains each architecture for a number of epochs of its rung; a benchmark "
                              "evaluator looks up one fixed-epoch accuracy: train the trials (no evaluator), or use "
                              "evolution, local_search or tpe on the table")
        if is_int(epochs, 1) and epochs < self.min_epochs * self.eta:
            raise ConfigError(f"tuner.classArgs.train.epochs: {epochs} is less than min_epochs * eta = "
                              f"{self.min_epochs} * {self.eta}: hyperband needs at least two rungs; raise "
                              "train.epochs (the full fidelity) or lower min_epochs")
        self.max_epochs = epochs if is_int(epochs, 1) else TrainSettings.epochs
        self.s_max = brackets_of(self.max_epochs, self.min_epochs, self.eta)
        self.brackets: list[Bracket] = []
        self.jobs: dict[int, Job] = {}
        self._next_s = self.s_max
        self._order = 0
        self._recovered: set[int] = set()  # ids of trials NNI runs again on resume, still without a result

    def budget_problem(self, max_trials: int) -> str | None:
        """The first bracket must reach its last rung within ``maxTrialNumber``, or no architecture trains fully."""
        needed = sum(n for n, _ in bracket_plan(self.max_epochs, self.min_epochs, self.eta, self.s_max))
        if max_trials < needed:
            return (f"maxTrialNumber {max_trials} is less than the {needed} trials of hyperband's first bracket "
                    f"({self._describe(self.s_max)}): no architecture would train for train.epochs; raise "
                    "maxTrialNumber, or raise min_epochs / eta")
        return None

    def _describe(self, s: int) -> str:
        return ", ".join(f"{n} x {e} epochs" for n, e in bracket_plan(self.max_epochs, self.min_epochs, self.eta, s))

    # ----------------------------------------------------------------------------------------- proposals
    def propose(self) -> dict[str, Any]:
        return self.random_arch()  # rung 0: Algorithm 1's get_hyperparameter_configuration(n), one at a time

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        from nni import NoMoreTrialError

        if self._recovered:
            self._end_failed_recovered()
        while True:
            bracket = next((b for b in self.brackets if b.has_work()), None) or self._open_bracket()
            if bracket.queue:  # a promotion: the same architecture, retrained for more epochs
                arch = bracket.queue.pop(0)
                self.pending[parameter_id] = arch
                break
            try:
                arch = super().generate_parameters(parameter_id, **kwargs)  # novel, within the constraints
            except NoMoreTrialError:  # the space is used up: this rung 0 is as large as it gets
                bracket.to_draw = 0
                if bracket.running == 0 and not bracket.results:
                    raise
                if bracket.running == 0:
                    self._promote(bracket)
                if not any(b.has_work() for b in self.brackets):
                    raise
                continue
            bracket.to_draw -= 1
            break
        bracket.running += 1
        self.jobs[parameter_id] = Job(bracket, bracket.rung, arch)
        return {**arch, EPOCHS_KEY: bracket.epochs, RUNG_KEY: bracket.rung}

    def _open_bracket(self) -> Bracket:
        s = self._next_s
        self._next_s = self.s_max if self.settings.successive_halving or s == 0 else s - 1
        plan = bracket_plan(self.max_epochs, self.min_epochs, self.eta, s)
        bracket = Bracket(s, plan, to_draw=plan[0][0])
        self.brackets.append(bracket)
        _logger.info("bracket s=%d: %s", s, self._describe(s))
        return bracket

    # ------------------------------------------------------------------------------------------ results
    def _end_failed_recovered(self) -> None:
        """NNI's dispatcher drops the end of a trial it runs again on resume: one that ended without a result (FAILED,
        cancelled) is read from the records at the next request, so that its rung does not wait for it for ever."""
        for trial in experiment_trials():
            if trial.parameter_id in self._recovered and trial.status not in (*RESUMED_STATES, "SUCCEEDED"):
                _logger.info("trial %s, run again on resume, ended %s without a result", trial.parameter_id,
                             trial.status)
                self.trial_end(trial.parameter_id, False)

    def receive_trial_result(self, parameter_id: int, parameters: Any, value: Any, **kwargs: Any) -> None:
        self._recovered.discard(parameter_id)
        job = self.jobs.pop(parameter_id, None)
        super().receive_trial_result(parameter_id, parameters, value, **kwargs)
        if job is not None:
            self._rung_result(job, self.history[-1].fitness)

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        self._recovered.discard(parameter_id)
        job = None if parameter_id in self.completed else self.jobs.pop(parameter_id, None)
        super().trial_end(parameter_id, success, **kwargs)
        if job is not None:
            self._rung_result(job, -math.inf)  # failed or stopped early: never promoted

    def _rung_result(self, job: Job, fitness: float) -> None:
        bracket = job.bracket
        bracket.running -= 1
        self._order += 1
        bracket.results.append((fitness, self._order, job.arch))
        if bracket.running == 0 and not bracket.has_work():
            self._promote(bracket)

    def _promote(self, bracket: Bracket) -> None:
        """Successive halving's step: the best ``floor(n_i / eta)`` of a complete rung go on to the next rung (ties
        go to the earlier result); the worst result is never promoted over a better one, a failure never."""
        if bracket.rung == len(bracket.plan) - 1:
            bracket.done = True
            return
        ranked = sorted((r for r in bracket.results if math.isfinite(r[0])), key=lambda r: (-r[0], r[1]))
        keep = [arch for _, _, arch in ranked[: len(bracket.results) // self.eta]]
        _logger.info("bracket s=%d rung %d (%d epochs): %d results, %d promoted", bracket.s, bracket.rung,
                     bracket.epochs, len(bracket.results), len(keep))
        bracket.rung += 1
        bracket.results = []
        bracket.queue = keep
        if not keep:
            bracket.done = True

    def on_resume(self, records: list[Any], data: list[dict[str, Any]]) -> None:
        """On ``nnictl resume``: every trial NNI recorded (any rung) is remembered (the base class), so no rung 0 draws
        it again, and every bracket goes on where it stopped (:meth:`_restore`), instead of a new cycle that would
        leave the interrupted brackets' best architectures short of the full fidelity. A tuner that has handed out
        trials already (NNI sent no finished trial at its start) keeps its brackets."""
        if self.brackets:
            _logger.warning("resume: brackets were opened before NNI's records arrived; new brackets go on")
            return
        self.rerun = []  # the brackets hand their interrupted trials out again, at their own rung
        past = self._past_trials(records, data)
        self._restore(past)
        _logger.info("hyperband resumed %d brackets from %d trials (%s); %d architectures are known",
                     len(self.brackets), len(past), "; ".join(self._state(b) for b in self.brackets),
                     len({arch_key(i.arch) for i in self.history}))

    def _past_trials(self, records: list[Any], data: list[dict[str, Any]]) -> list[PastTrial]:
        """The experiment's trials in the order NNI started them, from its records; outside a dispatcher, the
        finished trials NNI sent (``data``)."""
        records = [t for t in records if isinstance(t.parameters, dict) and RUNG_KEY in t.parameters]
        if not records:
            return [PastTrial(self.canonical(dict(entry["parameter"])), entry["parameter"][RUNG_KEY], "result",
                              self.result_fitness(entry.get("value")))
                    for entry in data if isinstance(entry.get("parameter"), dict) and RUNG_KEY in entry["parameter"]]
        past = []
        for trial in records:
            arch, rung = self.canonical(dict(trial.parameters)), trial.parameters[RUNG_KEY]
            if trial.status in RESUMED_STATES:
                past.append(PastTrial(arch, rung, "running", parameter_id=trial.parameter_id))
            elif was_interrupted(trial):
                past.append(PastTrial(arch, rung, "again"))
            else:  # SUCCEEDED with its result; FAILED, EARLY_STOPPED or cancelled: the worst, as when it ended
                value = trial.final if trial.status == "SUCCEEDED" else None
                past.append(PastTrial(arch, rung, "result", self.result_fitness(value)))
        return past

    def _restore(self, past: list[PastTrial]) -> None:
        """Rebuild the brackets from ``past``. Brackets open in the order the tuner opens them (s_max, s_max - 1, ...),
        and rung 0 hands out new architectures only in the newest bracket, so the rung-0 trials, in the order NNI
        started them, fill each bracket's rung 0 in turn; a later rung's trial belongs to the bracket of its
        architecture's rung-0 trial. A bracket stands at its highest rung with a trial, whose lower rungs were
        complete; of an architecture run twice at one rung (interrupted, then again), the later trial counts."""
        members: dict[int, dict[int, dict[str, PastTrial]]] = {}
        owner: dict[str, Bracket] = {}
        for trial in past:
            key = arch_key(trial.arch)
            if trial.rung == 0 and key not in owner:
                newest = self.brackets[-1] if self.brackets else None
                if newest is None or len(members.get(id(newest), {}).get(0, {})) >= newest.plan[0][0]:
                    newest = self._open_bracket()
                owner[key] = newest
            bracket = owner.get(key)
            if bracket is None or not 0 <= trial.rung < len(bracket.plan):
                _logger.warning("resume: a trial at rung %s of %s belongs to no bracket; ignored", trial.rung,
                                trial.arch)
                continue
            members.setdefault(id(bracket), {}).setdefault(trial.rung, {})[key] = trial
        for bracket in self.brackets:
            if id(bracket) in members:
                self._restore_bracket(bracket, members[id(bracket)])

    def _restore_bracket(self, bracket: Bracket, rungs: dict[int, dict[str, PastTrial]]) -> None:
        rung = max(rungs)
        bracket.rung = rung
        current = rungs[rung]
        if rung == 0:
            bracket.to_draw = max(0, bracket.plan[0][0] - len(current))
        else:  # the promoted architectures of the complete rung below not handed out yet (the rule of _promote)
            bracket.to_draw = 0
            below = list(rungs.get(rung - 1, {}).values())
            ranked = sorted((t for t in below if t.outcome == "result" and math.isfinite(t.fitness)),
                            key=lambda t: -t.fitness)  # stable: ties go to the earlier trial
            keep = ranked[: len(below) // self.eta]
            bracket.queue = [t.arch for t in keep if arch_key(t.arch) not in current]
        for key, trial in current.items():
            if trial.outcome == "result":
                self._order += 1
                bracket.results.append((trial.fitness, self._order, trial.arch))
            elif trial.outcome == "again":
                bracket.queue.insert(0, trial.arch)
                self.seen.add(key)  # handed out at its rung, never drawn anew at rung 0
            elif trial.parameter_id is not None:  # NNI runs it again under its own id: its result ends the rung
                bracket.running += 1
                self.jobs[trial.parameter_id] = Job(bracket, rung, trial.arch)
                self.pending[trial.parameter_id] = trial.arch
                self._recovered.add(trial.parameter_id)
        if bracket.running == 0 and not bracket.has_work():
            self._promote(bracket)

    def _state(self, bracket: Bracket) -> str:
        state = "done" if bracket.done else (f"rung {bracket.rung}: {len(bracket.results)} results, {bracket.running} "
                                             f"running, {len(bracket.queue) + bracket.to_draw} to hand out")
        return f"s={bracket.s} {state}"
