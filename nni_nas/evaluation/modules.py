"""The Lightning module a trial trains each network with: ``classArgs.module``, with ``module_args``.

- ``classification`` (the default): :class:`~nni_nas.evaluation.classifier.ImageClassifier`, cross-entropy, the
  ``train`` settings' optimiser; it logs ``val_acc``, maximised.
- ``regression``: :class:`Regressor`, mean squared error; it logs ``val_mse``, minimised.
- ``"file.py:Class"`` / ``"module:Class"``: the user's own module, which owns its loss and optimiser. Two contracts
  are accepted: NNI's ``nni.nas.evaluator.pytorch.LightningModule`` (built with ``module_args``, then given the
  network through ``set_model``), and a plain ``pytorch_lightning.LightningModule`` whose constructor takes the
  network as ``model``. The value it logs under ``monitor`` (default ``val_acc``) is the portal's per-epoch result
  and the final ``default``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from nni.nas.evaluator.pytorch import LightningModule as NniLightningModule
from torch import nn

from nni_nas import user_code
from nni_nas.config import MODULES, TrainSettings
from nni_nas.errors import ConfigError
from nni_nas.evaluation.classifier import ImageClassifier, build_optimizer, check_finite


class Regressor(NniLightningModule):
    """Mean-squared-error regression with MSE and MAE metrics, SGD or Adam, and an optional cosine schedule.

    Parameters
    ----------
    model
        The network; its output has one value per target (``(N, 1)`` for targets of shape ``(N,)``).
    lr, optimizer, momentum, weight_decay, max_epochs
        As :class:`~nni_nas.evaluation.classifier.ImageClassifier`'s.
    """

    def __init__(self, model: nn.Module | None = None, lr: float = 0.01, optimizer: str = "adam",
                 momentum: float = 0.9, weight_decay: float = 0.0, max_epochs: int | None = None):
        super().__init__()
        self.save_hyperparameters(ignore=["model"])
        if model is not None:
            self.set_model(model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def _errors(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch
        prediction = self(x)
        if prediction.numel() == y.numel():
            prediction = prediction.reshape(y.shape)
        y = y.to(prediction.dtype)
        return F.mse_loss(prediction, y), F.l1_loss(prediction, y)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        mse, _ = self._errors(batch)
        check_finite(mse, self.current_epoch, self.hparams.lr)
        self.log("train_mse", mse, prog_bar=True)
        return mse

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        mse, mae = self._errors(batch)
        self.log("val_mse", mse, on_step=False, on_epoch=True, prog_bar=True)
        self.log("val_mae", mae, on_step=False, on_epoch=True)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        mse, mae = self._errors(batch)
        self.log("test_mse", mse, on_step=False, on_epoch=True)
        self.log("test_mae", mae, on_step=False, on_epoch=True)

    def configure_optimizers(self):
        hp = self.hparams
        opt = build_optimizer(self.parameters(), hp.optimizer, hp.lr, hp.momentum, hp.weight_decay)
        if not hp.max_epochs:
            return opt
        return {"optimizer": opt, "lr_scheduler": torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=hp.max_epochs)}


def builtin_module(name: str, model: nn.Module, num_classes: int, train: TrainSettings) -> pl.LightningModule:
    """``classification`` or ``regression`` around ``model``, with the ``train`` settings' optimiser."""
    common = {"lr": train.lr, "optimizer": train.optimizer, "momentum": train.momentum,
              "weight_decay": train.weight_decay, "max_epochs": train.epochs if train.cosine else None}
    if name == "regression":
        return Regressor(model, **common)
    return ImageClassifier(model, num_classes, label_smoothing=train.label_smoothing, **common)


def module_class(ref: str, code_dir: str | Path | None = None) -> type:
    """The user's Lightning module class ``ref`` names, checked to keep one of the two contracts."""
    cls = user_code.load_object(ref, "module", code_dir)
    if not (isinstance(cls, type) and issubclass(cls, pl.LightningModule)):
        kind = f"class {cls.__name__}" if isinstance(cls, type) else f"a {type(cls).__name__}"
        raise user_code.UserCodeError(f"module {ref!r} is {kind}, not a Lightning module: name a subclass of "
                                      "nni.nas.evaluator.pytorch.LightningModule or pytorch_lightning.LightningModule")
    if not issubclass(cls, NniLightningModule) and not user_code.takes(cls, "model"):
        raise user_code.UserCodeError(f"module {ref!r}: a plain pytorch_lightning.LightningModule must take the "
                                      "network as its constructor's `model` argument; or subclass "
                                      "nni.nas.evaluator.pytorch.LightningModule, which gets it through set_model")
    return cls


def module_args_problem(ref: str, module_args: dict[str, Any], code_dir: str | Path | None = None) -> str | None:
    """Keywords of ``module_args`` the user's module does not take (with did-you-mean), or None."""
    cls = module_class(ref, code_dir)
    given = {key: value for key, value in module_args.items()}
    if "model" in given:
        return "tuner.classArgs.module_args: `model` is the searched network, which nni-nas passes itself"
    problem = user_code.keyword_problem(cls, given, f"module {ref!r}")
    return f"tuner.classArgs.module_args: {problem}" if problem else None


def build_module(settings: Any, model: nn.Module, num_classes: int) -> pl.LightningModule:
    """The configured module around ``model`` (settings: :class:`nni_nas.config.NasSettings`)."""
    if settings.module in MODULES:
        if settings.module_args:
            raise ConfigError(f"tuner.classArgs.module_args: the built-in module {settings.module!r} takes its "
                              "settings from train (lr, optimizer, ...); module_args are for your own module")
        return builtin_module(settings.module, model, num_classes, settings.train)
    cls = module_class(settings.module, settings.code_dir)
    problem = module_args_problem(settings.module, settings.module_args, settings.code_dir)
    if problem:
        raise ConfigError(problem)
    what = f"module {settings.module!r} with module_args {settings.module_args}"
    if issubclass(cls, NniLightningModule) and not user_code.takes(cls, "model"):
        module = user_code.call(cls, what, **settings.module_args)
        user_code.call(module.set_model, f"{what}: set_model", model)
        return module
    return user_code.call(cls, what, model=model, **settings.module_args)
