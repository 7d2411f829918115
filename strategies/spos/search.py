"""One SPOS run: supernet training on uniformly sampled single paths, evolutionary search on the trained supernet,
retraining of the best (Guo et al. 2020).

The three rules of the paper, each in one place:

- **Uniform single-path sampling** (Section 3.2, eq. 7): :class:`UniformPathSampling`, a Lightning callback, draws
  one architecture per training batch, every label independently and uniformly (by rejection, from the
  architectures within the budget when ``constraints`` are set: Section 3.4); the module trains the supernet on it.
- **Evaluation with inherited weights** (Section 3.3): :func:`score_on_supernet` activates a candidate, recomputes
  the BatchNorm statistics on training batches (:func:`strategies.supernet.sampling.recalibrate_batchnorm`), and
  scores it on the validation split without training.
- **Evolutionary search** (Algorithm 1): :func:`evolution_search`, a population of ``population_size``, the
  ``parents`` best of all evaluated so far bred into the next generation, half by mutation (each label redrawn with
  probability ``mutation_prob``) and half by crossover (each label from either of two parents).
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

import nni_nas.components as components
from nni_nas.arch import arch_key
from nni_nas.config import NasSettings
from nni_nas.evaluation.modules import build_module
from nni_nas.evaluation.nni_reporter import NniReporter
from nni_nas.evaluation.training import loaders, make_trainer
from strategies.oneshot import finish_one_shot, run_settings, write_epoch_record
from strategies.spos.settings import SposSettings
from strategies.supernet.sampling import SamplingSupernet, recalibrate_batchnorm

SAMPLING_TRIES = 1000  # draws before a tight budget is declared unreachable by sampling


@dataclasses.dataclass
class Candidate:
    """One architecture scored on the supernet: ``score`` is maximised (an error enters negated)."""

    arch: dict[str, Any]
    score: float
    value: float  # the metric as the module names it (val_acc, or val_mse for regression)
    generation: int


class UniformPathSampling(pl.Callback):
    """SPOS's sampling rule: before every training batch, one path of the supernet drawn uniformly (each label's value
    independently), among the architectures ``feasible`` accepts; validation batches run paths drawn the same way from
    a generator seeded per epoch (so each epoch's supernet accuracy is over the same paths)."""

    def __init__(self, supernet: SamplingSupernet, seed: int, feasible: Callable[[dict], bool] | None = None):
        self.supernet, self.seed, self.feasible = supernet, seed, feasible
        self.rng = random.Random(seed)
        self.val_rng = random.Random(seed)
        self.drawn = 0

    def draw(self, rng: random.Random) -> dict[str, Any]:
        return draw_feasible(self.supernet, rng, self.feasible)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        self.supernet.activate(self.draw(self.rng))
        self.drawn += 1

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.val_rng = random.Random(self.seed + 1)

    def on_validation_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                                  batch_idx: int, dataloader_idx: int = 0) -> None:
        self.supernet.activate(self.draw(self.val_rng))


def draw_feasible(supernet: SamplingSupernet, rng: random.Random,
                  feasible: Callable[[dict], bool] | None) -> dict[str, Any]:
    """A uniform draw from the architectures ``feasible`` accepts (all when None), by rejection."""
    for _ in range(SAMPLING_TRIES):
        arch = supernet.random_arch(rng)
        if feasible is None or feasible(arch):
            return arch
    from nni_nas.errors import ConfigError

    raise ConfigError(f"no architecture within the constraints in {SAMPLING_TRIES} uniform draws; raise the limits")


def score_on_supernet(supernet: SamplingSupernet, arch: dict[str, Any], train_loader: Any, val_loader: Any,
                      bn_batches: int, eval_batches: int | None, task: str) -> tuple[float, float]:
    """``(score, value)`` of ``arch`` with the supernet's weights: BatchNorm statistics recomputed on ``bn_batches``
    training batches, then accuracy (classification) or mean squared error (regression, ``score`` = -MSE) on the
    validation split (its first ``eval_batches`` batches)."""
    supernet.activate(arch)
    if bn_batches:
        recalibrate_batchnorm(supernet, train_loader, bn_batches)
    supernet.eval()
    total, right, squared = 0, 0.0, 0.0
    device = next(supernet.parameters()).device
    with torch.no_grad():
        for i, (x, y) in enumerate(val_loader):
            if eval_batches is not None and i >= eval_batches:
                break
            out = supernet(x.to(device))
            y = y.to(device)
            if task == "regression":
                out = out.reshape(y.shape) if out.numel() == y.numel() else out
                squared += float(((out - y.to(out.dtype)) ** 2).sum()) / max(1, y[0].numel() if y.dim() > 1 else 1)
            else:
                right += float((out.argmax(1) == y).sum())
            total += len(y)
    if task == "regression":
        mse = squared / max(1, total)
        return -mse, mse
    accuracy = right / max(1, total)
    return accuracy, accuracy


def mutate(arch: dict[str, Any], choices: dict[str, list], rng: random.Random, prob: float) -> dict[str, Any]:
    """Each label redrawn uniformly with probability ``prob`` (Algorithm 1's mutation)."""
    return {label: rng.choice(choices[label]) if rng.random() < prob else value for label, value in arch.items()}


