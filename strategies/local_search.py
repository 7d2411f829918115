"""Local search over one-label neighbourhoods: White, Nolen, Savani, "Exploring the Loss Landscape in Neural
Architecture Search", UAI 2021 (Algorithm 1), with the random start and random restarts of NASLib's
``optimizers/discrete/ls``.

Algorithm 1 of the paper: take an architecture v, evaluate its neighbours N(v) (every architecture that differs
from v in one label), set v to the best of N(v) and v, and stop when v does not change (a local optimum). The paper
reaches the NAS-Bench-201 optimum in about 127 queries on average (CIFAR-100) and matches BANANAS and beats
regularised evolution on NAS-Bench-101 at 150 queries.

``neighbour_order: model`` (ours) visits the neighbours in the order of a Thompson sample of a Bayesian linear
regression on every label's value and every pair of labels' values, the model of BOCS (Baptista & Poloczek,
"Bayesian Optimization of Combinatorial Structures", ICML 2018, Sec. 3: second-order features, a Gaussian prior, one
posterior sample per acquisition), fitted on every result so far and redrawn before each proposal; first improvement
then tries the neighbours the model favours first. It is computed in its kernel form (see :func:`model_order`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from nni_nas.arch import arch_key
from nni_nas.config import Settings, is_int
from nni_nas.errors import did_you_mean
from strategies.base import Individual, NasTuner

_logger = logging.getLogger(__name__)
IMPROVEMENTS = ("best", "first")
ORDERS = ("random", "model")
MODEL_RESULTS = 1000  # the model of neighbour_order: model fits on the best this many results (its cost is cubic)
PRIOR_PRECISION = 0.1  # of its weights, relative to the noise: chosen on the searched column only (see docs)


@dataclass
class LocalSearchSettings(Settings):
    """Local search's own settings (see :class:`LocalSearchTuner`)."""

    section: ClassVar[str] = "local search"

    initial: int = 10
    improvement: str = "best"
    neighbour_order: str = "random"

    def value_problems(self) -> list[str]:
        problems = []
        if not is_int(self.initial, 1) or self.initial > 1_000_000:
            problems.append(f"initial must be an integer from 1 to 1,000,000, got {self.initial!r}")
        if self.improvement not in IMPROVEMENTS:
            hint = did_you_mean(self.improvement, IMPROVEMENTS) if isinstance(self.improvement, str) else ""
            problems.append(f"improvement must be best or first, got {self.improvement!r}{hint}")
        if self.neighbour_order not in ORDERS:
            hint = did_you_mean(self.neighbour_order, ORDERS) if isinstance(self.neighbour_order, str) else ""
            problems.append(f"neighbour_order must be random or model, got {self.neighbour_order!r}{hint}")
        return problems


