"""GDAS: Dong & Yang, "Searching for A Robust Neural Architecture in Four GPU Hours" (CVPR 2019), as one NNI trial
per search run, on any NNI space.

Each training step draws one hard Gumbel-softmax sample per label (one path per edge), runs only that path, and
learns the architecture parameters through the straight-through estimator (:mod:`strategies.supernet.relaxed`);
the temperature decays linearly from ``tau_max`` to ``tau_min`` (:mod:`strategies.supernet.relaxed_search`).

This module imports no torch: NNI's dispatcher builds the tuner and must connect to the manager within 10 s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nni_nas.config import NasSettings
from strategies.gdas.settings import GdasSettings
from strategies.oneshot import OneShotTuner

__all__ = ["GdasSettings", "GdasTuner", "relaxed_space_problem", "relaxed_settings_problem"]


def relaxed_space_problem(name: str, method: str, space: Any) -> str | None:
    """Why ``method``'s relaxation cannot search ``space``, in one line naming the layers and labels."""
    from strategies.supernet.relaxed import relaxed_problem  # torch: not in the tuner

    return relaxed_problem(name, method, space)


def relaxed_settings_problem(name: str, settings: NasSettings) -> str | None:
    if settings.train.devices > 1:
        return (f"{name} trains its supernet on one device (train.devices: 1); DDP is for DARTS on the darts cell "
                "space and ENAS")
    return None


class GdasTuner(OneShotTuner):
    """GDAS search runs through nnictl: one trial per run; each trial searches, derives, retrains and reports.

    Follows Dong & Yang (2019): the same alternating updates as DARTS's first order (architecture parameters by
    Adam on the architecture half of the training split, weights by SGD on the weight half), but each forward pass
    samples one value per label from ``gumbel_softmax(alpha, tau, hard=True)`` and runs that path only; the
    one-hot sample's gradient is the soft sample's (straight-through). Any NNI space whose mutables have a mixed
    operation is searched (``LayerChoice``, ``InputChoice``, ``Repeat``, ``Cell``, ``nni.choice`` in Mutable
    layers and weight-free layers such as ``MutableDropout``).

    Parameters (``tuner.classArgs``; GDAS's are the fields of :class:`GdasSettings`)
    ----------
    space, space_args, data, data_args, train, constraints, module
        The common settings (:mod:`nni_nas.config`); ``train`` is the retraining of the derived network;
        ``module`` is ``classification`` or ``regression``.
    runs, seed, search_grid
        See :class:`strategies.oneshot.OneShotTuner`.
    tau_max, tau_min
        The temperature's linear schedule over the search epochs (paper: 10 to 0.1).
    search_epochs, search_batch_size, train_portion, w_lr, w_lr_min, w_momentum, w_weight_decay, grad_clip,
    arch_lr, arch_betas, arch_weight_decay, retrain, eval_space_args
        As DARTS's (:class:`strategies.darts.DartsTuner`); ``order`` must stay 1.
    """

    settings_class = GdasSettings

    @classmethod
    def space_problem(cls, space: Any) -> str | None:
        return relaxed_space_problem("GDAS", "gdas", space)

    @classmethod
    def settings_problem(cls, settings: NasSettings) -> str | None:
        return super().settings_problem(settings) or relaxed_settings_problem("GDAS", settings)

    @classmethod
    def run_trial(cls, settings: NasSettings, params: dict[str, Any] | None, out_dir: Path,
                  progress_bar: bool = True) -> dict[str, Any]:
        """One GDAS run in this process: search, derive, retrain; return the final result dict."""
        from strategies.supernet.relaxed_search import run_relaxed  # torch and Lightning: not in the dispatcher

        return run_relaxed(settings, params, Path(out_dir), "gdas", GdasSettings, progress_bar)
