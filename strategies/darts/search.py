"""The DARTS search as a Lightning module (alternating alpha and w updates) and its per-epoch record.

Liu, Simonyan, Yang, "DARTS: Differentiable Architecture Search", ICLR 2019, Algorithm 1: each step first
updates alpha on a batch of the architecture half of the training data (the gradient of
:func:`strategies.darts.architect.architecture_gradient`, Adam), then w on a batch of the weight half (SGD with
momentum, cosine schedule, gradient clipping). Validation accuracy of the supernet on the held-out validation
split is logged per epoch; :class:`SearchRecorder` writes the derived genotype and the alpha softmax each epoch.
:func:`run_darts` is one whole run: search, derive, draw, retrain. With ``train: {devices: N, strategy: ddp}`` the
search runs on N processes, every gradient averaged over them (:mod:`nni_nas.runtime.distributed`).
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
import torchmetrics

import model_spaces
import nni_nas.components as components
from nni_nas.config import NasSettings
from nni_nas.errors import ConfigError
from nni_nas.evaluation.classifier import check_finite
from nni_nas.evaluation.nni_reporter import NniReporter
from nni_nas.evaluation.training import make_trainer
from nni_nas.runtime import distributed
from nni_nas.runtime.trial_files import write_text_atomic
from strategies.darts.architect import architecture_gradient
from strategies.darts.evaluation import train_with_options
from strategies.darts.optim import search_loaders, search_optimizers
from strategies.darts.plot import plot_cells
from strategies.darts.settings import DartsSettings
from strategies.darts.supernet import DartsSupernet, derive_within
from strategies.oneshot import finish_one_shot, run_settings, write_epoch_record

_logger = logging.getLogger(__name__)


class DartsSearchModule(pl.LightningModule):
    """Bilevel DARTS search on a :class:`DartsSupernet` (manual optimisation: two optimisers per step).

    Batches are dicts ``{"weights": (x, y), "arch": (x, y)}`` from the two halves of the training split.

    Parameters
    ----------
    supernet
        The relaxed space.
    num_classes
        For the accuracy metrics.
    hp
        The DARTS settings: the optimisers' and ``order`` (1: first order, 2: second order with ``xi`` = the
        current w learning rate unless ``hp.xi`` is given).
    epochs
        Length of the cosine schedule of w's learning rate.
    """

    def __init__(self, supernet: DartsSupernet, num_classes: int, hp: DartsSettings, epochs: int):
        super().__init__()
        self.automatic_optimization = False
        self.supernet = supernet
        self.hp = hp
        self.epochs = epochs
        self.train_acc = torchmetrics.Accuracy(task="multiclass", num_classes=num_classes)
        self.val_acc = torchmetrics.Accuracy(task="multiclass", num_classes=num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.supernet(x)

    def loss(self, batch: Any) -> torch.Tensor:
        """Cross-entropy of the supernet with its current w and alpha on ``batch``."""
        x, y = batch
        return F.cross_entropy(self.supernet(x), y)

    def configure_optimizers(self):
        return search_optimizers(self.supernet, self.hp, self.epochs)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        w_opt, arch_opt = self.optimizers()
        weights, alphas = self.supernet.weight_parameters(), self.supernet.arch_parameters()
        lr = w_opt.optimizer.param_groups[0]["lr"]

        arch_opt.zero_grad()
        xi = self.hp.xi if self.hp.xi is not None else lr
        x, y = batch["weights"]
        virtual: list | None = [] if self.hp.order == 2 and self.hp.reuse_virtual_step else None
        first_train_logits: list[torch.Tensor] = []

        def loss_fn(part: Any) -> torch.Tensor:  # self.loss, keeping the first training-batch logits (the virtual step)
            logits = self.supernet(part[0])
            if part is batch["weights"] and not first_train_logits:
                first_train_logits.append(logits.detach())
            return F.cross_entropy(logits, part[1])

        arch_loss = architecture_gradient(loss_fn, weights, alphas, batch["weights"], batch["arch"],
                                          self.hp.order, xi, reduce=distributed.average, virtual=virtual)
        check_finite(arch_loss, self.current_epoch, self.hp.arch_lr)
        arch_opt.step()

        w_opt.zero_grad()
        if virtual:  # reuse_virtual_step: the virtual step's gradient, already averaged over the ranks
            grads, loss = virtual[0]
            logits = first_train_logits[0]
            check_finite(loss, self.current_epoch, lr)
            for weight, grad in zip(weights, grads):
                weight.grad = grad.detach().clone()
        else:
            logits = self.supernet(x)
            loss = F.cross_entropy(logits, y)
            check_finite(loss, self.current_epoch, lr)
            distributed.local_backward(self, loss)  # without DDP's reducer: the mean over ranks is taken here
            distributed.average_gradients(weights)
        if self.hp.grad_clip:
            torch.nn.utils.clip_grad_norm_(weights, self.hp.grad_clip)
        w_opt.step()

        self.train_acc(logits, y)
        self.log("train_loss", loss, prog_bar=True)
        self.log("arch_loss", arch_loss)
        self.log("train_acc", self.train_acc, on_step=False, on_epoch=True)

    def on_train_epoch_end(self) -> None:
        self.lr_schedulers().step()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        logits = self.supernet(x)
        self.val_acc(logits, y)
        self.log("val_loss", F.cross_entropy(logits, y), sync_dist=distributed.world_size() > 1)
        self.log("val_acc", self.val_acc, on_step=False, on_epoch=True, prog_bar=True)


class SearchRecorder(pl.Callback):
    """After each validation epoch: append the epoch's derived architecture, genotype and alpha softmax to
    ``search_history.jsonl`` and rewrite ``genotype.txt`` with the current genotype (trial folder)."""

    def __init__(self, out_dir: Path, genotype_of: Callable[[dict[str, Any]], Any]):
        self.out_dir = Path(out_dir)
        self.genotype_of = genotype_of
        self.records: list[dict[str, Any]] = []

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        supernet: DartsSupernet = pl_module.supernet
        arch = supernet.derive_architecture()
        metrics = trainer.callback_metrics
        record = {
            "epoch": trainer.current_epoch,
            "val_acc": float(metrics["val_acc"]) if "val_acc" in metrics else None,
            "train_loss": float(metrics["train_loss"]) if "train_loss" in metrics else None,
            "genotype": str(self.genotype_of(arch)),
            "arch": arch,
            "alpha_softmax": supernet.alpha_softmax(),
        }
        self.records.append(record)
        write_epoch_record(self.out_dir, record)
        write_text_atomic(self.out_dir / "genotype.txt", record["genotype"] + "\n")
        write_text_atomic(self.out_dir / "alphas.json", json.dumps(record["alpha_softmax"], indent=1))

# ------------------------------------------------------------------------------------------------ one run
def run_darts(settings: NasSettings, params: dict[str, Any] | None, out_dir: Path,
              progress_bar: bool = True) -> dict[str, Any]:
    """One DARTS run: search, derive the genotype, draw it, retrain it (unless switched off); the final dict.

    A space that is not a cell space (:class:`model_spaces.contract.CellSpace`: any NNI space, the user's own and
    NNI's hub spaces) is searched through the generic relaxation (:mod:`strategies.supernet.relaxed_search`)."""
    if not is_cell_space(settings):
        from strategies.supernet.relaxed_search import run_relaxed

        return run_relaxed(settings, params, out_dir, "darts", DartsSettings, progress_bar)
    settings, darts, run_params = run_settings(settings, params, DartsSettings)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    supernet, genotype_of, records = search(settings, darts, out_dir, progress_bar)
    search_seconds = time.perf_counter() - start
    arch = supernet.derive_architecture()
    budget = derive_in_budget(settings, darts, supernet, arch)
    arch = budget.pop("arch", arch)
    genotype = genotype_of(arch)

    write_text_atomic(out_dir / "genotype.txt", f"{genotype}\n")
    plot_cells(genotype, out_dir / "cells.png", title=f"DARTS order {darts.order}, seed {settings.train.seed}")
    search_metrics = {**run_params, "search_val_acc": records[-1]["val_acc"], "genotype": str(genotype),
                      "arch": arch, "order": darts.order, "search_epochs": darts.search_epochs,
                      "search_seconds": round(search_seconds, 2), **budget}
    _logger.info("derived genotype: %s", genotype)
    return finish_one_shot(settings, arch, out_dir, search_metrics, retrain=darts.retrain,
                           progress_bar=progress_bar, space_args=darts.evaluation_space_args(),
                           train_fn=functools.partial(train_with_options, options=darts))


def is_cell_space(settings: NasSettings) -> bool:
    """Whether the configured space is a cell space, searched with DARTS's own cell derivation."""
    from model_spaces.contract import CellSpace

    return issubclass(model_spaces.get_space_class(settings.space, settings.code_dir), CellSpace)


def derive_in_budget(settings: NasSettings, darts: DartsSettings, supernet: DartsSupernet,
                     argmax: dict[str, Any]) -> dict[str, Any]:
    """Under ``max_params`` / ``max_flops``: the strongest derivation whose evaluation network is within them
    (``arch``), and what the final dict records of it: the unconstrained argmax's violations when it was over
    (also said on stderr), how many derivations were looked at. Empty without such limits."""
    constraints = settings.constraint_settings
    if not constraints.static:
        return {}
    from model_spaces.costs import CostModel
    from nni_nas.constraints import LIMITS

    info = components.data_shape(settings)
    eval_args = {**settings.space_args, **darts.evaluation_space_args()}
    costs = CostModel(components.build_space(settings, info, **eval_args), eval_args, info[0])
    keys = [LIMITS[key] for key in constraints.static]
    over = constraints.violations(costs.costs_of(argmax, keys))
    if not over:
        return {"arch": argmax, "argmax_over_budget": False}
    arch, looked = derive_within(supernet.alpha_softmax(), supernet.space.cell_edges(), supernet.input_choices,
                                 lambda candidate: not constraints.violations(costs.costs_of(candidate, keys)))
    if arch is None:
        raise ConfigError(f"DARTS: none of the {looked} strongest derived architectures is within "
                          f"{constraints.as_dict()} (the argmax has {'; '.join(over)}); raise the limits")
    note = (f"DARTS: the derived argmax is over budget ({'; '.join(over)}); derived instead the strongest within "
            f"{constraints.as_dict()} (number {looked} in order of alpha strength)")
    print(note, file=sys.stderr)
    _logger.warning(note)
    return {"arch": arch, "argmax_over_budget": True, "argmax_violations": over, "budget_rank": looked}


def search(settings: NasSettings, darts: DartsSettings, out_dir: Path, progress_bar: bool = True):
    """Train the supernet; return it, the space's genotype function and the per-epoch records."""
    pl.seed_everything(settings.train.seed, workers=True, verbose=False)
    bundle = components.load_bundle(settings)
    # The paper's search network: no auxiliary head, batch norm without affine parameters.
    space = components.build_space(settings, (bundle.input_shape, bundle.num_classes), affine=False, auxiliary=False)
    supernet = DartsSupernet(space)
    module = DartsSearchModule(supernet, bundle.num_classes, darts, epochs=darts.search_epochs)
    recorder = SearchRecorder(out_dir, space.genotype)
    callbacks = [NniReporter(history_file=out_dir / "history.jsonl"), recorder,
                 *distributed.trace_callbacks(lambda m: {"arch": m.supernet.arch_parameters(),
                                                         "weights": m.supernet.weight_parameters()})]
    trainer = make_trainer(settings.train, out_dir, callbacks, epochs=darts.search_epochs, progress_bar=progress_bar)
    weight_loader, arch_loader, val_loader = search_loaders(bundle, darts.search_batch_size, darts.train_portion,
                                                            settings.train.seed, settings.train.num_workers)
    with distributed.search_processes(settings.train):  # on several devices, only rank 0 goes on from here
        trainer.fit(module, {"weights": weight_loader, "arch": arch_loader}, val_loader)
    return supernet, space.genotype, recorder.records
