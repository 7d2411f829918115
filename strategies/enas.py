"""ENAS: Pham et al., "Efficient Neural Architecture Search via Parameter Sharing" (ICML 2018), as one NNI trial.

The tuner hands out search runs (seeds, optional hyper-parameter grid); each trial builds the space as a
shared-weight supernet (:mod:`strategies.enas_supernet`), an LSTM controller over its choices
(:mod:`strategies.enas_controller`), alternates the two training phases (:mod:`strategies.enas_search`), derives
the best of several sampled children on validation, retrains it from scratch and reports it.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nni_nas.config import NasSettings
from strategies.enas_options import EnasSettings
from strategies.oneshot import OneShotTuner, finish_one_shot, run_settings, write_epoch_record

if TYPE_CHECKING:
    import torch

__all__ = ["EnasTuner", "EnasSettings", "run_enas"]


class EnasTuner(OneShotTuner):
    """ENAS search runs through nnictl: one trial per run; each trial searches, retrains and reports.

    Follows Pham et al. (2018): shared weights trained with SGD on children sampled per batch, an LSTM controller
    trained with REINFORCE on validation batches, the final architecture the best of several sampled children.
    The reward is ``ACC_val - param_penalty * Params`` (Params in millions).

    Parameters
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

    def __init__(self, space: str, space_args: dict | None = None, data: str = "digits", data_args: dict | None = None,
                 train: dict | None = None, runs: int = 1, seed: int = 0, search_grid: dict[str, list] | None = None,
                 search_epochs: int | None = None, controller_steps: int = 50, controller_batch: int = 1,
                 controller_lr: float = 3.5e-4, controller_hidden: int = 100, temperature: float | None = 5.0,
                 tanh_constant: float | None = 2.5, entropy_weight: float = 1e-4, baseline_decay: float = 0.99,
                 param_penalty: float = 0.0, grad_clip: float | None = 5.0, derive_samples: int = 10,
                 retrain: bool = True, retrain_epochs: int | None = None, retrain_space_args: dict | None = None):
        enas_args = {name: value for name, value in locals().items()
                     if name in {f.name for f in dataclasses.fields(EnasSettings)}}
        EnasSettings.from_args(enas_args)  # fail at experiment start, not in the trial
        for key, values in (search_grid or {}).items():
            for value in values:
                EnasSettings.from_args({**enas_args, key: value})
        super().__init__(runs=runs, seed=seed, search_grid=search_grid)

    @staticmethod
    def run_trial(settings: NasSettings, params: dict[str, Any] | None, out_dir: Path,
                  progress_bar: bool = True) -> dict[str, Any]:
        """Run one ENAS search in this process; return the final result dict."""
        return run_enas(settings, params, out_dir, progress_bar=progress_bar)


def run_enas(settings: NasSettings, params: dict[str, Any] | None, out_dir: Path,
             progress_bar: bool = True) -> dict[str, Any]:
    """Search with ENAS, derive the best sampled child, retrain it (unless switched off) and return the final dict.

    Writes into ``out_dir``: ``search_history.jsonl`` (one line per epoch: children's mean val accuracy, mean
    reward, baseline, entropy, most likely architecture), ``derived.jsonl`` (the scored final candidates),
    ``controller.pt``, Lightning's CSV log under ``search/``, and the retrained model's files.
    """
    import pytorch_lightning as pl
    import torch

    import model_spaces
    from nni_nas.data import load_data
    from nni_nas.reporting import NniReporter
    from nni_nas.training import loaders, make_trainer
    from strategies.enas_controller import EnasController
    from strategies.enas_search import EnasSearch, PhasedEpoch, derive_architecture
    from strategies.enas_supernet import SharedWeightSupernet

    settings, run_params = run_settings(settings, params)
    enas = EnasSettings.from_args(settings.strategy_args)
    out_dir.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(settings.train.seed, workers=True, verbose=False)
    bundle = load_data(settings.data, **settings.data_args)
    space = model_spaces.build_space(settings.space, bundle.input_shape, bundle.num_classes, **settings.space_args)
    supernet = SharedWeightSupernet(space)
    controller = EnasController(supernet.choices, enas.controller_hidden, enas.temperature, enas.tanh_constant)
    epochs = enas.search_epochs or settings.train.epochs
    search = EnasSearch(supernet, controller, enas, settings.train, epochs, out_dir=out_dir)
    train_loader, val_loader, _ = loaders(bundle, settings.train)
    trainer = make_trainer(settings.train, out_dir / "search", [NniReporter(history_file=out_dir / "history.jsonl")],
                           epochs=epochs, progress_bar=progress_bar)
    start = time.perf_counter()
    trainer.fit(search, PhasedEpoch(train_loader, val_loader, enas.controller_steps), val_loader)
    search_seconds = time.perf_counter() - start

    search.to(_device(settings.train.accelerator))
    candidates = derive_architecture(search, val_loader, enas.derive_samples)
    for candidate in candidates:
        write_epoch_record(out_dir, candidate, name="derived.jsonl")
    torch.save(controller.state_dict(), out_dir / "controller.pt")
    best = candidates[0]
    search_metrics = {"search_val_acc": best["val_acc"], "search_reward": best["reward"],
                      "search_seconds": round(search_seconds, 2), "search_epochs": epochs,
                      "param_penalty": enas.param_penalty, **run_params, "arch": best["arch"]}
    return finish_one_shot(settings, best["arch"], out_dir, search_metrics, retrain=enas.retrain,
                           retrain_epochs=enas.retrain_epochs, progress_bar=progress_bar,
                           space_args=enas.retrain_space_args)


def _device(accelerator: str) -> torch.device:
    import torch

    wants_gpu = accelerator in ("gpu", "cuda", "auto")
    return torch.device("cuda" if wants_gpu and torch.cuda.is_available() else "cpu")
