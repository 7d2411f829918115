"""Shared machinery of nni-nas's multi-trial tuners: the space's choices, trial bookkeeping, de-duplication,
failed trials, and state restored on ``nnictl resume``."""

from __future__ import annotations

import functools
import logging
import math
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from nni.tuner import Tuner

from nni_nas.arch import Choices, active_arch, arch_key, canonical, search_choices, split_fidelity
from nni_nas.config import Settings, is_int, optimize_mode_of
from nni_nas.constraints import LIMITS, constraint_settings, is_over_budget
from nni_nas.errors import ConfigError, did_you_mean
from strategies.warm_start import DATA_PROXY_NAMES, warm_start_settings

_logger = logging.getLogger(__name__)
# keys every trial's final dict holds, trained or looked up in a table (nni_nas.evaluation): what a tuner may optimise
RESULT_KEYS = ("default", "val_acc", "test_acc", "params", "flops")


@dataclass
class Individual:
    """One evaluated architecture. A failed or NaN trial has ``fitness = -inf`` (the worst possible)."""

    arch: dict[str, Any]
    fitness: float
    result: dict[str, Any] | None = None  # the trial's final result dict, when it reported one
    trial_id: str | None = None  # NNI's trial id, when NNI told the tuner
    early_stopped: bool = False  # stopped by NNI's assessor: no result at full fidelity (fitness -inf)


def fitness_of(value: Any, metric: str = "default", optimize_mode: str = "maximize") -> float:
    """The number a tuner maximises, from a trial's final result (a dict with ``metric`` or a number)."""
    if isinstance(value, dict):
        value = value.get(metric)  # a result without the metric is no result (never a silent "default")
    try:
        number = float(value)
    except (TypeError, ValueError):
        return -math.inf
    if not math.isfinite(number):
        return -math.inf
    return number if optimize_mode == "maximize" else -number


# trials that end without a final result and whose architecture is never proposed again (nnictl resume)
UNFINISHED = ("FAILED", "EARLY_STOPPED")
# a trial's last event in NNI's records while NNI will run it again on resume: still RUNNING or WAITING, or
# ADD_RESUMED, which NNIManager.addRecoveredTrialJob stores for it while the tuner starts (a race with import_data)
RESUMED_STATES = ("RUNNING", "WAITING", "UNKNOWN", "ADD_RESUMED")
MISSING = object()


def was_interrupted(trial: Any) -> bool:
    """Whether ``trial`` (a :class:`nni_nas.results.records.TrialRecord`) FAILED because it lost its manager or its
    disk filled up (:mod:`nni_nas.runtime.interruptions`), which says nothing about its architecture."""
    from nni_nas.results.failures import first_error_line
    from nni_nas.runtime.interruptions import is_interrupted

    return trial.status == "FAILED" and is_interrupted(first_error_line(trial.trial_dir, stderr=False))


def experiment_trials() -> list[Any]:
    """This experiment's trials as NNI recorded them (:class:`nni_nas.results.records.TrialRecord`), read from the
    records of the experiment whose dispatcher runs this tuner (``NNI_LOG_DIRECTORY`` = ``<experiment>/log``);
    empty outside a dispatcher or when the records cannot be read (a warning says so)."""
    log_dir = os.environ.get("NNI_LOG_DIRECTORY")
    if not log_dir:
        return []
    from nni_nas.errors import NasError
    from nni_nas.results.records import load_experiment

    folder = Path(log_dir).parent
    try:
        return load_experiment(folder.name, folder.parent, fetch_remote=False).trials
    except NasError as err:
        _logger.warning("could not read this experiment's trials from its records: %s", err)
        return []


def forwarded_intermediate(value: Any) -> bool:
    """``value`` is not a trial's final dict but the last intermediate result of a trial the assessor stopped, which
    NNI's dispatcher forwards as final when the config sets ``deprecated: {includeIntermediateResults: true}``
    (``NNI_INCLUDE_INTERMEDIATE_RESULTS``): every nni-nas trial reports a dict."""
    return os.environ.get("NNI_INCLUDE_INTERMEDIATE_RESULTS") == "true" and not isinstance(value, dict)


