"""Train one concrete architecture with Lightning, measure it and save what export needs."""

from __future__ import annotations

import logging
import time
import warnings
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
from nni_nas.evaluation.nni_reporter import MissingMetricError, NniReporter, final_result, missing_metric_message


def loaders(bundle: DataBundle, train: TrainSettings) -> tuple[DataLoader, DataLoader, DataLoader | None]:
    """Train (shuffled, seeded), validation and test loaders; a split that is a DataLoader already (a user's data
    function may return loaders) is used as it is, and a missing test split is None."""
    generator = torch.Generator().manual_seed(train.seed)
    common = {"batch_size": train.batch_size, "num_workers": train.num_workers,
              "persistent_workers": train.num_workers > 0}

    def loader(split: Any, **extra: Any) -> DataLoader | None:
        if split is None or isinstance(split, DataLoader):
            return split
        return DataLoader(split, **common, **extra)

    return (loader(bundle.train, shuffle=True, generator=generator), loader(bundle.val, shuffle=False),
            loader(bundle.test, shuffle=False))


def quiet_lightning() -> None:
    """Keep a trial's stderr for what matters, so a failed trial's one-line reason stands out: Lightning's banners
    (GPU/TPU available, the LitLogger tip, "`Trainer.fit` stopped") are info-level and dropped, and so are two
    harmless warnings of this torch/Lightning pair (Lightning's use of the deprecated ``LeafSpec`` check; the
    logging interval being longer than a small data set's epoch). Other warnings still show."""
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    warnings.filterwarnings("ignore", message=r".*smaller than the logging interval")


def make_trainer(train: TrainSettings, out_dir: Path, callbacks: list[pl.Callback], epochs: int | None = None,
                 progress_bar: bool = True) -> pl.Trainer:
    """A Lightning trainer with the house defaults: CSV log in the trial folder (and TensorBoard's, see
    :func:`loggers`), no checkpoint files (the trial saves its own weights), no sanity validation; quiet
    (:func:`quiet_lightning`) without a progress bar, as under NNI. ``train.strategy: ddp`` with ``train.devices``
    above 1 trains on that many processes (:mod:`nni_nas.runtime.distributed`); on one device it changes nothing."""
    if not progress_bar:
        quiet_lightning()
    return pl.Trainer(
        max_epochs=epochs if epochs is not None else train.epochs,
        accelerator=train.accelerator,
        devices=train.devices,
        strategy=train.strategy if train.devices > 1 else "auto",
        logger=loggers(out_dir),
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress_bar,
        num_sanity_val_steps=0,
        deterministic=False,
    )


TENSORBOARD_DIR = "tensorboard"  # where NNI's portal looks: <trial output folder>/tensorboard


def loggers(out_dir: Path) -> list:
    """Lightning's CSV log, plus a TensorBoard log in ``<out_dir>/tensorboard`` when tensorboard is installed (the
    ``tensorboard`` extra): NNI 3.0's portal starts TensorBoard on exactly that folder of each chosen trial
    (``nni_node/extensions/nniTensorboardManager.js``). Without tensorboard, the CSV log only, silently."""
    import importlib.util

    chosen: list = [CSVLogger(str(out_dir), name="lightning_logs")]
    if importlib.util.find_spec("tensorboard") is not None:
        from pytorch_lightning.loggers import TensorBoardLogger

        chosen.append(TensorBoardLogger(str(out_dir), name=TENSORBOARD_DIR, version="", default_hp_metric=False))
        link_for_portal(out_dir / TENSORBOARD_DIR)
    return chosen


