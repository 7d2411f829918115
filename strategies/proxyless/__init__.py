"""ProxylessNAS: Cai, Zhu, Han, "ProxylessNAS: Direct Neural Architecture Search on Target Task and Hardware"
(ICLR 2019), as one NNI trial per search run, on any NNI space, with a latency-aware loss.

Binarised paths (one sampled path per step, the memory of one path, the binary-gate gradient of the architecture
parameters) are :mod:`strategies.supernet.relaxed`'s ``proxyless`` relaxation; the latency table and loss are in
:mod:`strategies.supernet.relaxed_search`.

This module imports no torch: NNI's dispatcher builds the tuner and must connect to the manager within 10 s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nni_nas.config import NasSettings
from strategies.gdas import relaxed_settings_problem, relaxed_space_problem
from strategies.gdas.settings import ProxylessSettings
from strategies.oneshot import OneShotTuner

__all__ = ["ProxylessSettings", "ProxylessTuner"]


class ProxylessTuner(OneShotTuner):
    """ProxylessNAS search runs through nnictl: one trial per run; each trial searches, derives, retrains and
    reports.

    Each step samples one path from the softmax of the architecture parameters (binary gates: Section 3.2), runs and
    keeps only that path, and updates the parameters with the binary-gate estimator (the other candidates' outputs
    are recomputed in backward from the saved input, without keeping their activations). A ``LayerChoice``, an
    ``InputChoice`` and each optional block of a ``Repeat`` are gated; a searched width or kernel size and a
    weight-free argument (``MutableDropout``) are sampled with the straight-through Gumbel estimator instead, one
    path in memory too. With ``constraints.max_latency_ms`` the architecture loss is latency-aware (Section 3.3):
    the expected latency over a per-candidate table measured on the trial's device before the search, as the final
    dict's ``latency_ms`` is measured, against the limit as target.

    Parameters (``tuner.classArgs``; ProxylessNAS's are the fields of :class:`ProxylessSettings`)
    ----------
    space, space_args, data, data_args, train, constraints, module
        The common settings (:mod:`nni_nas.config`); ``train`` is the retraining of the derived network.
    runs, seed, search_grid
        See :class:`strategies.oneshot.OneShotTuner`.
    latency_form
        ``multiplicative``: ``CE * (E[latency] / target) ** latency_beta`` (FBNet's form); ``additive``:
        ``CE + latency_lambda * E[latency] / target`` (the paper's regulariser, normalised by the target).
    latency_beta, latency_lambda
        The weight of the latency term in each form (0.6 and 0.1).
    latency_runs
        Timed runs per candidate in the latency table (the median is kept).
    arch_lr
        Adam's learning rate of the architecture parameters (paper: 1e-3).
    warmup_epochs
        Search epochs that train only the weights, on paths sampled from the (still uniform) architecture
        parameters, before those start learning (the paper warms the weights up first).
    search_epochs, search_batch_size, train_portion, w_lr, w_lr_min, w_momentum, w_weight_decay, grad_clip,
    arch_betas, arch_weight_decay, retrain, eval_space_args
        As DARTS's (:class:`strategies.darts.DartsTuner`); ``order`` must stay 1.
    """

    settings_class = ProxylessSettings

    @classmethod
    def space_problem(cls, space: Any) -> str | None:
        return relaxed_space_problem("Proxyless", "proxyless", space)

    @classmethod
    def settings_problem(cls, settings: NasSettings) -> str | None:
        return super().settings_problem(settings) or relaxed_settings_problem("Proxyless", settings)

    @classmethod
    def run_trial(cls, settings: NasSettings, params: dict[str, Any] | None, out_dir: Path,
                  progress_bar: bool = True) -> dict[str, Any]:
        """One ProxylessNAS run in this process: search, derive, retrain; return the final result dict."""
        from strategies.supernet.relaxed_search import run_relaxed  # torch and Lightning: not in the dispatcher

        return run_relaxed(settings, params, Path(out_dir), "proxyless", ProxylessSettings, progress_bar)