def trial_status(parameter_id: int) -> str | None:
    """The status NNI recorded for the trial of ``parameter_id`` (``EARLY_STOPPED``, ``FAILED`` ...), or None when
    unknown. NNI's manager stores a trial's end in its records before it tells the dispatcher, which tells the tuner
    only ``success`` true or false (``nni.runtime.msg_dispatcher.handle_trial_end``)."""
    for trial in experiment_trials():
        if trial.parameter_id == parameter_id:
            return trial.status
    return None


def experiment_code_dir() -> Path:
    """The experiment's code folder (``trialCodeDirectory``, absolute in the config NNI stored), where the config's
    ``file.py:Name`` references are found; in NNI's dispatcher (``NNI_LOG_DIRECTORY`` = ``<experiment>/log``) read
    from the experiment's records, elsewhere the current folder."""
    log_dir = os.environ.get("NNI_LOG_DIRECTORY")
    if log_dir:
        from nni_nas.errors import NasError
        from nni_nas.results.records import load_experiment

        folder = Path(log_dir).parent
        try:
            code = load_experiment(folder.name, folder.parent, fetch_remote=False).config.get("trialCodeDirectory")
        except NasError as err:
            _logger.warning("could not read the experiment's code folder from its records: %s", err)
            code = None
        if code:
            return Path(code)
    return Path.cwd()