def link_for_portal(folder: Path) -> Path | None:
    """Make ``folder`` (a trial's TensorBoard log) visible where NNI 3.0's portal looks, and return that path.

    The portal asks the training service for the trial's output folder and starts TensorBoard on its
    ``tensorboard`` sub-folder; NNI 3.0's local (v3) service answers ``<experiment>/trials/<id>/output``
    (``nni_node/training_service/v3/compat.js``) while its trials run, and write, in
    ``<experiment>/environments/local-env/trials/<id>`` (``NNI_OUTPUT_DIR``), and nothing copies one to the other.
    A symbolic link there points TensorBoard at the trial's own log. Outside such a trial: nothing, None."""
    import os

    out, trial, experiment = (os.environ.get(k) for k in ("NNI_OUTPUT_DIR", "NNI_TRIAL_JOB_ID", "NNI_EXP_ID"))
    from nni_nas.runtime.ranks import is_secondary_process

    if is_secondary_process():  # a DDP rank other than 0 writes nothing
        return None
    if not (out and trial and experiment) or Path(out).resolve() != folder.parent.resolve():
        return None
    root = next((p for p in Path(out).resolve().parents if p.name == experiment), None)
    if root is None:
        return None
    link = root / "trials" / trial / "output" / TENSORBOARD_DIR
    try:
        folder.mkdir(parents=True, exist_ok=True)
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            if link.resolve() == folder.resolve():
                return link
            if link.is_symlink():
                link.unlink()
            elif not any(link.iterdir()):  # NNI's own empty folder, made when the button was pressed early
                link.rmdir()
            else:
                return None
        link.symlink_to(folder.resolve(), target_is_directory=True)
    except OSError:
        return None  # the curves stay in the trial folder; the portal's button just finds none
    return link


def train_and_evaluate(model: nn.Module, bundle: DataBundle, train: TrainSettings, out_dir: Path,
                       progress_bar: bool = True, report: bool = True, *, module: pl.LightningModule | None = None,
                       extra_callbacks: list | None = None,
                       monitor: str = "val_acc") -> tuple[dict[str, Any], pl.LightningModule]:
    """Train ``model`` on ``bundle``; report each epoch's ``monitor`` value; return the final result dict.

    The dict holds ``default`` (= ``monitor``, last epoch), ``val_acc`` and ``test_acc`` (or whatever else the
    module logs in validation and test), ``params``, ``flops``, ``latency_ms``, ``train_seconds`` and the seed.
    ``module`` replaces the default :class:`ImageClassifier` around ``model`` (one with an auxiliary loss, a
    regression module, the user's own); ``extra_callbacks`` join the reporter. A module that never logs ``monitor``
    fails at the end of its first validation epoch (:class:`~nni_nas.evaluation.nni_reporter.MissingMetricError`).
    """
    if module is None:
        module = ImageClassifier(model, bundle.num_classes, lr=train.lr, optimizer=train.optimizer,
                                 momentum=train.momentum, weight_decay=train.weight_decay,
                                 max_epochs=train.epochs if train.cosine else None,
                                 label_smoothing=train.label_smoothing)
    callbacks = [NniReporter(monitor, history_file=out_dir / "history.jsonl", require=True)] if report else []
    callbacks += list(extra_callbacks or [])
    trainer = make_trainer(train, out_dir, callbacks, progress_bar=progress_bar)
    train_loader, val_loader, test_loader = loaders(bundle, train)
    start = time.perf_counter()
    trainer.fit(module, train_loader, val_loader)
    seconds = time.perf_counter() - start
    if monitor not in trainer.callback_metrics:
        raise MissingMetricError(missing_metric_message(module, monitor, trainer.callback_metrics))
    # what the module logged at the end (not the training batches' values), the monitored value among them
    logged = {key: float(value) for key, value in trainer.callback_metrics.items()
              if not key.startswith("train") and value.numel() == 1}
    if test_loader is not None and _has_test_step(module):
        tested = trainer.test(module, test_loader, verbose=False)
        logged.update({key: float(value) for key, value in (tested[0] if tested else {}).items()})
    # latency_ms on the CPU (what max_latency_ms judges); also latency_ms_cuda when it trained on a GPU
    device = trainer.strategy.root_device
    costs = cost_metrics(model.to(device), bundle.input_shape, latency_runs=train.latency_runs, device=device)
    model.cpu()
    value = logged.pop(monitor)
    return final_result(value, costs, monitor=monitor, logged=logged, train_seconds=round(seconds, 2),
                        seed=train.seed), module


def _has_test_step(module: pl.LightningModule) -> bool:
    return getattr(type(module), "test_step", None) is not getattr(pl.LightningModule, "test_step", None)