def crossover(a: dict[str, Any], b: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Each label's value from one of the two parents, at random (Algorithm 1's crossover)."""
    return {label: a[label] if rng.random() < 0.5 else b[label] for label in a}


def evolution_search(supernet: SamplingSupernet, score: Callable[[dict], tuple[float, float]], spos: SposSettings,
                     rng: random.Random, feasible: Callable[[dict], bool] | None = None,
                     on_generation: Callable[[int, list[Candidate]], None] | None = None) -> list[Candidate]:
    """Algorithm 1 of Guo et al. (2020) over ``supernet``'s architectures; every candidate evaluated, best first."""
    choices = supernet.choices
    evaluated: dict[str, Candidate] = {}

    def admit(arch: dict[str, Any], pool: dict[str, dict]) -> None:
        key = arch_key(arch)
        if key not in evaluated and key not in pool and (feasible is None or feasible(arch)):
            pool[key] = arch

    population: dict[str, dict] = {}
    for _ in range(spos.population_size * 50):
        if len(population) >= spos.population_size:
            break
        admit(draw_feasible(supernet, rng, feasible), population)
    for generation in range(spos.generations):
        for key, arch in population.items():
            value_score, value = score(arch)
            evaluated[key] = Candidate(arch, value_score, value, generation)
        ranked = sorted(evaluated.values(), key=lambda c: c.score, reverse=True)
        if on_generation is not None:
            on_generation(generation, ranked)
        if generation == spos.generations - 1:
            break
        parents = [c.arch for c in ranked[:spos.parents]]
        population = {}
        half = spos.population_size // 2
        for _ in range(spos.population_size * 50):  # bounded: a small space runs out of new architectures
            if len(population) >= half:
                break
            admit(mutate(rng.choice(parents), choices, rng, spos.mutation_prob), population)
        for _ in range(spos.population_size * 50):
            if len(population) >= spos.population_size:
                break
            admit(crossover(rng.choice(parents), rng.choice(parents), rng), population)
        for _ in range(spos.population_size * 50):  # the rest at random, as the paper's initial population
            if len(population) >= spos.population_size:
                break
            admit(supernet.random_arch(rng), population)
        if not population:
            break  # every architecture has been evaluated
    return sorted(evaluated.values(), key=lambda c: c.score, reverse=True)


def budget_filter(settings: NasSettings, retrain_space_args: dict[str, Any] | None,
                  info: tuple) -> Callable[[dict], bool] | None:
    """``arch -> within max_params / max_flops`` on the network that is retrained, or None without those limits."""
    constraints = settings.constraint_settings
    if not constraints.static:
        return None
    from model_spaces.costs import CostModel
    from nni_nas.constraints import LIMITS

    args = {**settings.space_args, **(retrain_space_args or {})}
    costs = CostModel(components.build_space(settings, info, **args), args, info[0])
    keys = [LIMITS[key] for key in constraints.static]
    return lambda arch: not constraints.violations(costs.costs_of(arch, keys))


def run_spos(settings: NasSettings, params: dict[str, Any] | None, out_dir: Path,
             progress_bar: bool = True) -> dict[str, Any]:
    """Train the supernet, search it, retrain the best (unless switched off) and return the final dict.

    Writes into ``out_dir``: ``search_history.jsonl`` (one line per supernet epoch and per search generation),
    ``derived.jsonl`` (every evaluated candidate, best first), Lightning's CSV log under ``search/``, and the
    retrained model's files.
    """
    settings, spos, run_params = run_settings(settings, params, SposSettings)
    out_dir.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(settings.train.seed, workers=True, verbose=False)
    bundle = components.load_bundle(settings)
    info = (bundle.input_shape, bundle.num_classes)
    supernet = SamplingSupernet(components.build_space(settings, info))
    feasible = budget_filter(settings, spos.retrain_space_args, info)
    epochs = spos.search_epochs or settings.train.epochs
    train = dataclasses.replace(settings.train, epochs=epochs)
    module = build_module(settings, supernet, bundle.num_classes)
    sampling = UniformPathSampling(supernet, settings.train.seed, feasible)
    monitor = settings.monitor_name
    trainer = make_trainer(train, out_dir / "search", [sampling, NniReporter(monitor, out_dir / "history.jsonl")],
                           progress_bar=progress_bar)
    train_loader, val_loader, _ = loaders(bundle, settings.train)
    start = time.perf_counter()
    trainer.fit(module, train_loader, val_loader)
    last = {key: float(value) for key, value in trainer.callback_metrics.items() if value.numel() == 1}
    write_epoch_record(out_dir, {"phase": "supernet", "epochs": epochs, "paths_trained": sampling.drawn, **last})
    supernet_seconds = time.perf_counter() - start

    start = time.perf_counter()
    supernet.cpu()

    def score(arch: dict[str, Any]) -> tuple[float, float]:
        return score_on_supernet(supernet, arch, train_loader, val_loader, spos.bn_batches, spos.eval_batches,
                                 settings.task)

    def on_generation(generation: int, ranked: list[Candidate]) -> None:
        write_epoch_record(out_dir, {"phase": "search", "generation": generation, "evaluated": len(ranked),
                                     f"best_{monitor}": ranked[0].value, "best_arch": ranked[0].arch})

    candidates = evolution_search(supernet, score, spos, random.Random(settings.train.seed), feasible, on_generation)
    for candidate in candidates:
        write_epoch_record(out_dir, dataclasses.asdict(candidate), name="derived.jsonl")
    best = candidates[0]
    search_metrics = {f"search_{monitor}": best.value, "search_evaluated": len(candidates),
                      "supernet_seconds": round(supernet_seconds, 2),
                      "search_seconds": round(time.perf_counter() - start, 2), "search_epochs": epochs,
                      **run_params, "arch": best.arch}
    return finish_one_shot(settings, best.arch, out_dir, search_metrics, retrain=spos.retrain,
                           retrain_epochs=spos.retrain_epochs, progress_bar=progress_bar,
                           space_args=spos.retrain_space_args)
