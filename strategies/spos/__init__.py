"""SPOS: Guo et al., "Single Path One-Shot Neural Architecture Search with Uniform Sampling" (ECCV 2020), as one NNI
trial.

The tuner hands out search runs (seeds, optional hyper-parameter grid); each trial trains the space as a
path-sampling supernet (:mod:`strategies.supernet.sampling`, any NNI space), one uniformly sampled path per training
step, then searches architectures by evolution on the trained supernet, each evaluated with the inherited weights
after its BatchNorm statistics are recalibrated, retrains the best from scratch and reports it
(:mod:`strategies.spos.search`).

This module imports no torch: NNI's dispatcher builds the tuner and must connect to the manager within 10 s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nni_nas.config import NasSettings
from strategies.oneshot import OneShotTuner
from strategies.spos.settings import SposSettings

__all__ = ["SposSettings", "SposTuner"]


class SposTuner(OneShotTuner):
    """SPOS search runs through nnictl: one trial per run; each trial trains the supernet, searches, retrains and
    reports.

    Follows Guo et al. (2020): the supernet's weights are trained on one path per batch, drawn uniformly (each
    label's value independently: Section 3.2); the search is evolutionary (Algorithm 1: a population of
    ``population_size``, the ``parents`` best of each generation bred by crossover and mutation with probability
    ``mutation_prob`` per label, over ``generations``), each candidate scored on the validation split with the
    supernet's weights after its BatchNorm statistics are recomputed on ``bn_batches`` training batches (Section
    3.3); candidates over the ``constraints`` budget are never evaluated (Section 3.4). Any NNI space whose mutables the
    supernet can share is searched: the user's own and NNI's hub spaces too; the search metric is the module's
    ``monitor`` (classification or regression built-ins; your own module's is not yet supported here).

    Parameters (``tuner.classArgs``; the SPOS ones are the fields of :class:`SposSettings`, with their defaults)
    ----------
    space, space_args, data, data_args, train, constraints
        The common NAS settings (:mod:`nni_nas.config`). ``train`` sets the supernet's optimiser (the paper: SGD,
        momentum 0.9, a decaying learning rate) and the retraining.
    runs, seed, search_grid
        How many search runs, their first seed, and an optional grid of the SPOS settings below
        (:class:`strategies.oneshot.OneShotTuner`).
    search_epochs
        Supernet training epochs (default: ``train.epochs``).
    population_size
        Candidates per generation of the evolutionary search (paper: 50).
    generations
        Generations of the evolutionary search (paper: 20).
    parents
        The best candidates kept as parents of the next generation (paper: top 10).
    mutation_prob
        Probability that mutation redraws a label (paper: 0.1).
    bn_batches
        Training batches the BatchNorm statistics of each candidate are recomputed on (0: none).
    eval_batches
        Validation batches each candidate is scored on (default: all).
    retrain
        Retrain the best architecture from scratch (``train`` settings) and report that; false reports its
        supernet validation accuracy.
    retrain_epochs
        Retraining epochs (default: ``train.epochs``).
    retrain_space_args
        ``space_args`` overrides for the retrained network.
    """

    settings_class = SposSettings

    @classmethod
    def settings_problem(cls, settings: NasSettings) -> str | None:
        from nni_nas.config import MODULES

        if settings.module not in MODULES:
            return (f"SPOS scores candidates with the built-in modules' metric; module {settings.module!r} is "
                    "searched by the multi-trial strategies (evolution, random, pnas, pareto)")
        if settings.train.devices > 1:
            return ("SPOS trains its supernet on one device (train.devices: 1); its evolutionary search and BatchNorm "
                    "recalibration run in one process")
        return None

    @classmethod
    def space_problem(cls, space: Any) -> str | None:
        from strategies.supernet.sampling import describe_unsupported, unsupported_layers  # torch: not in the tuner

        layers = unsupported_layers(space)
        if layers:
            return (f"SPOS shares weights through NNI's mixed operations, which {describe_unsupported(layers)} have "
                    "none of: fix those labels through space_args, or search with a multi-trial strategy")
        return None

    @classmethod
    def run_trial(cls, settings: NasSettings, params: dict[str, Any] | None, out_dir: Path,
                  progress_bar: bool = True) -> dict[str, Any]:
        """Run one SPOS search in this process; return the final result dict."""
        from strategies.spos.search import run_spos  # torch and Lightning: not in NNI's dispatcher

        return run_spos(settings, params, Path(out_dir), progress_bar=progress_bar)
