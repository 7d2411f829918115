"""Progressive Neural Architecture Search: Liu, Zoph, Neumann, Shlens, Hua, Li, Fei-Fei, Yuille, Huang, Murphy,
"Progressive Neural Architecture Search", ECCV 2018, Algorithm 1."""

from __future__ import annotations

import functools
import itertools
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from nni_nas.arch import arch_key
from nni_nas.config import Settings, is_int
from strategies.base import Individual, NasTuner

if TYPE_CHECKING:  # imported on first use: the tuner process must connect to NNI within 10 s (no torch here)
    from strategies.pnas.surrogate import SurrogateEnsemble

_logger = logging.getLogger(__name__)
PREDICTORS = ("mlp", "lstm")  # see strategies.pnas.surrogate


@dataclass
class PnasSettings(Settings):
    """PNAS's own settings (see :class:`PnasTuner`)."""

    section: ClassVar[str] = "PNAS"

    beam_size: int = 10
    predictor: str = "mlp"
    ensemble_size: int = 5
    predictor_epochs: int = 300
    candidate_pool: int = 2000
    progressive: bool = True

    def value_problems(self) -> list[str]:
        problems = []
        if is_int(self.beam_size, 1) and is_int(self.candidate_pool) and self.candidate_pool < self.beam_size:
            problems.append(f"candidate_pool must be at least beam_size ({self.beam_size}), got {self.candidate_pool}")
        if self.predictor not in PREDICTORS:
            problems.append(f"predictor must be {' or '.join(PREDICTORS)}, got {self.predictor!r}")
        for key, most in (("ensemble_size", 100), ("predictor_epochs", 100_000), ("beam_size", 100_000),
                          ("candidate_pool", 1_000_000)):
            if not is_int(getattr(self, key), 1) or getattr(self, key) > most:
                problems.append(f"{key} must be an integer from 1 to {most:,}, got {getattr(self, key)!r}")
        return problems


