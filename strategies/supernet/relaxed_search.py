"""One gradient-based one-shot search on any NNI space: DARTS (first or second order), GDAS or ProxylessNAS over a
:class:`strategies.supernet.relaxed.RelaxedSupernet`, then the derivation and the retraining.

Each training step is DARTS's Algorithm 1 (Liu et al. 2019): the architecture parameters take one Adam step on a
batch of the architecture half of the training split, then the weights one SGD step on a batch of the weight half.
What changes per method is the relaxation (:mod:`strategies.supernet.relaxed`) and:

- ``darts``: the architecture gradient of :func:`strategies.darts.architect.architecture_gradient` (eq. 6 or 7).
- ``gdas``: first order; the temperature of the Gumbel-softmax decays linearly from ``tau_max`` to ``tau_min``
  over the search epochs (Dong & Yang 2019, Section 4.1).
- ``proxyless``: first order on the sampled path; with ``constraints.max_latency_ms`` the architecture loss is
  latency-aware (Cai et al. 2019, Section 3.3): ``CE * (E[latency] / target) ** beta`` (``multiplicative``, FBNet's
  form) or ``CE + lambda * E[latency] / target`` (``additive``), ``E[latency]`` from a per-candidate table measured
  on the device the trial trains on (:func:`strategies.supernet.relaxed.latency_table`).

The supernet's validation metric is reported to NNI every epoch: under ``darts`` the relaxed supernet's, under
``gdas`` and ``proxyless`` the currently derived architecture's path (their supernets run one path, so the derived
one is what their accuracy describes).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

import nni_nas.components as components
from nni_nas.config import NasSettings
from nni_nas.errors import ConfigError
from nni_nas.evaluation.classifier import check_finite
from nni_nas.evaluation.nni_reporter import NniReporter
from nni_nas.evaluation.training import make_trainer
from nni_nas.runtime.trial_files import write_text_atomic
from strategies.darts.architect import architecture_gradient
from strategies.darts.optim import search_optimizers
from strategies.darts.settings import DartsSettings
from strategies.oneshot import finish_one_shot, run_settings, write_epoch_record
from strategies.supernet.relaxed import RelaxedSupernet, best_first, expected_latency, latency_table

_logger = logging.getLogger(__name__)


@dataclasses.dataclass
class LatencyLoss:
    """ProxylessNAS's latency-aware architecture loss; ``fixed_ms`` is the latency outside the searched layers."""

    table: dict[int, list[float]]
    fixed_ms: float
    target_ms: float
    form: str
    beta: float
    lam: float

    def expected(self, supernet: RelaxedSupernet) -> torch.Tensor:
        return self.fixed_ms + expected_latency(supernet, self.table)

    def __call__(self, loss: torch.Tensor, supernet: RelaxedSupernet) -> torch.Tensor:
        ratio = self.expected(supernet) / self.target_ms
        if self.form == "multiplicative":
            return loss * ratio ** self.beta
        return loss + self.lam * ratio


