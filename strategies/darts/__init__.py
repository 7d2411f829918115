"""DARTS as an NNI one-shot strategy: each trial is one search run, retrained and reported by itself.

Liu, Simonyan, Yang, "DARTS: Differentiable Architecture Search", ICLR 2019. The pieces, one module each:

- :mod:`strategies.darts.settings`: every setting with the paper's default, checked (no torch);
- :mod:`strategies.darts.supernet`: the continuous relaxation (eq. 1, 2) and the derivation (Sec. 2.4);
- :mod:`strategies.darts.architect`: the architecture gradient, first and second order (eq. 6, 7, 8);
- :mod:`strategies.darts.search`: the alternating updates (Algorithm 1) as a Lightning module, the record
  of each epoch's genotype and alpha softmax, and one whole run (search, derive, draw, retrain);
- :mod:`strategies.darts.evaluation`: retraining with cutout, drop-path and the auxiliary head;
- :mod:`strategies.darts.plot`: the picture of the derived cells.

In the portal each trial shows the supernet's validation accuracy per search epoch and, as its final result,
the retrained network's accuracy (``default``), cost, the search-phase accuracy and the genotype.

This module imports no torch: NNI's dispatcher builds the tuner and must connect to the manager within 10 s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nni_nas.config import NasSettings
from strategies.darts.settings import DartsSettings
from strategies.oneshot import OneShotTuner

__all__ = ["DartsSettings", "DartsTuner"]


class DartsTuner(OneShotTuner):
    """DARTS (Liu, Simonyan, Yang, ICLR 2019): ``runs`` search runs per ``search_grid`` combination, each a trial.

    The paper searched four times with different seeds and kept the best cell on validation (``runs: 4``).
    Search defaults are the paper's CIFAR-10 settings; the config's ``train`` section is the *evaluation*
    training of the derived architecture (epochs, batch size, learning rate of the retrain).

    Parameters (``tuner.classArgs``; the DARTS ones are the fields of :class:`DartsSettings`, with their defaults)
    ----------
    space, space_args, data, data_args, train
        The common settings (:mod:`nni_nas.config`). A cell space (:class:`model_spaces.contract.CellSpace`,
        ``space: darts``) is searched as in the paper: the search network built from ``space_args`` with ``affine:
        false``, each node's two strongest inputs derived (Sec. 2.4). Any other NNI space (yours, NNI's hub
        spaces) is relaxed mutable by mutable (:mod:`strategies.supernet.relaxed`): every label's strongest value
        is derived; ``module`` may then be ``classification`` or ``regression``.
    runs, seed, search_grid
        See :class:`strategies.oneshot.OneShotTuner`; ``search_grid`` may vary any setting below.
    search_epochs
        Epochs of the search (50 in the paper).
    search_batch_size
        Batch size of both halves of the training data during the search (64).
    train_portion
        Fraction of the training split that trains w; the rest trains alpha (0.5, the paper's half).
    order
        1: first-order DARTS (``xi = 0``); 2: second order (eq. 7 with the finite-difference eq. 8).
    xi
        Learning rate of the virtual step (eq. 6); ``None`` uses w's current learning rate, as the paper.
    reuse_virtual_step
        Second order only. ``true`` (default): the weight step uses the gradient the virtual step (eq. 6) already
        took on the same training batch, ``grad_w L_train(w, alpha)`` at the alpha before this step's architecture
        update, instead of a fifth forward and backward at the updated alpha: one full pass fewer per step. The
        alpha it lags by is one Adam step of ``arch_lr``. ``false``: the paper's order (Algorithm 1: alpha first,
        then w at the new alpha), as first order always does.
    w_lr, w_lr_min, w_momentum, w_weight_decay, grad_clip
        SGD on w with a cosine schedule from ``w_lr`` to ``w_lr_min``; gradient norm clipped at ``grad_clip``.
    arch_lr, arch_betas, arch_weight_decay
        Adam on alpha (3e-4, (0.5, 0.999), 1e-3).
    retrain
        Retrain the derived architecture from scratch (else the final ``default`` is the search accuracy).
    eval_space_args
        ``space_args`` of the evaluation network, over the config's (paper: ``{width: 36, num_cells: 20}``).
    cutout_length, drop_path_prob, auxiliary_weight, eval_grad_clip
        The evaluation options (paper on CIFAR-10: 16, 0.2, 0.4, 5); 0 / None is off. A positive
        ``auxiliary_weight`` adds the auxiliary head to the evaluation network.
    """


    settings_class = DartsSettings

    @classmethod
    def space_problem(cls, space: Any) -> str | None:
        from model_spaces.contract import CellSpace  # torch: not in NNI's dispatcher
        from strategies.supernet.relaxed import relaxed_problem

        return None if isinstance(space, CellSpace) else relaxed_problem("DARTS", "darts", space)

    @classmethod
    def settings_problem(cls, settings: NasSettings) -> str | None:
        problem = super().settings_problem(settings)
        if problem:
            return problem
        from strategies.darts.search import is_cell_space  # torch: not in NNI's dispatcher

        cell = is_cell_space(settings)
        if cell and settings.module != "classification":
            return (f"DARTS's cell space retrains with the classification module; module {settings.module!r} "
                    "is searched on other spaces (DARTS relaxes any NNI space)")
        if not cell and settings.train.devices > 1:
            return ("DARTS searches on several devices (train.devices > 1) in the darts cell space only; on other "
                    "spaces its mixed operations run in one process (train.devices: 1)")
        return None

    @classmethod
    def run_trial(cls, settings: NasSettings, params: dict[str, Any] | None, out_dir: Path,
                  progress_bar: bool = True) -> dict[str, Any]:
        """One DARTS run in this process: search, derive, draw, retrain; return the final result dict."""
        from strategies.darts.search import run_darts  # torch and Lightning: not in NNI's dispatcher

        return run_darts(settings, params, Path(out_dir), progress_bar)
