"""Lightning training modules. One-shot strategies and the trial entry point reuse them.

:class:`ImageClassifier` subclasses NNI's ``nni.nas.evaluator.pytorch.LightningModule`` so that NNI's own
``Lightning`` evaluator accepts it, and it is a plain ``pytorch_lightning.LightningModule`` otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
import torchmetrics
from nni.nas.evaluator.pytorch import LightningModule as NniLightningModule
from torch import nn

from nni_nas.errors import ConfigError, NonFiniteError


class ImageClassifier(NniLightningModule):
    """Cross-entropy classification with accuracy metrics, SGD or Adam, and an optional cosine schedule.

    Parameters
    ----------
    model
        The network (a frozen architecture or a supernet); may also be set later with ``set_model``.
    num_classes
        Number of classes, for the accuracy metrics.
    lr, optimizer, momentum, weight_decay
        Optimiser settings (``optimizer`` is ``sgd`` or ``adam``).
    max_epochs
        Length of the cosine schedule; ``None`` keeps the learning rate constant.
    label_smoothing
        Passed to the cross-entropy loss.
    """

    def __init__(self, model: nn.Module | None = None, num_classes: int = 10, lr: float = 0.05,
                 optimizer: str = "sgd", momentum: float = 0.9, weight_decay: float = 5e-4,
                 max_epochs: int | None = None, label_smoothing: float = 0.0):
        super().__init__()
        if optimizer not in ("sgd", "adam"):
            raise ConfigError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
        self.save_hyperparameters(ignore=["model"])
        if model is not None:
            self.set_model(model)
        self.train_acc = torchmetrics.Accuracy(task="multiclass", num_classes=num_classes)
        self.val_acc = torchmetrics.Accuracy(task="multiclass", num_classes=num_classes)
        self.test_acc = torchmetrics.Accuracy(task="multiclass", num_classes=num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.hparams.label_smoothing)
        check_finite(loss, self.current_epoch, self.hparams.lr)
        self.train_acc(logits, y)
        self.log("train_loss", loss, prog_bar=True)
        self.log("train_acc", self.train_acc, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.val_acc(logits, y)
        self.log("val_loss", F.cross_entropy(logits, y), prog_bar=False)
        self.log("val_acc", self.val_acc, on_step=False, on_epoch=True, prog_bar=True)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.test_acc(self(x), y)
        self.log("test_acc", self.test_acc, on_step=False, on_epoch=True)

    def configure_optimizers(self):
        hp = self.hparams
        opt = build_optimizer(self.parameters(), hp.optimizer, hp.lr, hp.momentum, hp.weight_decay)
        if not hp.max_epochs:
            return opt
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=hp.max_epochs)
        return {"optimizer": opt, "lr_scheduler": sched}


def build_optimizer(parameters: Iterable[nn.Parameter], optimizer: str, lr: float, momentum: float,
                    weight_decay: float) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum (when ``momentum > 0``) or Adam: how every network of nni-nas is trained."""
    if optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=momentum > 0)
    return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay)


def check_finite(loss: torch.Tensor, epoch: int, lr: float) -> None:
    """Raise :class:`NonFiniteError` when ``loss`` is NaN or infinite, naming the likely fix."""
    value = float(loss.detach())
    if not math.isfinite(value):
        raise NonFiniteError(
            f"training loss became {value} in epoch {epoch}; lower train.lr (now {lr}) or check the input data"
        )