class RelaxedSearch(pl.LightningModule):
    """The alternating updates of one gradient-based search (manual optimisation, two optimisers).

    Batches are dicts ``{"weights": (x, y), "arch": (x, y)}`` from the two halves of the training split.
    """

    def __init__(self, supernet: RelaxedSupernet, hp: DartsSettings, task: str, epochs: int,
                 latency: LatencyLoss | None = None):
        super().__init__()
        self.automatic_optimization = False
        self.supernet, self.hp, self.task, self.epochs, self.latency = supernet, hp, task, epochs, latency
        self.metric = "val_mse" if task == "regression" else "val_acc"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.supernet(x)

    def loss(self, batch: Any) -> torch.Tensor:
        """The task's loss (cross-entropy, or mean squared error for regression) of the supernet on ``batch``."""
        x, y = batch
        out = self.supernet(x)
        if self.task == "regression":
            return F.mse_loss(out.reshape(y.shape) if out.numel() == y.numel() else out, y.to(out.dtype))
        return F.cross_entropy(out, y)

    def configure_optimizers(self):
        return search_optimizers(self.supernet, self.hp, self.epochs)

    def on_train_epoch_start(self) -> None:
        if self.supernet.method == "gdas":  # linear decay over the epochs, tau_max at the first, tau_min at the last
            share = self.current_epoch / max(1, self.epochs - 1)
            self.supernet.label_weights.tau = self.hp.tau_max - (self.hp.tau_max - self.hp.tau_min) * share

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        w_opt, arch_opt = self.optimizers()
        weights, alphas = self.supernet.weight_parameters(), self.supernet.arch_parameters()
        lr = w_opt.optimizer.param_groups[0]["lr"]
        method = self.supernet.method

        arch_opt.zero_grad()
        virtual: list | None = None
        if self.current_epoch < getattr(self.hp, "warmup_epochs", 0):  # ProxylessNAS: the weights warm up first
            arch_loss = torch.zeros(())
        elif method == "darts":
            xi = self.hp.xi if self.hp.xi is not None else lr
            virtual = [] if self.hp.order == 2 and getattr(self.hp, "reuse_virtual_step", False) else None
            arch_loss = architecture_gradient(self.loss, weights, alphas, batch["weights"], batch["arch"],
                                              self.hp.order, xi, virtual=virtual)
        else:
            if method == "proxyless":
                self.supernet.resample()
            arch_loss = self.loss(batch["arch"])
            if self.latency is not None:
                arch_loss = self.latency(arch_loss, self.supernet)
            self.manual_backward(arch_loss, inputs=alphas)  # no weight gradients: the weight step takes its own
            arch_loss = arch_loss.detach()
        check_finite(arch_loss, self.current_epoch, self.hp.arch_lr)
        if self.current_epoch >= getattr(self.hp, "warmup_epochs", 0):
            arch_opt.step()

        w_opt.zero_grad()  # also what the architecture step left on the weights
        if method == "proxyless":
            self.supernet.resample()
        if virtual:  # DARTS's reuse_virtual_step: the gradient of the virtual step (eq. 6) on the same batch
            grads, loss = virtual[0]
            check_finite(loss, self.current_epoch, lr)
            for weight, grad in zip(weights, grads):
                weight.grad = grad.detach().clone()
        else:
            loss = self.loss(batch["weights"])
            check_finite(loss, self.current_epoch, lr)
            self.manual_backward(loss, inputs=weights)  # no architecture gradients: this is not their step
        if self.hp.grad_clip:
            torch.nn.utils.clip_grad_norm_(weights, self.hp.grad_clip)
        w_opt.step()
        self.log("train_loss", loss, prog_bar=True)
        self.log("arch_loss", arch_loss)

    def on_train_epoch_end(self) -> None:
        self.lr_schedulers().step()

    def on_validation_epoch_start(self) -> None:
        if self.supernet.method != "darts":
            self.supernet.fix(self.supernet.derive())

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        out = self.supernet(x)
        if self.task == "regression":
            out = out.reshape(y.shape) if out.numel() == y.numel() else out
            value = F.mse_loss(out, y.to(out.dtype))
        else:
            value = (out.argmax(1) == y).float().mean()
        # logged per batch, averaged over the epoch by Lightning (weighted by batch size) before the callbacks
        # (the NNI reporter, the recorder) read it
        self.log(self.metric, value, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(y))

    def on_validation_epoch_end(self) -> None:
        if self.supernet.method != "darts":
            self.supernet.fix(None)