class NasTuner(Tuner):
    """Base class of nni-nas's multi-trial tuners.

    Subclasses implement :meth:`propose` (the next architecture) and may override :meth:`on_result`.
    This class builds the search space named in the config (so the tuner and the trials share one
    definition), turns it into a flat dict of choices, never proposes an architecture twice, treats a
    failed trial as the worst result, and rebuilds its history from ``import_data`` when NNI resumes.

    The space is built on first use (``self.space``, ``self.choices``), not in ``__init__``: NNI's manager
    gives the tuner process 10 seconds to connect after it starts, and importing torch alone can take
    longer on a busy machine. Subclasses must not touch ``space`` or ``choices`` in ``__init__``.

    Parameters
    ----------
    space, space_args, data, data_args, train, evaluator
        The common NAS settings (see :mod:`nni_nas.config`); the tuner reads ``space``, ``space_args`` and
        the data's input shape, the trials read everything.
    seed
        Seed of the tuner's random choices; recorded with the experiment.
    optimize_mode
        ``maximize`` or ``minimize`` the metric.
    metric
        Key of the trial's final dict to optimise (``default`` is validation accuracy).
    max_retries
        How many times to redraw a proposal that was already evaluated before giving up on novelty.
    constraints
        ``{max_params, max_flops, max_latency_ms}`` (:mod:`nni_nas.constraints`): an architecture over
        ``max_params`` or ``max_flops`` is never proposed (its cost is counted here, on first use, on the space's own
        network: the config's space and data, or the published table's network with a benchmark evaluator); one
        whose trial finds it over ``max_latency_ms`` is recorded as infeasible and never proposed again.
    warm_start
        ``{proxy: synflow | naswot | jacob_cov, pool, seeds, batch_size}`` (:mod:`strategies.warm_start`): the
        ``seeds`` best of ``pool`` random architectures by a zero-cost proxy are the first proposals, before the
        strategy's own.
    **strategy_args
        The strategy's own settings, read into :attr:`settings_class` (checked there: unknown keys and bad
        values are one :class:`nni_nas.errors.ConfigError`).
    """

    settings_class: ClassVar[type[Settings]] = Settings

    def __init__(self, space: str, space_args: dict | None = None, data: str = "digits",
                 data_args: dict | None = None, train: dict | None = None, evaluator: dict | None = None,
                 seed: int = 0, optimize_mode: str | None = None, metric: str = "default", max_retries: int = 100,
                 constraints: dict | None = None, module: str = "classification", module_args: dict | None = None,
                 monitor: str | None = None, warm_start: dict | None = None, **strategy_args: Any):
        problems = []
        optimize_mode = optimize_mode or optimize_mode_of({"module": module})
        if optimize_mode not in ("maximize", "minimize"):
            problems.append(f"tuner.classArgs.optimize_mode: must be maximize or minimize, got {optimize_mode!r}")
        if not is_int(seed, 0) or seed >= 2**32:
            problems.append(f"tuner.classArgs.seed: must be an integer in [0, 2**32), got {seed!r}")
        own_module = module != "classification"  # regression or a user's module: its logged names are its own
        if own_module and not (isinstance(metric, str) and metric):
            problems.append(f"tuner.classArgs.metric: must be a key of every trial's final result, got {metric!r}")
        elif not own_module and metric not in RESULT_KEYS:
            problems.append(f"tuner.classArgs.metric: must be a key of every trial's final result, one of "
                            f"{list(RESULT_KEYS)}, got {metric!r}{did_you_mean(metric, RESULT_KEYS)}")
        if not is_int(max_retries, 1) or max_retries > 100_000:
            problems.append(f"tuner.classArgs.max_retries: must be an integer from 1 to 100000, got {max_retries!r}")
        try:
            self.settings = self.settings_class.from_args(strategy_args)
        except ConfigError as err:
            problems += err.problems
        try:
            self.constraints = constraint_settings(constraints)
        except ConfigError as err:
            problems += err.problems
        try:
            self.warm_start = warm_start_settings(warm_start)
        except ConfigError as err:
            problems += err.problems
        if problems:  # every mistake at once, the common arguments', the strategy's own and the constraints'
            raise ConfigError("; ".join(problems), problems)
        self.benchmark_costs = isinstance(evaluator, dict) and evaluator.get("kind") == "benchmark"
        if self.benchmark_costs and self.warm_start is not None and self.warm_start.proxy in DATA_PROXY_NAMES:
            raise ConfigError(f"tuner.classArgs.warm_start.proxy: {self.warm_start.proxy} needs a batch of the "
                              "trials' data, and a benchmark evaluator has none: use synflow (data-free)")
        if self.benchmark_costs and self.constraints.max_latency_ms is not None:
            raise ConfigError("constraints.max_latency_ms needs trials that build the network; a benchmark evaluator "
                              "looks accuracies up and times nothing (use max_params or max_flops)")
        self.space_name, self.space_args = space, dict(space_args or {})
        self.data_name, self.data_args = data, dict(data_args or {})
        self.module = module
        self.code_dir: Path | None = None  # where the config's user code is: set by `check`, else found on first use
        self._space = None
        self._choices: Choices | None = None
        self.rng = random.Random(seed)
        self.seed = seed
        self.optimize_mode = optimize_mode
        self.metric = metric
        self.max_retries = max_retries
        self.history: list[Individual] = []
        self.pending: dict[int, dict[str, Any]] = {}
        self.seen: set[str] = set()
        self.completed: set[int] = set()
        self.infeasible: set[str] = set()  # keys of architectures over budget: counted, never proposed
        self.rerun: list[dict[str, Any]] = []  # interrupted trials' architectures, handed out first on resume
        self._resumed: dict[str, int | None] | None = None  # parameters of trials NNI runs again -> their id (resume)
        self._warm_seeds: list[dict[str, Any]] | None = None  # the proxy's best, proposed first (warm_start)

    @property
    def space(self):
        """The model space (built on first use)."""
        if self._space is None:
            import nni_nas.components as components

            self._space = components.build_space(self.nas_settings)
        return self._space

    @functools.cached_property
    def nas_settings(self) -> Any:
        """The space, data and module settings the tuner builds from (:class:`nni_nas.config.NasSettings`)."""
        from nni_nas.config import NasSettings

        if self.code_dir is None:
            self.code_dir = experiment_code_dir()
        return NasSettings(space=self.space_name, data=self.data_name, space_args=self.space_args,
                           data_args=self.data_args, module=self.module, code_dir=self.code_dir)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One input's shape: the space's own, or (a user's space keeps none) the data's, read on first use."""
        shape = getattr(self.space, "input_shape", None)
        if shape is None:
            import nni_nas.components as components

            shape = components.data_shape(self.nas_settings)[0]
            self.space.input_shape = tuple(shape)  # read once
        return tuple(shape)

    @property
    def choices(self) -> Choices:
        """Label -> allowed values of the space (built on first use)."""
        if self._choices is None:
            self._choices = search_choices(self.space)
            _logger.info("space %s: %d labels, seed %d", self.space_name, len(self._choices), self.seed)
        return self._choices

    # ----------------------------------------------------------------------------------- subclass API
    @classmethod
    def space_problem(cls, space: Any) -> str | None:
        """Why this strategy cannot search ``space`` (a built space), or None. Multi-trial tuners search any space."""
        return None

    @classmethod
    def settings_problem(cls, settings: Any) -> str | None:
        """Why this strategy cannot run with these settings (space, data, module), or None: any for multi-trial."""
        return None

    def search_problem(self, space: Any) -> str | None:
        """Why this tuner, with its own settings, cannot search ``space`` (a built space), or None (``nni-nas check``
        asks; a grid refuses a space larger than its ``max_size``)."""
        return None

    def budget_problem(self, max_trials: int) -> str | None:
        """Why a search of ``max_trials`` trials would never leave this strategy's random start, or None
        (``nni-nas check`` asks, with the config's ``maxTrialNumber``)."""
        return None

    def propose(self) -> dict[str, Any]:
        """The next architecture to try (may repeat; the base class redraws duplicates)."""
        raise NotImplementedError

    def on_result(self, individual: Individual) -> None:
        """Called once per finished trial (and per imported trial on resume), in order."""

    # --------------------------------------------------------------------------------------- helpers
    def random_arch(self) -> dict[str, Any]:
        """A uniformly random architecture."""
        return {label: self.rng.choice(values) for label, values in self.choices.items()}

    def canonical(self, arch: dict[str, Any]) -> dict[str, Any]:
        """``arch`` (or a trial's parameters: a multi-fidelity tuner's epochs are left out) in canonical form."""
        return canonical(self.space, self.choices, split_fidelity(arch)[0])

    # -------------------------------------------------------------------------------- NNI tuner API
    def update_search_space(self, search_space: Any) -> None:
        # The space comes from classArgs.space (a model space), not from NNI's searchSpace field.
        if search_space:
            _logger.warning("searchSpace in the config is ignored; the space is classArgs.space")

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        random_draws = self.max_retries * (10 if self.constraints.static else 1)
        arch = (self._next_rerun() or self._warm_seed() or self._novel(self.propose, self.max_retries)
                or self._novel(self.random_arch, random_draws) or self._novel_from_table())
        if arch is None:
            from nni import NoMoreTrialError  # NNI's way to end a finite space

            within = f" within {self.constraints.as_dict()}" if self.constraints.active else ""
            raise NoMoreTrialError(f"every architecture{within} the tuner can reach has been evaluated "
                                   f"({len(self.infeasible)} over budget were skipped)")
        self.seen.add(arch_key(arch))
        self.pending[parameter_id] = arch
        return arch

    def generate_multiple_parameters(self, parameter_id_list: list[int], **kwargs: Any) -> list[dict[str, Any]]:
        """What NNI's dispatcher asks for: each architecture without the labels its network does not use (op3 of a
        depth-2 network), so the portal shows what was trained; trials and :meth:`receive_trial_result` restore the
        rest with :func:`nni_nas.arch.canonical`."""
        return [active_arch(self.space, arch)
                for arch in super().generate_multiple_parameters(parameter_id_list, **kwargs)]

    def _next_rerun(self) -> dict[str, Any] | None:
        """The next interrupted trial's architecture not evaluated since (:meth:`import_data`), or None."""
        while self.rerun:
            arch = self.rerun.pop(0)
            if arch_key(arch) not in self.seen:
                _logger.info("running an interrupted trial's architecture again: %s", arch)
                return arch
        return None

    def _warm_seed(self) -> dict[str, Any] | None:
        """The next of the zero-cost proxy's best architectures not evaluated yet (``warm_start``), scored on first
        use (:func:`strategies.warm_start.scored_pool`); None without a warm start or when every seed is used."""
        if self.warm_start is None:
            return None
        if self._warm_seeds is None:
            from strategies.warm_start import scored_pool

            self._warm_seeds = [arch for _, arch in scored_pool(self, self.warm_start)[: self.warm_start.seeds]]
        while self._warm_seeds:
            arch = self._warm_seeds.pop(0)
            if arch_key(arch) not in self.seen:
                return arch
        return None

    def _novel(self, source: Any, tries: int) -> dict[str, Any] | None:
        """The first architecture from ``source()`` that is neither evaluated nor over budget, in ``tries`` draws.
        An architecture found over budget is remembered (never drawn again)."""
        for _ in range(tries):
            arch = self.canonical(source())
            key = arch_key(arch)
            if key in self.seen:
                continue
            if not self.feasible(arch):
                self.seen.add(key)
                self.infeasible.add(key)
                continue
            return arch
        return None

    def _novel_from_table(self) -> dict[str, Any] | None:
        """Under a tight budget, random draws may all be over it: a tabular space's cost table lists the feasible
        architectures, one of which (uniformly) is drawn instead."""
        if not self.constraints.static or self.cost_model.table is None:
            return None
        keys = sorted(key for key, cost in self.cost_model.table.items() if not self.constraints.violations(cost))
        self.rng.shuffle(keys)
        for key in keys:
            arch = self.canonical(self.cost_model.space.from_benchmark_key(key))
            if arch_key(arch) not in self.seen:
                return arch
        return None

    # ---------------------------------------------------------------------------------- constraints
    @functools.cached_property
    def cost_model(self):
        """Counts an architecture's params and FLOPs (:class:`model_spaces.costs.CostModel`, built on first use) on
        the network the trials evaluate: the config's space and data, or with a benchmark evaluator the network
        the published table was measured on."""
        from model_spaces.costs import CostModel, benchmark_network

        if self.benchmark_costs:
            return CostModel(benchmark_network(self.space_name), {})
        return CostModel(self.space, self.space_args, self.input_shape)

    def cost_of(self, arch: dict[str, Any]) -> dict[str, int]:
        """``params`` and ``flops`` of ``arch``, memoised."""
        return self.cost_model(arch)

    def feasible(self, arch: dict[str, Any]) -> bool:
        """``arch`` is within ``max_params`` and ``max_flops`` (latency is the trial's to measure)."""
        if not self.constraints.static:
            return True
        keys = [LIMITS[key] for key in self.constraints.static]
        return not self.constraints.violations(self.cost_model.costs_of(arch, keys))

    def receive_trial_result(self, parameter_id: int, parameters: Any, value: Any, **kwargs: Any) -> None:
        arch = self.pending.pop(parameter_id, None) or self.canonical(dict(parameters))
        self.completed.add(parameter_id)
        if forwarded_intermediate(value):  # NNI's includeIntermediateResults: an early-stopped trial's last epoch
            _logger.info("trial %s was stopped early by the assessor (its last intermediate result %s is not a "
                         "result at full fidelity): counted as worst", parameter_id, value)
            self._record(arch, -math.inf, trial_id=kwargs.get("trial_job_id"), early_stopped=True)
            return
        if is_over_budget(value):  # the trial timed it over max_latency_ms and trained nothing
            _logger.info("trial %s is over budget (%s): infeasible", parameter_id, value.get("violations"))
            self.infeasible.add(arch_key(self.canonical(dict(arch))))
            self._record(arch, -math.inf, value, kwargs.get("trial_job_id"))
            return
        self._record(arch, fitness_of(value, self.metric, self.optimize_mode), value, kwargs.get("trial_job_id"))

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        # A trial that failed (or ended without a final result) is the worst result; the search goes on.
        if parameter_id in self.completed:
            return
        arch = self.pending.pop(parameter_id, None)
        self.completed.add(parameter_id)
        if arch is None:
            return
        if not success and trial_status(parameter_id) == "EARLY_STOPPED":
            # Medianstop, Curvefitting...: its curve was judged poor after a few epochs; what it reached then is no
            # result at full fidelity, so it never ranks beside trained architectures, and is never proposed again
            _logger.info("trial %s was stopped early by the assessor: counted as worst", parameter_id)
            self._record(arch, -math.inf, early_stopped=True)
            return
        _logger.info("trial %s ended without a result (success=%s): counted as worst", parameter_id, success)
        self._record(arch, -math.inf)

    def import_data(self, data: list[dict[str, Any]]) -> None:
        """Restore the history from finished trials (NNI sends them on ``nnictl resume``), then add the trials that
        FAILED or were stopped early by an assessor (EARLY_STOPPED), which NNI does not send, from the experiment's
        records: they count as the worst result and their architectures are never proposed again. A trial that failed
        because it was interrupted (its manager lost, a full disk: :mod:`nni_nas.runtime.interruptions`) says nothing
        about its architecture: that architecture is handed out again, first (``nni-nas resume`` adds a trial to the
        budget for it). The architectures of trials NNI itself runs again (RUNNING when the manager stopped) are not
        handed out a second time.

        NNI's dispatcher hands the final result of a trial it runs again to ``import_data`` (one entry, later), not to
        :meth:`receive_trial_result`, and drops its end: such an entry is that trial's result, under its own
        parameter id."""
        first = self._resumed is None
        records = experiment_trials() if first else []
        if first:
            self._resumed = {arch_key(t.parameters): t.parameter_id for t in records
                             if t.status in RESUMED_STATES and isinstance(t.parameters, dict) and t.parameters}
        finished = 0
        for entry in data:
            value = entry.get("value")
            parameter_id = self._resumed.pop(arch_key(entry["parameter"]), MISSING)
            if parameter_id is not MISSING:
                _logger.info("trial %s, run again by NNI on resume, reported %s", parameter_id, value)
                self.receive_trial_result(parameter_id, entry["parameter"], value)
                continue
            self._import(entry["parameter"], self.result_fitness(value), value, entry.get("trialJobId"))
            finished += 1
        if not first:
            return
        _logger.info("imported %d finished trials; history has %d", finished, len(self.history))
        usable = [t for t in records if isinstance(t.parameters, dict) and t.parameters]
        for trial in usable:
            if trial.status in RESUMED_STATES:
                self.seen.add(arch_key(self.canonical(dict(trial.parameters))))
        failures = [(t.parameters, t.status, was_interrupted(t)) for t in usable if t.status in UNFINISHED]
        for arch, status, interrupted in failures:
            if not interrupted:
                self._import(arch, -math.inf, early_stopped=status == "EARLY_STOPPED")
        for arch, _, interrupted in failures:
            arch = self.canonical(dict(arch))
            if interrupted and arch_key(arch) not in self.seen and arch not in self.rerun:
                self.rerun.append(arch)
        if failures:
            _logger.info("imported %d failed or early-stopped trials from the experiment's records; %d interrupted "
                         "ones to run again", len(failures) - len(self.rerun), len(self.rerun))
        self.on_resume(records, data)

    def result_fitness(self, value: Any) -> float:
        """The fitness of a finished trial's final result as NNI recorded it: the worst for one over budget."""
        return -math.inf if is_over_budget(value) else fitness_of(value, self.metric, self.optimize_mode)

    def on_resume(self, records: list[Any], data: list[dict[str, Any]]) -> None:
        """Called once, at the end of the first :meth:`import_data` (``nnictl resume``), with the experiment's trials
        as NNI recorded them (:func:`experiment_trials`, in submission order; empty outside a dispatcher) and the
        finished trials NNI sent."""

    def _import(self, arch: dict[str, Any], fitness: float, result: Any = None, trial_id: str | None = None,
                early_stopped: bool = False) -> None:
        arch = self.canonical(dict(arch))
        if arch_key(arch) not in self.seen:
            self.seen.add(arch_key(arch))
            self._record(arch, fitness, result, trial_id, early_stopped)

    def _record(self, arch: dict[str, Any], fitness: float, result: Any = None, trial_id: str | None = None,
                early_stopped: bool = False) -> None:
        individual = Individual(arch, fitness, result if isinstance(result, dict) else None, trial_id, early_stopped)
        self.history.append(individual)
        self.on_result(individual)