def pair_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The kernel of a linear model on one-hot features of every label and of every pair of labels: with ``m`` labels
    equal between two architectures (rows of label-value codes), ``m`` one-hot features and ``m (m - 1) / 2`` pair
    features are shared, so their inner product is ``m + m (m - 1) / 2``."""
    same = (a[:, None, :] == b[None, :, :]).sum(-1).astype(float)
    return same + same * (same - 1) / 2


def model_order(known: np.ndarray, values: np.ndarray, candidates: np.ndarray, rng: np.random.Generator,
                prior_precision: float = PRIOR_PRECISION) -> np.ndarray:
    """The candidates' indices, most promising first, by one Thompson sample of BOCS's model.

    Bayesian linear regression ``y = w . phi(arch) + noise`` on standardised ``values``, with ``phi`` the one-hot
    features of every label and every pair of labels and the prior ``w ~ N(0, s2 / prior_precision)``, ``s2`` the
    noise variance (estimated from the fit's residuals, as BOCS does with its sparse prior's scale). In kernel form
    (``K = phi phi^T``, :func:`pair_kernel`) the posterior of the candidates' values is Gaussian with mean
    ``K_c (K + lambda I)^-1 y`` and covariance ``s2 / lambda (K_cc - K_c (K + lambda I)^-1 K_c^T)``; one joint sample of
    it ranks them. ``known`` and ``candidates`` are rows of label-value codes."""
    z = (values - values.mean()) / (values.std() + 1e-9)
    gram = pair_kernel(known, known)
    cross = pair_kernel(candidates, known)
    chol = np.linalg.cholesky(gram + prior_precision * np.eye(len(known)))
    alpha = np.linalg.solve(chol.T, np.linalg.solve(chol, z))
    residual = z - gram @ alpha
    noise = max(float(residual @ residual) / max(len(z) - 1, 1), 1e-3)
    mean = cross @ alpha
    v = np.linalg.solve(chol, cross.T)
    cov = noise / prior_precision * (pair_kernel(candidates, candidates) - v.T @ v)
    eigenvalues, eigenvectors = np.linalg.eigh((cov + cov.T) / 2)
    sample = mean + eigenvectors @ (np.sqrt(np.clip(eigenvalues, 0, None)) * rng.standard_normal(len(mean)))
    return np.argsort(-sample, kind="stable")


class LocalSearchTuner(NasTuner):
    """Local search with random restarts as an NNI tuner (White, Nolen, Savani, UAI 2021).

    1. **Start**: the first ``initial`` trials are random architectures (a zero-cost ``warm_start``'s seeds take
       the first places); the best of them is the incumbent.
    2. **Neighbours**: the incumbent's neighbours are the architectures that set one label to another of its
       values (in canonical form, so a change of a label the network does not use is no neighbour), visited in a
       random order.
    3. **Move**: with ``improvement: best`` (the paper's Algorithm 1) every neighbour is evaluated and the incumbent
       moves to the best of them when it beats the incumbent; with ``improvement: first`` it moves to the first
       neighbour (in the random order, or of the results as they arrive) that beats it. Only a strictly better
       neighbour is a move, so the search never cycles.
    With ``neighbour_order: model`` the order of step 2 is a Thompson sample of a Bayesian linear regression on
    label and label-pair features (BOCS's model, :func:`model_order`), redrawn before each proposal from every result
    so far; neighbours already evaluated are compared first, as they cost nothing.
    4. **Restart**: when no neighbour beats the incumbent (a local optimum), a random architecture becomes the next
       incumbent once its trial has reported (NASLib's restart rule).

    No architecture is evaluated twice: a neighbour already evaluated (by an earlier climb, a restart or a random
    start) is compared by its recorded result without a trial, and one over ``max_params`` / ``max_flops`` counts as
    the worst. With ``trialConcurrency > 1`` NNI asks for trials before the results arrive: the tuner hands out the
    incumbent's next neighbours, each once; when all of them are running it hands out random architectures (their
    results are recorded and compared if they turn out to be a later incumbent's neighbours). On ``nnictl resume`` the
    random start continues if it was not complete; otherwise the climb restarts from the best architecture evaluated
    so far, whose evaluated neighbours cost nothing.

    Parameters
    ----------
    initial
        Random architectures evaluated before the first climb (NASLib: ``num_init``, 10); the best is the start.
    improvement
        ``best`` (evaluate the whole neighbourhood, move to its best; the paper's Algorithm 1) or ``first`` (move to
        the first better neighbour: fewer trials per step, more steps).
    neighbour_order
        ``random`` (the paper's) or ``model`` (the neighbours a model of the results so far favours first; it matters
        with ``improvement: first``, and with ``best`` only where the budget ends mid-neighbourhood).
    **kwargs
        Common tuner settings: ``space``, ``space_args``, ``data``, ``data_args``, ``train``, ``seed``,
        ``optimize_mode``, ``metric``, ``constraints`` (see :class:`strategies.base.NasTuner`).
    """

    settings_class = LocalSearchSettings

    def __init__(self, space: str, **kwargs: Any):
        super().__init__(space, **kwargs)
        self.initial = self.settings.initial
        self.improvement = self.settings.improvement
        self.neighbour_order = self.settings.neighbour_order
        # drawn only for the model's order, so that a random order's search is the same as before it existed
        self.np_rng = np.random.default_rng(self.rng.getrandbits(63)) if self.neighbour_order == "model" else None
        self.known: dict[str, Individual] = {}  # canonical key -> its evaluated result (or the worst, over budget)
        self.incumbent: Individual | None = None
        self.queue: list[dict[str, Any]] = []  # the incumbent's neighbours not yet handed out or compared
        self.waiting: set[str] = set()  # the incumbent's neighbours handed out, results not yet in
        self.best_neighbour: Individual | None = None  # improvement: best, the best compared so far
        self.start_pending: set[str] = set()  # random-start trials handed out, results not yet in
        self.start_results: list[Individual] = []
        self.starts_handed_out = 0
        self.restart_key: str | None = None  # the random restart handed out, result not yet in
        self.steps = self.restarts = 0
        self._role = "random"  # what the last proposal is for: start, neighbour, restart or random
        self._importing = False

    def budget_problem(self, max_trials: int) -> str | None:
        """Why ``max_trials`` cannot run this search, or None: the first ``initial`` trials are random."""
        if self.initial >= max_trials:
            return (f"tuner.classArgs.initial: {self.initial} >= maxTrialNumber {max_trials}: local search would "
                    "never leave its random start; use initial < maxTrialNumber (a few times smaller), or the "
                    "random tuner")
        return None

    # ---------------------------------------------------------------------------------- proposals
    def propose(self) -> dict[str, Any]:
        if self.incumbent is None:
            start = self.restart_key is None and self.starts_handed_out < self.initial
            self._role = "start" if start else ("restart" if self.restarts_due() else "random")
            return self.random_arch()
        neighbour = self._next_neighbour()
        if neighbour is not None:
            self._role = "neighbour"
            return neighbour
        # every neighbour is running (or the climb just ended at a local optimum: then a restart is due)
        self._role = "restart" if self.restarts_due() else "random"
        return self.random_arch()

    def _warm_seed(self) -> dict[str, Any] | None:
        """A zero-cost warm start's seeds (``warm_start``) take the places of the random start's first architectures,
        so the climb starts from the best of them (and of the random rest, when ``seeds < initial``)."""
        arch = super()._warm_seed()
        if arch is not None and self.incumbent is None and self.restart_key is None \
                and self.starts_handed_out < self.initial:
            self._role = "start"
        return arch

    def restarts_due(self) -> bool:
        """A local optimum was reached and its random successor is not handed out yet."""
        return self.incumbent is None and self.restart_key is None and self.starts_handed_out >= self.initial \
            and not self.start_pending and bool(self.start_results)

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        self._role = "random"
        arch = super().generate_parameters(parameter_id, **kwargs)
        key = arch_key(arch)
        if self._role == "start":
            self.starts_handed_out += 1
            self.start_pending.add(key)
        elif self._role == "restart":
            self.restart_key = key
        elif self._role == "neighbour":
            self.waiting.add(key)
        return arch

    def neighbours(self, arch: dict[str, Any]) -> list[dict[str, Any]]:
        """Every architecture that sets one label of ``arch`` to another of its values, canonical, without twins
        of ``arch`` or of each other, in a random order."""
        own = arch_key(arch)
        out: dict[str, dict[str, Any]] = {}
        for label, values in self.choices.items():
            for value in values:
                if value != arch[label]:
                    neighbour = self.canonical({**arch, label: value})
                    out.setdefault(arch_key(neighbour), neighbour)
        out.pop(own, None)
        order = list(out.values())
        self.rng.shuffle(order)
        return order

    def _next_neighbour(self) -> dict[str, Any] | None:
        """The incumbent's next neighbour to evaluate. Neighbours evaluated already are compared on the way (which
        may move the climb or end it); neighbours running in another trial are waited for."""
        running = {arch_key(arch) for arch in self.pending.values()}
        if self.neighbour_order == "model" and self.incumbent is not None:
            self._order_queue(running)
        while self.incumbent is not None and self.queue:
            arch = self.queue.pop()
            key = arch_key(arch)
            if key in self.known:
                self._compare(self.known[key])
            elif key in running:
                self.waiting.add(key)
            elif key in self.seen or not self.feasible(arch):  # over max_params / max_flops: never proposed
                self.seen.add(key)
                self.infeasible.add(key)
                self._compare(self._over_budget(arch))
            else:
                return arch
        return None

    def _order_queue(self, running: set[str]) -> None:
        """Put the queue in ``neighbour_order: model``'s order (:meth:`_next_neighbour` pops from its end): neighbours
        already evaluated or running first, then the rest by a fresh sample of the model."""
        results = sorted((ind for ind in self.known.values() if math.isfinite(ind.fitness)),
                         key=lambda ind: ind.fitness)[-MODEL_RESULTS:]
        keys = [arch_key(arch) for arch in self.queue]
        fresh = [i for i, key in enumerate(keys) if key not in self.known and key not in running]
        if len(results) < 2 or len(fresh) < 2:
            return
        codes = {label: {_value_key(v): i for i, v in enumerate(values)} for label, values in self.choices.items()}

        def encode(archs: list[dict[str, Any]]) -> np.ndarray:
            return np.array([[codes[label].get(_value_key(arch.get(label)), -1) for label in codes] for arch in archs])

        assert self.np_rng is not None
        order = model_order(encode([ind.arch for ind in results]), np.array([ind.fitness for ind in results]),
                            encode([self.queue[i] for i in fresh]), self.np_rng)
        fresh_set = set(fresh)
        settled = [arch for i, arch in enumerate(self.queue) if i not in fresh_set]
        self.queue = [self.queue[fresh[i]] for i in order[::-1]] + settled

    def _over_budget(self, arch: dict[str, Any]) -> Individual:
        individual = Individual(arch, -math.inf)
        self.known[arch_key(arch)] = individual
        return individual

    # ------------------------------------------------------------------------------------ the climb
    def on_result(self, individual: Individual) -> None:
        key = arch_key(individual.arch)
        self.known[key] = individual
        if self._importing:
            return
        if key in self.start_pending:
            self.start_pending.discard(key)
            self.start_results.append(individual)
            if not self.start_pending and self.starts_handed_out >= self.initial:
                self._climb_from(max(self.start_results, key=lambda ind: ind.fitness))
        elif key == self.restart_key:
            self.restart_key = None
            self._climb_from(individual)
        elif key in self.waiting:
            self.waiting.discard(key)
            self._compare(individual)

    def _climb_from(self, incumbent: Individual) -> None:
        """Make ``incumbent`` the current architecture and queue its neighbours."""
        self.incumbent, self.best_neighbour = incumbent, None
        self.queue = self.neighbours(incumbent.arch)
        self.waiting = set()
        _logger.info("local search: incumbent %.4f after %d trials (%d neighbours)", incumbent.fitness,
                     len(self.history), len(self.queue))

    def _compare(self, neighbour: Individual) -> None:
        """One neighbour's result: the move of ``first`` improvement, the bookkeeping of ``best``, and the end of the
        step once every neighbour is compared."""
        assert self.incumbent is not None
        if self.improvement == "first" and neighbour.fitness > self.incumbent.fitness:
            self._move(neighbour)
            return
        if self.best_neighbour is None or neighbour.fitness > self.best_neighbour.fitness:
            self.best_neighbour = neighbour
        if self.queue or self.waiting:
            return
        if self.best_neighbour.fitness > self.incumbent.fitness:  # only reached by improvement: best
            self._move(self.best_neighbour)
        else:
            self._restart()

    def _move(self, better: Individual) -> None:
        self.steps += 1
        self._climb_from(better)

    def _restart(self) -> None:
        """A local optimum: the next random architecture starts a new climb when its result is in."""
        assert self.incumbent is not None
        _logger.info("local search: local optimum %.4f after %d trials; restarting from a random architecture",
                     self.incumbent.fitness, len(self.history))
        self.restarts += 1
        self.incumbent, self.best_neighbour, self.queue, self.waiting = None, None, [], set()

    # ------------------------------------------------------------------------------------- resume
    def import_data(self, data: list[dict[str, Any]]) -> None:
        """Rebuild the search from NNI's records: the results are known (never evaluated again); the random start
        goes on if it was not complete, otherwise the climb starts from the best architecture so far."""
        self._importing = True
        try:
            super().import_data(data)
        finally:
            self._importing = False
        if len(self.history) < self.initial:
            self.starts_handed_out = len(self.history)
            self.start_results = list(self.history)
        elif self.history:
            self.starts_handed_out = self.initial
            self.start_results = list(self.history)
            self._climb_from(max(self.history, key=lambda ind: ind.fitness))


def _value_key(value: Any) -> str:
    """A label value as a dictionary key (values may be lists, which do not hash)."""
    return repr(value)