class PnasTuner(NasTuner):
    """PNAS as an NNI tuner: cells grow one block at a time, a surrogate picks which cells to train.

    Algorithm 1 of the paper, on spaces built of blocks (``progressive_blocks()`` and ``fill_ungrown()``
    of :class:`model_spaces.contract.ProgressiveSpace`, as ``nasbench201`` and ``nas_bench_macro`` are):

    1. train every cell with 1 block (at most ``beam_size`` of them, drawn at random if there are more);
    2. for b = 2 .. B: expand each of the ``beam_size`` best trained cells with b-1 blocks by every value of
       block b; fit the surrogate on all trained cells; train the ``beam_size`` candidates it ranks highest.

    A cell with b blocks is a full architecture of the space whose later blocks are "not grown yet", as the
    space defines it (NAS-Bench-201: the later nodes copy node b; NAS-Bench-Macro: the later layers are
    identity), so a partial cell is a real network, trained like any other (or looked up in a table).

    **A deliberate deviation from the paper.** Algorithm 1 expands exactly the K cells trained at step b-1
    (S_{b-1}); step 2 here expands the ``beam_size`` best trained cells with *at most* b-1 blocks. The two agree
    at step 2 whenever every 1-block cell was trained (the paper's case: 136 one-block cells, K = 256) and differ
    from step 3 on, where a smaller cell that outranks the cells of step b-1 is grown too. Why: on these spaces a
    block can take the value that "not grown" means (a NAS-Bench-Macro layer can be identity, a NAS-Bench-201
    node can copy the one before), so the expansion of a cell that keeps that value *is* the smaller cell; the
    tuner never trains an architecture twice, so under the paper's rule such cells would drop out of S_b and
    every later cell that keeps an identity layer in the middle could never be proposed. Keeping the best
    smaller cells among the parents leaves those architectures reachable. ``tests/strategies/test_pnas.py``
    pins this rule (``test_step_b_grows_one_block_on_one_of_the_best_smaller_cells``).

    After B steps, or from the start on spaces that are **not built of blocks** (``digits_cnn``, the DARTS
    cell, ...), the tuner falls back to surrogate-guided search over the flat ``arch`` dict (our extension,
    not in the paper): each round it refits the surrogate on every trained architecture, scores every
    one-label change of the ``beam_size`` best ones plus random architectures (``candidate_pool`` in all),
    and trains the ``beam_size`` best-scored. The first fallback round, with nothing to fit, is random.

    Each step is decided when its first architecture is requested, from the results that have arrived then;
    with several concurrent trials a few results of the previous step may come too late for it (the step
    never waits). A failed or NaN trial counts as the worst result: it is never expanded and is left out of
    the surrogate's training data. On ``nnictl resume`` the history is imported and the search continues
    with the step it was in (re-ranked with the restored history).

    Parameters
    ----------
    beam_size
        K, the number of cells trained per step (paper: 256; a few per step suit query budgets of ~100).
    predictor
        ``mlp`` (the paper's MLP ensemble) or ``lstm`` (its RNN predictor), see :mod:`strategies.pnas.surrogate`.
    ensemble_size
        Number of predictors in the ensemble (paper: 5).
    predictor_epochs
        Full-batch training steps of each predictor per refit.
    candidate_pool
        Most candidates scored per step; larger expansions are subsampled at random.
    progressive
        Grow cells block by block when the space allows it (default); ``false`` uses the flat fallback on
        every space.
    **kwargs
        Common tuner settings: ``space``, ``space_args``, ``data``, ``data_args``, ``train``, ``seed``,
        ``optimize_mode``, ``metric`` (see :class:`strategies.base.NasTuner`).
    """

    settings_class = PnasSettings

    def __init__(self, space: str, **kwargs: Any):
        super().__init__(space, **kwargs)
        self.beam_size = self.settings.beam_size
        self.candidate_pool = self.settings.candidate_pool
        self.progressive = self.settings.progressive
        self.predictor = {"kind": self.settings.predictor, "members": self.settings.ensemble_size,
                          "epochs": self.settings.predictor_epochs}
        self.step = 0  # blocks of the cells of the current step (1..B); past B: fallback rounds
        self.queue: list[dict[str, Any]] = []
        self.resume_quota: int | None = None  # after a resume: how many cells the interrupted step still needs
        self._fitted_on: tuple[list, list] | None = None  # the (archs, accuracies) of the surrogate's last fit

    # The space, and what depends on it, is built on first use (see NasTuner).
    @functools.cached_property
    def surrogate(self) -> SurrogateEnsemble:
        from strategies.pnas.surrogate import ArchEncoder, SurrogateEnsemble

        return SurrogateEnsemble(ArchEncoder(self.choices), seed=self.seed, **self.predictor)

    @functools.cached_property
    def blocks(self) -> list[list[str]]:
        from model_spaces.contract import ProgressiveSpace  # torch: not at import (NNI's dispatcher)

        has_blocks = isinstance(self.space, ProgressiveSpace)
        if self.progressive and not has_blocks:
            _logger.info("space %s has no progressive blocks: PNAS uses surrogate-guided search over the arch dict",
                         self.space_name)
        return self.space.progressive_blocks() if self.progressive and has_blocks else []

    def budget_problem(self, max_trials: int) -> str | None:
        """The first step (the 1-block cells, or the first fallback round) is random, at most ``beam_size`` trials;
        with no more trials than it the surrogate never chooses one."""
        first = self.beam_size
        if self.blocks:
            first = min(first, math.prod(len(self.choices[label]) for label in self.blocks[0]))
        if first >= max_trials:
            return (f"tuner.classArgs.beam_size: PNAS's first step trains {first} random architectures and "
                    f"maxTrialNumber is {max_trials}: the surrogate would never choose one; use beam_size < "
                    "maxTrialNumber (a few times smaller), or the random tuner")
        return None

    # ---------------------------------------------------------------------------------- proposals
    def propose(self) -> dict[str, Any]:
        while not self.queue:
            if not self._next_step():
                return self.random_arch()  # nothing new left to rank; the base class de-duplicates
        return self.queue.pop(0)

    def _next_step(self) -> bool:
        """Fill the queue with the next step's architectures; False when there is nothing new to rank."""
        self.step += 1
        quota, self.resume_quota = self.resume_quota or self.beam_size, None
        if self.step <= len(self.blocks):
            candidates = self._expansions(self.step)
            _logger.info("PNAS step %d/%d: %d candidate cells", self.step, len(self.blocks), len(candidates))
            self.queue = self._feasible_head(self._rank(candidates), quota) if candidates else []
            return True  # an empty step (all trained already, or all over budget) moves on to the next one
        candidates = self._fallback_candidates()
        self.queue = self._feasible_head(self._rank(candidates), quota) if candidates else []
        return bool(self.queue)

    def _feasible_head(self, ranked: list[dict[str, Any]], quota: int) -> list[dict[str, Any]]:
        """The first ``quota`` of ``ranked`` within ``max_params`` / ``max_flops``: the surrogate ranks, the budget
        filters, so an over-budget cell is never trained nor expanded (costs are counted only as far down the
        ranking as needed)."""
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

    def _expansions(self, num_blocks: int) -> list[dict[str, Any]]:
        """Every cell with ``num_blocks`` blocks that extends one of the best trained cells with one block less
        (for 1 block: every 1-block cell), not yet trained."""
        if num_blocks == 1:
            parents = [self.random_arch()]
        else:
            parents = [ind.arch for ind in self._best(self._cells_with(num_blocks - 1), self.beam_size)]
        block = self.blocks[num_blocks - 1]
        out, keys = [], set()
        for parent in parents:
            for values in itertools.product(*(self.choices[label] for label in block)):
                child = self.canonical(self.space.fill_ungrown({**parent, **dict(zip(block, values))}, num_blocks))
                key = arch_key(child)
                if key not in self.seen and key not in keys:
                    keys.add(key)
                    out.append(child)
        return out

    def _fallback_candidates(self) -> list[dict[str, Any]]:
        """One-label changes of the best trained architectures, plus random ones, not yet trained."""
        out, keys = [], set()

        def add(arch: dict[str, Any]) -> None:
            arch = self.canonical(arch)
            key = arch_key(arch)
            if key not in self.seen and key not in keys:
                keys.add(key)
                out.append(arch)

        for parent in self._best(self.history, self.beam_size):
            for label, values in self.choices.items():
                for value in values:
                    if value != parent.arch[label]:
                        add({**parent.arch, label: value})
        for _ in range(self.max_retries * 10):
            if len(out) >= self.candidate_pool:
                break
            add(self.random_arch())
        return out

    def _rank(self, candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``candidates`` best first by the surrogate refit on every trained architecture (random order while
        fewer than 2 have finite results)."""
        self.rng.shuffle(candidates)  # random tie-break, and the subsample of an oversized pool
        candidates = candidates[: self.candidate_pool]
        trained = [ind for ind in self.history if math.isfinite(ind.fitness)]
        if len(trained) < 2:
            return candidates
        data = ([self.grown_part(ind.arch) for ind in trained], [ind.fitness for ind in trained])
        if data != self._fitted_on:  # a step that found nothing new to train adds no data: keep the last fit
            self.surrogate.fit(*data)
            self._fitted_on = data
        scores, _ = self.surrogate.predict([self.grown_part(arch) for arch in candidates])
        order = sorted(range(len(candidates)), key=lambda i: -scores[i])
        return [candidates[i] for i in order]

    # ------------------------------------------------------------------------------------ helpers
    def _cells_with(self, num_blocks: int) -> list[Individual]:
        """Trained cells with at most ``num_blocks`` grown blocks (the later ones as the space fills them)."""
        return [ind for ind in self.history
                if self.canonical(self.space.fill_ungrown(ind.arch, num_blocks)) == ind.arch]

    @staticmethod
    def _best(individuals: list[Individual], count: int) -> list[Individual]:
        finite = [ind for ind in individuals if math.isfinite(ind.fitness)]
        return sorted(finite, key=lambda ind: ind.fitness, reverse=True)[:count]

    def blocks_of(self, arch: dict[str, Any]) -> int:
        """How many blocks ``arch`` has grown (B for a cell that is not a partial one, 0 without blocks)."""
        for num_blocks in range(1, len(self.blocks) + 1):
            if self.canonical(self.space.fill_ungrown(arch, num_blocks)) == self.canonical(arch):
                return num_blocks
        return len(self.blocks)

    def grown_part(self, arch: dict[str, Any]) -> dict[str, Any]:
        """The labels of the blocks ``arch`` has grown: how the surrogate sees a partial cell (all labels on
        spaces without blocks)."""
        if not self.blocks:
            return arch
        grown = [label for block in self.blocks[: self.blocks_of(arch)] for label in block]
        return {label: arch[label] for label in grown}

    # ------------------------------------------------------------------------------------- resume
    def import_data(self, data: list[dict[str, Any]]) -> None:
        """Restore the history (base class), then the step: the one of the largest cells found, redone for the
        missing cells if it trained fewer than ``beam_size`` of them (for 1 block: fewer than all of them)."""
        super().import_data(data)
        self.queue = []
        if not self.blocks or not self.history:
            return  # the flat search keeps no state besides the history
        sizes = [self.blocks_of(ind.arch) for ind in self.history]
        largest = max(sizes)
        done = sizes.count(largest)
        first_step = math.prod(len(self.choices[label]) for label in self.blocks[0])
        full = min(self.beam_size, first_step) if largest == 1 else self.beam_size
        self.step = largest
        if done < full:
            self.step, self.resume_quota = largest - 1, full - done
        _logger.info("PNAS resumes after step %d (%d cells imported)", self.step, len(self.history))
