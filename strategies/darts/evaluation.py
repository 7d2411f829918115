"""The evaluation stage of DARTS: retrain the derived architecture from scratch, with the paper's options.

Liu, Simonyan, Yang, "DARTS: Differentiable Architecture Search", ICLR 2019, Sec. 3.3 and Appendix A.2: on
CIFAR-10 the evaluation network is trained with cutout (DeVries & Taylor 2017, length 16), scheduled drop-path
(probability 0.2, raised linearly over training) and an auxiliary head (loss weight 0.4), gradients clipped at
norm 5. All are off by default (the digits runs); each is a Lightning hook, not a change of the training loop.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from nni_nas.config import TrainSettings
from nni_nas.data import DataBundle
from nni_nas.evaluation.classifier import ImageClassifier
from nni_nas.evaluation.training import train_and_evaluate
from strategies.darts.settings import DartsSettings


def cutout(image: torch.Tensor, length: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A copy of ``image`` (C, H, W) with one ``length`` x ``length`` square zeroed at a uniformly random centre
    (clipped at the border), as in DeVries & Taylor 2017."""
    _, height, width = image.shape
    cy = int(torch.randint(height, (1,), generator=generator))
    cx = int(torch.randint(width, (1,), generator=generator))
    top, bottom = max(cy - length // 2, 0), min(cy + length // 2, height)
    left, right = max(cx - length // 2, 0), min(cx + length // 2, width)
    out = image.clone()
    out[:, top:bottom, left:right] = 0.0
    return out


class CutoutDataset(Dataset):
    """A training split whose images get :func:`cutout` each time they are read."""

    def __init__(self, base: Dataset, length: int):
        self.base = base
        self.length = length

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        image, label = self.base[index]
        return cutout(image, self.length), label


class DropPathSchedule(pl.Callback):
    """Scheduled drop-path: the network's ``drop_path_prob`` grows linearly from 0 to ``drop_prob`` over
    training (set at the start of each epoch)."""

    def __init__(self, drop_prob: float):
        self.drop_prob = drop_prob

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        pl_module.model.drop_path_prob = self.drop_prob * trainer.current_epoch / max(trainer.max_epochs, 1)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        pl_module.model.drop_path_prob = 0.0  # the saved network evaluates without it (it only acts in training)


class EvaluationClassifier(ImageClassifier):
    """:class:`ImageClassifier` plus the auxiliary-head loss and gradient clipping of the evaluation network.

    The network leaves its auxiliary logits in ``model.aux_logits`` during training (see
    :class:`model_spaces.darts.DartsSpace`); they add ``auxiliary_weight`` times their cross-entropy.
    """

    def __init__(self, model: nn.Module, num_classes: int, auxiliary_weight: float = 0.0,
                 grad_clip: float | None = None, **kwargs: Any):
        super().__init__(model, num_classes, **kwargs)
        self.auxiliary_weight = auxiliary_weight
        self.grad_clip = grad_clip

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = super().training_step(batch, batch_idx)
        aux_logits = getattr(self.model, "aux_logits", None)
        if self.auxiliary_weight > 0 and aux_logits is not None:
            aux_loss = F.cross_entropy(aux_logits, batch[1])
            self.log("train_aux_loss", aux_loss)
            loss = loss + self.auxiliary_weight * aux_loss
        return loss

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        if self.grad_clip:
            self.clip_gradients(optimizer, gradient_clip_val=self.grad_clip, gradient_clip_algorithm="norm")


def train_with_options(model: nn.Module, bundle: DataBundle, train: TrainSettings, out_dir: Path,
                       progress_bar: bool = True, report: bool = True, *,
                       options: DartsSettings) -> tuple[dict[str, Any], ImageClassifier]:
    """:func:`nni_nas.evaluation.training.train_and_evaluate` with the evaluation options; the same result dict."""
    module = EvaluationClassifier(model, bundle.num_classes, auxiliary_weight=options.auxiliary_weight,
                                  grad_clip=options.eval_grad_clip, lr=train.lr, optimizer=train.optimizer,
                                  momentum=train.momentum, weight_decay=train.weight_decay,
                                  max_epochs=train.epochs if train.cosine else None,
                                  label_smoothing=train.label_smoothing)
    callbacks: list[pl.Callback] = []
    if options.drop_path_prob > 0:
        callbacks.append(DropPathSchedule(options.drop_path_prob))
    if options.cutout_length > 0:
        bundle = dataclasses.replace(bundle, train=CutoutDataset(bundle.train, options.cutout_length))
    return train_and_evaluate(model, bundle, train, out_dir, progress_bar, report, module=module,
                              extra_callbacks=callbacks)
