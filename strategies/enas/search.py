"""ENAS's search loop as a Lightning module: the alternating phases of Pham et al. (2018), Section 2.2.

One ENAS epoch is (1) a pass over the training data that trains the shared weights omega, each batch on a child
freshly sampled from the controller, then (2) ``controller_steps`` REINFORCE updates of the controller theta, each
rewarding its children on a validation batch. :class:`PhasedEpoch` feeds both phases to one Lightning training
loop; Lightning's validation loop then measures the sampled children's mean validation accuracy, which the
``NniReporter`` callback sends to the portal. The reward is this project's

    r(m, a) = ACC_val(m, a) - c * Params(m)     (Params in millions; c = 0 is the paper's plain ENAS)

On several processes (``train: {devices: N, strategy: ddp}``) rank 0 samples every child and broadcasts it
(:meth:`EnasSearch.sample_children`), each rank computes on its shard of the batch, the rewards and all gradients are
averaged over the ranks (:mod:`nni_nas.runtime.distributed`): the controller, the baseline and the shared weights stay
identical on every rank, and one REINFORCE update rewards each child on the union of the ranks' batches.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

import nni_nas.components as components
from nni_nas.arch import arch_key
from nni_nas.config import NasSettings, TrainSettings
from nni_nas.errors import ConfigError
from nni_nas.evaluation.classifier import build_optimizer, check_finite
from nni_nas.evaluation.nni_reporter import NniReporter
from nni_nas.evaluation.training import loaders, make_trainer
from nni_nas.runtime import distributed
from strategies.enas.controller import (
    ControllerSample,
    EnasController,
    MovingAverageBaseline,
    controller_step,
    uniform_entropy,
)
from strategies.enas.settings import EnasSettings
from strategies.enas.supernet import SharedWeightSupernet, unshareable_labels
from strategies.oneshot import finish_one_shot, run_settings, write_epoch_record
from strategies.supernet.sampling import SamplingSupernet

BUDGET_RESAMPLES = 20  # extra rounds of derive_samples children when none of the first is within the budget

SHARED, CONTROLLER = "shared", "controller"


class PhasedEpoch:
    """One ENAS epoch as one iterable of ``(phase, batch)``: every training batch (``shared``), then
    ``controller_steps`` validation batches (``controller``), cycling through the validation data. On several
    processes each rank iterates over its shard of both (Lightning shards only DataLoaders it is given)."""

    def __init__(self, train_loader: DataLoader, val_loader: DataLoader, controller_steps: int, seed: int = 0):
        self.train_loader = train_loader
        self.val_loader = val_loader
        self.controller_steps = controller_steps
        self.seed = seed
        self.epoch = 0
        self._sharded: tuple[DataLoader, DataLoader] | None = None

    def loaders(self) -> tuple[DataLoader, DataLoader]:
        """This rank's training and validation loaders (the given ones on one process); made once the process
        group exists, i.e. inside ``trainer.fit``."""
        if self._sharded is None:
            self._sharded = (distributed.shard(self.train_loader, self.seed),
                             distributed.shard(self.val_loader, self.seed))
        return self._sharded

    def __len__(self) -> int:
        return len(self.loaders()[0]) + self.controller_steps

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        train_loader, val_loader = self.loaders()
        distributed.set_epoch(train_loader, self.epoch)
        self.epoch += 1
        for batch in train_loader:
            yield SHARED, batch
        val_batches = iter(val_loader)
        for _ in range(self.controller_steps):
            try:
                batch = next(val_batches)
            except StopIteration:
                val_batches = iter(val_loader)
                batch = next(val_batches)
            yield CONTROLLER, batch


@dataclass
class _EpochStats:
    shared_losses: list[float] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    entropies: list[float] = field(default_factory=list)
    controller_losses: list[float] = field(default_factory=list)
    child_params: list[int] = field(default_factory=list)
    over_budget: int = 0
    val_correct: float = 0.0
    val_count: int = 0


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


class EnasSearch(pl.LightningModule):
    """Trains ENAS's shared weights and controller in alternation (manual optimisation, two optimizers).

    Parameters
    ----------
    supernet
        The space as a :class:`SharedWeightSupernet`.
    controller
        The LSTM policy over the supernet's choices.
    settings
        ENAS settings (controller learning rate and steps, reward penalty ``c``, baseline decay, ...).
    train
        How the shared weights are trained (optimizer, lr, momentum, weight decay, cosine schedule).
    epochs
        Search epochs (length of the cosine schedule).
    out_dir
        Where each epoch's record is appended (``search_history.jsonl``); ``None`` writes nothing.
    """

    def __init__(self, supernet: SharedWeightSupernet, controller: EnasController, settings: EnasSettings,
                 train: TrainSettings, epochs: int, out_dir: Path | None = None):
        super().__init__()
        self.automatic_optimization = False
        self.supernet = supernet
        self.controller = controller
        self.settings = settings
        self.train_settings = train
        self.epochs = epochs
        self.out_dir = out_dir
        self.baseline = MovingAverageBaseline(settings.baseline_decay)
        self.stats = _EpochStats()
        # arch -> the limits it exceeds (empty: within budget); None without constraints. Set by run_enas.
        self.over_budget: Any = None

    # --------------------------------------------------------------------------------------- optimisers
    def configure_optimizers(self):
        t = self.train_settings
        shared = build_optimizer(self.supernet.parameters(), t.optimizer, t.lr, t.momentum, t.weight_decay)
        policy = torch.optim.Adam(self.controller.parameters(), lr=self.settings.controller_lr)
        if not t.cosine:
            return [shared, policy]
        return [shared, policy], [torch.optim.lr_scheduler.CosineAnnealingLR(shared, T_max=self.epochs)]

    # ------------------------------------------------------------------------------------------ rewards
    @torch.no_grad()
    def child_accuracy(self, arch: dict[str, Any], x: torch.Tensor, y: torch.Tensor) -> float:
        """Accuracy of the child ``arch`` on one batch, with the shared weights.

        Batch norm uses the batch's statistics: the shared running statistics mix every child trained so far
        and describe none of them (ENAS evaluates its children in training mode for the same reason).
        """
        was_training = self.supernet.training
        if not was_training:  # train() walks every module of the supernet: 80 children a controller step
            self.supernet.train()
        self.supernet.activate(arch)
        correct = (self.supernet(x).argmax(dim=1) == y).float().mean()
        if not was_training:
            self.supernet.train(False)
        return float(correct)

    def child_reward(self, arch: dict[str, Any], x: torch.Tensor, y: torch.Tensor) -> float:
        """``r = ACC_val(m, a) - c * Params(m)`` on one validation batch, Params in millions; a child over the
        budget (``over_budget``) gets the worst reward, ``-1 - c * Params``, below every child within it."""
        params = self.supernet.count_params(arch)
        self.stats.child_params.append(params)
        if self.over_budget is not None and self.over_budget(arch):
            self.stats.over_budget += 1
            return -1.0 - self.settings.param_penalty * params / 1e6
        return self.child_accuracy(arch, x, y) - self.settings.param_penalty * params / 1e6

    # ---------------------------------------------------------------------------------------- the loop
    def training_step(self, batch: tuple[str, Any], batch_idx: int) -> None:
        phase, (x, y) = batch
        if phase == SHARED:
            self.shared_step(x, y)
        else:
            self.controller_phase_step(x, y)

    def sample_children(self, n: int) -> ControllerSample:
        """``n`` children from the controller; on several processes, rank 0's, the same on every rank (each rank
        draws, rank 0's value indices are broadcast, the others score them by teacher forcing)."""
        sample = self.controller.sample(n)
        if distributed.world_size() == 1:
            return sample
        indices = distributed.broadcast_from_zero(sample.indices.clone())
        return sample if distributed.rank() == 0 else self.controller(indices=indices)

    def shared_step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Phase 1: one step of the shared weights on the child that the controller samples for this batch."""
        with torch.no_grad():
            self.supernet.activate(self.sample_children(1).archs[0])
        loss = F.cross_entropy(self.supernet(x), y)
        check_finite(loss, self.current_epoch, self.train_settings.lr)
        optimizer = self.optimizers()[0]
        optimizer.zero_grad()
        distributed.local_backward(self, loss)  # without DDP's reducer: the mean over ranks is taken here
        distributed.average_gradients(self.supernet.parameters())
        if self.settings.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.supernet.parameters(), self.settings.grad_clip)
        optimizer.step()
        self.stats.shared_losses.append(float(loss.detach()))
        self.log("shared_loss", loss, prog_bar=True)

    def controller_phase_step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Phase 2: one REINFORCE update of the controller, its children rewarded on this validation batch."""
        update = controller_step(self.controller, self.optimizers()[1], self.baseline,
                                 lambda arch: self.child_reward(arch, x, y), self.settings.controller_batch,
                                 self.settings.entropy_weight, backward=self._controller_backward,
                                 sampler=self.sample_children, reduce_rewards=self._mean_over_ranks)
        self.stats.rewards.extend(update["rewards"])
        self.stats.entropies.append(update["entropy"])
        self.stats.controller_losses.append(update["loss"])
        self.log("reward", _mean(update["rewards"]), prog_bar=True)

    def _controller_backward(self, loss: torch.Tensor) -> None:
        distributed.local_backward(self, loss)
        distributed.average_gradients(self.controller.parameters())

    @staticmethod
    def _mean_over_ranks(rewards: torch.Tensor) -> torch.Tensor:
        return distributed.average([rewards])[0]

    def on_train_epoch_start(self) -> None:
        self.stats = _EpochStats()

    def on_train_epoch_end(self) -> None:
        scheduler = self.lr_schedulers()
        if scheduler is not None:
            scheduler.step()

    # ---------------------------------------------------------------------------------------- validation
    def on_validation_model_eval(self) -> None:
        # Children are evaluated with batch statistics (see child_accuracy), so the modules stay in training mode.
        pass

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        """A freshly sampled child per validation batch: the epoch's value is the children's mean accuracy."""
        x, y = batch
        arch = self.sample_children(1).archs[0]
        accuracy = self.child_accuracy(arch, x, y)
        self.stats.val_correct += accuracy * len(y)
        self.stats.val_count += len(y)
        self.log("val_acc", accuracy, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(y),
                 sync_dist=distributed.world_size() > 1)

    def on_validation_epoch_end(self) -> None:
        if distributed.world_size() > 1:  # the epoch's accuracy over every rank's shard
            size = distributed.world_size()
            correct, count = distributed.average([torch.tensor([self.stats.val_correct, float(self.stats.val_count)],
                                                               dtype=torch.float64)])[0].tolist()
            self.stats.val_correct, self.stats.val_count = correct * size, int(round(count * size))
        record = self.epoch_record()
        for key in ("mean_reward", "baseline", "entropy", "controller_loss", "child_params_m", "shared_loss_mean"):
            if record[key] is not None:
                self.log(key, float(record[key]))
        if self.out_dir is not None and not self.trainer.sanity_checking and self.trainer.is_global_zero:
            write_epoch_record(self.out_dir, record)

    def epoch_record(self) -> dict[str, Any]:
        """This epoch's search state: children's mean val accuracy, reward, baseline, entropy, greedy arch."""
        stats = self.stats
        params = _mean([float(p) for p in stats.child_params])
        return {
            "epoch": self.current_epoch,
            "val_acc": stats.val_correct / stats.val_count if stats.val_count else None,
            "mean_reward": _mean(stats.rewards),
            "baseline": self.baseline.value,
            "entropy": _mean(stats.entropies),
            "uniform_entropy": uniform_entropy(self.controller),
            "controller_loss": _mean(stats.controller_losses),
            "shared_loss_mean": _mean(stats.shared_losses),
            "child_params_m": params / 1e6 if params is not None else None,
            "children_over_budget": stats.over_budget,
            "most_likely_arch": self.controller.most_likely(),
        }