class RelaxedRecorder(pl.Callback):
    """After each validation epoch: the epoch's derived architecture, metric, alpha softmax (and temperature or
    expected latency) appended to ``search_history.jsonl``."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.records: list[dict[str, Any]] = []

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: RelaxedSearch) -> None:
        if trainer.sanity_checking:
            return
        supernet = pl_module.supernet
        metrics = trainer.callback_metrics
        record: dict[str, Any] = {"epoch": trainer.current_epoch, "method": supernet.method}
        for key in (pl_module.metric, "train_loss", "arch_loss"):
            if key in metrics:
                record[key] = float(metrics[key])
        record["arch"] = supernet.derive()
        if supernet.method == "gdas":
            record["tau"] = supernet.label_weights.tau
        if pl_module.latency is not None:
            record["expected_latency_ms"] = round(float(pl_module.latency.expected(supernet)), 4)
        record["alpha_softmax"] = supernet.alpha_softmax()
        self.records.append(record)
        write_epoch_record(self.out_dir, record)


def search_loaders(bundle: Any, batch_size: int, train_portion: float, seed: int, num_workers: int = 0):
    """The two seeded halves of the training split (weights, architecture) and the validation loader."""
    if isinstance(bundle.train, DataLoader) or isinstance(bundle.val, DataLoader):
        raise ConfigError("one-shot search splits the training set into a weight half and an architecture half, so "
                          "the data function must return Datasets, not DataLoaders")
    from strategies.darts.optim import search_loaders as split

    return split(bundle, batch_size, train_portion, seed, num_workers)


def measure_latency_loss(settings: NasSettings, hp: Any, supernet: RelaxedSupernet, factory: Any,
                         example: torch.Tensor) -> LatencyLoss | None:
    """ProxylessNAS's latency term when ``constraints.max_latency_ms`` is set (None otherwise): the per-candidate
    table, and the latency outside the searched layers, read off the network at the initial derivation
    (its whole latency, timed as the final dict's, minus its candidates' table entries)."""
    target = settings.constraint_settings.as_dict().get("max_latency_ms")
    if target is None:
        return None
    from nni_nas import arch as arch_utils
    from nni_nas.evaluation.metrics import latency_ms

    arch = supernet.derive()
    table = latency_table(supernet, example, hp.latency_runs, arch)
    whole = latency_ms(arch_utils.freeze(factory, arch), tuple(example.shape[1:]), runs=hp.latency_runs)
    path = sum(table[key][index] for key, index in supernet.path_index(arch).items() if key in table)
    return LatencyLoss(table, max(0.0, whole - path), float(target), hp.latency_form, hp.latency_beta,
                       hp.latency_lambda)


def run_relaxed(settings: NasSettings, params: dict[str, Any] | None, out_dir: Path, method: str,
                settings_class: type[DartsSettings], progress_bar: bool = True) -> dict[str, Any]:
    """One search with ``method`` on the configured space (any NNI space), then derive, retrain and report.

    Writes ``search_history.jsonl`` (one line per epoch), ``alphas.json`` and the retrained model's files.
    """
    settings, hp, run_params = run_settings(settings, params, settings_class)
    for key in ("cutout_length", "drop_path_prob", "auxiliary_weight"):
        if getattr(hp, key):
            raise ConfigError(f"{key} is an option of the darts cell space's evaluation network; this space is "
                              "retrained with the config's train settings (leave it at 0)")
    out_dir.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(settings.train.seed, workers=True, verbose=False)
    bundle = components.load_bundle(settings)
    info = (bundle.input_shape, bundle.num_classes)
    supernet = RelaxedSupernet(components.build_space(settings, info), method,
                               tau=getattr(hp, "tau_max", 1.0))
    weight_loader, arch_loader, val_loader = search_loaders(bundle, hp.search_batch_size, hp.train_portion,
                                                            settings.train.seed, settings.train.num_workers)
    latency = None
    if method == "proxyless":
        example = next(iter(weight_loader))[0]
        latency = measure_latency_loss(settings, hp, supernet, components.space_factory(settings, info), example)
    module = RelaxedSearch(supernet, hp, settings.task, hp.search_epochs, latency)
    recorder = RelaxedRecorder(out_dir)
    trainer = make_trainer(dataclasses.replace(settings.train, devices=1), out_dir / "search",
                           [NniReporter(module.metric, out_dir / "history.jsonl"), recorder],
                           epochs=hp.search_epochs, progress_bar=progress_bar)
    start = time.perf_counter()
    trainer.fit(module, {"weights": weight_loader, "arch": arch_loader}, val_loader)
    search_seconds = time.perf_counter() - start
    supernet.cpu()
    arch = supernet.derive()
    budget = derive_in_budget(settings, hp, supernet, arch, info)
    arch = budget.pop("arch", arch)
    write_text_atomic(out_dir / "alphas.json", json.dumps(supernet.alpha_softmax(), indent=1))
    last = recorder.records[-1] if recorder.records else {}
    search_metrics = {**run_params, f"search_{module.metric}": last.get(module.metric), "arch": arch,
                      "method": method, "search_epochs": hp.search_epochs, "search_seconds": round(search_seconds, 2),
                      **budget}
    if method == "darts":
        search_metrics["order"] = hp.order
    if latency is not None:
        search_metrics["expected_latency_ms"] = round(float(latency.expected(supernet)), 4)
        search_metrics["latency_target_ms"] = latency.target_ms
    return finish_one_shot(settings, arch, out_dir, search_metrics, retrain=hp.retrain, progress_bar=progress_bar,
                           space_args=hp.eval_space_args)


def derive_in_budget(settings: NasSettings, hp: Any, supernet: RelaxedSupernet, argmax: dict[str, Any],
                     info: tuple) -> dict[str, Any]:
    """Under ``max_params`` / ``max_flops``: the most probable derivation within them (``arch``,
    :func:`strategies.supernet.relaxed.best_first`) and what the final dict records of it; empty without them."""
    from strategies.spos.search import budget_filter

    feasible = budget_filter(settings, hp.eval_space_args, info)
    if feasible is None:
        return {}
    if feasible(argmax):
        return {"arch": argmax, "argmax_over_budget": False}
    arch, looked = best_first(supernet, feasible)
    if arch is None:
        raise ConfigError(f"none of the {looked} most probable derived architectures is within "
                          f"{settings.constraint_settings.as_dict()}; raise the limits")
    note = (f"the derived argmax is over budget; derived instead the most probable architecture within "
            f"{settings.constraint_settings.as_dict()} (number {looked} in order of probability)")
    print(note, file=sys.stderr)
    _logger.warning(note)
    return {"arch": arch, "argmax_over_budget": True, "budget_rank": looked}
