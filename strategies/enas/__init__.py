"""ENAS: Pham et al., "Efficient Neural Architecture Search via Parameter Sharing" (ICML 2018), as one NNI trial.

The tuner hands out search runs (seeds, optional hyper-parameter grid); each trial builds the space as a
shared-weight supernet (:mod:`strategies.enas.supernet`), an LSTM controller over its choices
(:mod:`strategies.enas.controller`), alternates the two training phases (:mod:`strategies.enas.search`), derives
the best of several sampled children on validation, retrains it from scratch and reports it. The settings and
their checks are in :mod:`strategies.enas.settings`.

This module imports no torch: NNI's dispatcher builds the tuner and must connect to the manager within 10 s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nni_nas.config import NasSettings
from strategies.enas.settings import EnasSettings
from strategies.oneshot import OneShotTuner

__all__ = ["EnasSettings", "EnasTuner"]


class EnasTuner(OneShotTuner):
    """ENAS search runs through nnictl: one trial per run; each trial searches, retrains and reports.

    Follows Pham et al. (2018): shared weights trained with SGD on children sampled per batch, an LSTM controller
    trained with REINFORCE on validation batches, the final architecture the best of several sampled children.
    The reward is ``ACC_val - param_penalty * Params`` (Params in millions). A space of ``LayerChoice`` and
    ``InputChoice`` only routes each child through the shared candidates (:class:`strategies.enas.supernet
    .SharedWeightSupernet`, DDP possible); any other NNI space (searched widths, kernel sizes, Repeat depths, Cells,
    your own and NNI's hub spaces) through NNI's path-sampling mixed operations, a child a slice of the largest
    candidate's weights (:class:`strategies.enas.search.SlicedEnasSupernet`, one device).

    Parameters (``tuner.classArgs``; the ENAS ones are the fields of :class:`EnasSettings`, with their defaults)
    ----------
    space, space_args, data, data_args, train
        The common NAS settings (:mod:`nni_nas.config`). ``train`` sets the shared weights' optimiser (paper: SGD,
        Nesterov momentum, lr 0.05 with a cosine schedule) and the retraining.
    runs, seed, search_grid
        How many search runs, their first seed, and an optional grid of the ENAS settings below
        (:class:`strategies.oneshot.OneShotTuner`).
    search_epochs
        Search epochs (default: ``train.epochs``).
    controller_steps
        Controller updates per epoch (paper: 2000 on CIFAR-10).
    controller_batch
        Children sampled per controller update (paper: 1).
    controller_lr
        Adam learning rate of the controller (paper: 0.00035).
    controller_hidden
        LSTM width (paper: 100).
    temperature, tanh_constant
        Sampling tricks on the logits: ``tanh_constant * tanh(logits / temperature)`` (paper: 5.0 and 2.5);
        null switches either off.
    entropy_weight
        Weight of the controller's entropy bonus.
    baseline_decay
        Decay of the reward's moving-average baseline (paper: 0.99).
    param_penalty
        ``c`` in the reward, per million parameters; 0 is the paper's plain ENAS.
    grad_clip
        Gradient-norm clip of the shared weights (the authors' release: 5); null switches it off.
    derive_samples
        Children sampled from the trained controller for the final choice (the most likely one is added).
    retrain
        Retrain the chosen architecture from scratch (``train`` settings) and report that; false reports the
        shared-weight validation accuracy.
    retrain_epochs
        Retraining epochs (default: ``train.epochs``).
    retrain_space_args
        ``space_args`` overrides for the retrained network (the paper retrains a larger one, e.g. more cells).
    """

    settings_class = EnasSettings

    @classmethod
    def space_problem(cls, space: Any) -> str | None:
        from strategies.supernet.sampling import describe_unsupported, unsupported_layers  # torch: not in the tuner

        layers = unsupported_layers(space)
        if layers:
            return (f"ENAS shares weights through NNI's mixed operations, which {describe_unsupported(layers)} have "
                    "none: fix those labels through space_args, or search with a multi-trial strategy")
        return None

    @classmethod
    def settings_problem(cls, settings: NasSettings) -> str | None:
        problem = super().settings_problem(settings)  # your own module: the multi-trial strategies
        if problem:
            return problem
        if settings.module != "classification":
            return (f"ENAS's reward is the child's accuracy (ACC - c * Params), so it searches with the "
                    f"classification module; module {settings.module!r} can be searched by DARTS, GDAS, Proxyless, "
                    "SPOS or a multi-trial strategy")
        return None

    @classmethod
    def run_trial(cls, settings: NasSettings, params: dict[str, Any] | None, out_dir: Path,
                  progress_bar: bool = True) -> dict[str, Any]:
        """Run one ENAS search in this process; return the final result dict."""
        from strategies.enas.search import run_enas  # torch and Lightning: not in NNI's dispatcher

        return run_enas(settings, params, Path(out_dir), progress_bar=progress_bar)