@torch.no_grad()
def accuracy_on(search: EnasSearch, arch: dict[str, Any], loader: DataLoader) -> float:
    """Accuracy of the child ``arch`` over a whole loader, with the shared weights."""
    device = next(search.supernet.parameters()).device
    correct = count = 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        correct += search.child_accuracy(arch, x, y) * len(y)
        count += len(y)
    return correct / count


def derive_architecture(search: EnasSearch, val_loader: DataLoader, samples: int) -> list[dict[str, Any]]:
    """Sample ``samples`` children (plus the controller's most likely one), score each on the validation data
    with the shared weights, and return them best first by reward (Pham et al. 2018, Section 2.2: the final
    architecture is the sampled child with the highest reward)."""
    with torch.no_grad():
        archs = search.controller.sample(samples).archs + [search.controller.most_likely()]
        if search.over_budget is not None:  # only children within the budget can be derived
            archs = [arch for arch in archs if not search.over_budget(arch)]
            for _ in range(BUDGET_RESAMPLES):
                if archs:
                    break
                archs = [arch for arch in search.controller.sample(samples).archs if not search.over_budget(arch)]
    if not archs:
        raise ConfigError(f"ENAS: none of {samples * (BUDGET_RESAMPLES + 1) + 1} children sampled by the trained "
                          "controller is within the constraints; raise the limits or search longer")
    unique = {arch_key(arch): arch for arch in archs}
    scored = []
    for arch in unique.values():
        accuracy = accuracy_on(search, arch, val_loader)
        params = search.supernet.count_params(arch)
        scored.append({"arch": arch, "val_acc": accuracy, "params": params,
                       "reward": accuracy - search.settings.param_penalty * params / 1e6})
    return sorted(scored, key=lambda entry: entry["reward"], reverse=True)


