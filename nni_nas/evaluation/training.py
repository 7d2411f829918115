"""Train one concrete architecture with Lightning, measure it and save what export needs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import CSVLogger
from torch import nn
from torch.utils.data import DataLoader

from nni_nas.config import TrainSettings
from nni_nas.data import DataBundle
from nni_nas.evaluation.classifier import ImageClassifier
from nni_nas.evaluation.metrics import cost_metrics
from nni_nas.evaluation.nni_reporter import NniReporter, final_result


def loaders(bundle: DataBundle, train: TrainSettings) -> tuple[DataLoader, DataLoader, DataLoader]:
    """Train (shuffled, seeded), validation and test loaders."""
    generator = torch.Generator().manual_seed(train.seed)
    common = {"batch_size": train.batch_size, "num_workers": train.num_workers,
              "persistent_workers": train.num_workers > 0}
    return (
        DataLoader(bundle.train, shuffle=True, generator=generator, **common),
        DataLoader(bundle.val, shuffle=False, **common),
        DataLoader(bundle.test, shuffle=False, **common),
    )


def make_trainer(train: TrainSettings, out_dir: Path, callbacks: list[pl.Callback], epochs: int | None = None,
                 progress_bar: bool = True) -> pl.Trainer:
    """A Lightning trainer with the house defaults: CSV log in the trial folder, no checkpoint files
    (the trial saves its own weights), no sanity validation."""
    return pl.Trainer(
        max_epochs=epochs if epochs is not None else train.epochs,
        accelerator=train.accelerator,
        devices=train.devices,
        logger=CSVLogger(str(out_dir), name="lightning_logs"),
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress_bar,
        num_sanity_val_steps=0,
        deterministic=False,
    )


def train_and_evaluate(model: nn.Module, bundle: DataBundle, train: TrainSettings, out_dir: Path,
                       progress_bar: bool = True, report: bool = True, *, module: ImageClassifier | None = None,
                       extra_callbacks: list | None = None) -> tuple[dict[str, Any], ImageClassifier]:
    """Train ``model`` on ``bundle``; report each epoch's validation accuracy; return the final result dict.

    The dict holds ``default`` (= ``val_acc``, last epoch), ``test_acc``, ``params``, ``flops``,
    ``latency_ms``, ``train_seconds`` and the seed. ``module`` replaces the default :class:`ImageClassifier`
    around ``model`` (e.g. one with an auxiliary loss); ``extra_callbacks`` join the reporter.
    """
    if module is None:
        module = ImageClassifier(model, bundle.num_classes, lr=train.lr, optimizer=train.optimizer,
                                 momentum=train.momentum, weight_decay=train.weight_decay,
                                 max_epochs=train.epochs if train.cosine else None,
                                 label_smoothing=train.label_smoothing)
    callbacks = [NniReporter(history_file=out_dir / "history.jsonl")] if report else []
    callbacks += list(extra_callbacks or [])
    trainer = make_trainer(train, out_dir, callbacks, progress_bar=progress_bar)
    train_loader, val_loader, test_loader = loaders(bundle, train)
    start = time.perf_counter()
    trainer.fit(module, train_loader, val_loader)
    seconds = time.perf_counter() - start
    val_acc = float(trainer.callback_metrics["val_acc"])
    test_acc = float(trainer.test(module, test_loader, verbose=False)[0]["test_acc"])
    # latency on the device the network trained on (the GPU NNI assigned, or the CPU), which the dict names
    device = trainer.strategy.root_device
    costs = cost_metrics(module.model.to(device), bundle.input_shape, latency_runs=train.latency_runs, device=device)
    module.model.cpu()
    return final_result(val_acc, test_acc, costs, train_seconds=round(seconds, 2), seed=train.seed), module