# ------------------------------------------------------------------------------------------------ one run
def run_enas(settings: NasSettings, params: dict[str, Any] | None, out_dir: Path,
             progress_bar: bool = True) -> dict[str, Any]:
    """Search with ENAS, derive the best sampled child, retrain it (unless switched off) and return the final dict.

    Writes into ``out_dir``: ``search_history.jsonl`` (one line per epoch: children's mean val accuracy, mean
    reward, baseline, entropy, most likely architecture), ``derived.jsonl`` (the scored final candidates),
    ``controller.pt``, Lightning's CSV log under ``search/``, and the retrained model's files.
    """
    settings, enas, run_params = run_settings(settings, params, EnasSettings)
    out_dir.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(settings.train.seed, workers=True, verbose=False)
    bundle = components.load_bundle(settings)
    info = (bundle.input_shape, bundle.num_classes)
    space = components.build_space(settings, info)
    if unshareable_labels(space):  # a width, a depth: NNI's path-sampling mixed operations share their weights
        if settings.train.devices > 1:
            raise ConfigError("ENAS runs on several devices (train.devices > 1) on spaces of LayerChoice and "
                              "InputChoice only; this space has searched widths or depths: train.devices: 1")
        supernet = SlicedEnasSupernet(space, components.space_factory(settings, info))
    else:
        supernet = SharedWeightSupernet(space)
    controller = EnasController(supernet.choices, enas.controller_hidden, enas.temperature, enas.tanh_constant)
    epochs = enas.search_epochs or settings.train.epochs
    search = EnasSearch(supernet, controller, enas, settings.train, epochs, out_dir=out_dir)
    search.over_budget = budget_check(settings, bundle, enas.retrain_space_args)
    train_loader, val_loader, _ = loaders(bundle, settings.train)
    callbacks = [NniReporter(history_file=out_dir / "history.jsonl"), *distributed.trace_callbacks(_traced)]
    trainer = make_trainer(settings.train, out_dir / "search", callbacks, epochs=epochs, progress_bar=progress_bar)
    start = time.perf_counter()
    with distributed.search_processes(settings.train):  # on several devices, only rank 0 goes on from here
        trainer.fit(search, PhasedEpoch(train_loader, val_loader, enas.controller_steps, settings.train.seed),
                    val_loader)
    search_seconds = time.perf_counter() - start

    search.to(_device(settings.train.accelerator))
    candidates = derive_architecture(search, val_loader, enas.derive_samples)
    for candidate in candidates:
        write_epoch_record(out_dir, candidate, name="derived.jsonl")
    torch.save(controller.state_dict(), out_dir / "controller.pt.tmp")
    (out_dir / "controller.pt.tmp").replace(out_dir / "controller.pt")
    best = candidates[0]
    search_metrics = {"search_val_acc": best["val_acc"], "search_reward": best["reward"],
                      "search_seconds": round(search_seconds, 2), "search_epochs": epochs,
                      "param_penalty": enas.param_penalty, **run_params, "arch": best["arch"]}
    return finish_one_shot(settings, best["arch"], out_dir, search_metrics, retrain=enas.retrain,
                           retrain_epochs=enas.retrain_epochs, progress_bar=progress_bar,
                           space_args=enas.retrain_space_args)


def _traced(search: EnasSearch) -> dict[str, list[torch.Tensor]]:
    """What must stay identical on every rank (``NNI_NAS_RANK_TRACE``): the controller, the baseline, the weights."""
    baseline = torch.tensor(search.baseline.value or 0.0, dtype=torch.float64)
    return {"arch": list(search.controller.parameters()), "weights": list(search.supernet.parameters()),
            "baseline": [baseline]}


def budget_check(settings: NasSettings, bundle: Any, retrain_space_args: dict[str, Any] | None) -> Any:
    """``arch -> limits it exceeds`` on the network that is retrained (params and FLOPs, :mod:`model_spaces.costs`,
    memoised), or None without ``max_params`` / ``max_flops``."""
    constraints = settings.constraint_settings
    if not constraints.static:
        return None
    from model_spaces.costs import CostModel
    from nni_nas.constraints import LIMITS

    args = {**settings.space_args, **(retrain_space_args or {})}
    info = (bundle.input_shape, bundle.num_classes)
    costs = CostModel(components.build_space(settings, info, **args), args, bundle.input_shape)
    keys = [LIMITS[key] for key in constraints.static]
    return lambda arch: constraints.violations(costs.costs_of(arch, keys))


class SlicedEnasSupernet(SamplingSupernet):
    """ENAS's supernet for a space with searched widths or depths: NNI's path-sampling supernet
    (:class:`strategies.supernet.sampling.SamplingSupernet`: a sampled slice of the largest candidate's weights, the
    first blocks of a Repeat), with the parameter count ENAS's reward needs (of the child as a network of its own)."""

    def __init__(self, space: Any, factory: Any):
        super().__init__(space)
        self.factory = factory
        self._param_cache: dict[str, int] = {}

    def count_params(self, arch: dict[str, Any]) -> int:
        from nni_nas.arch import arch_key, freeze
        from nni_nas.evaluation.metrics import count_params

        key = arch_key(arch)
        if key not in self._param_cache:
            self._param_cache[key] = count_params(freeze(self.factory, arch))
        return self._param_cache[key]


def _device(accelerator: str) -> torch.device:
    wants_gpu = accelerator in ("gpu", "cuda", "auto")
    return torch.device("cuda" if wants_gpu and torch.cuda.is_available() else "cpu")
