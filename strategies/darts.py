"""DARTS as an NNI one-shot strategy: each trial is one search run, retrained and reported by itself.

Liu, Simonyan, Yang, "DARTS: Differentiable Architecture Search", ICLR 2019. The pieces, one module each:

- :mod:`strategies.darts_supernet`: the continuous relaxation (eq. 1, 2) and the derivation (Sec. 2.4);
- :mod:`strategies.darts_architect`: the architecture gradient, first and second order (eq. 6, 7, 8);
- :mod:`strategies.darts_search`: the alternating updates (Algorithm 1) as a Lightning module, and the record
  of each epoch's genotype and alpha softmax;
- :mod:`strategies.darts_eval`: retraining with cutout, drop-path and the auxiliary head;
- :mod:`strategies.darts_plot`: the picture of the derived cells.

In the portal each trial shows the supernet's validation accuracy per search epoch and, as its final result,
the retrained network's accuracy (``default``), cost, the search-phase accuracy and the genotype.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import time
from pathlib import Path
from typing import Any

from nni_nas.config import COMMON_KEYS, ConfigError, NasSettings
from strategies.darts_options import EvaluationOptions, SearchHyperParameters
from strategies.oneshot import OneShotTuner, finish_one_shot, run_settings

_logger = logging.getLogger(__name__)
_HP = SearchHyperParameters()
_EVAL = EvaluationOptions()
_RUN_KEYS = ("runs", "seed", "search_grid")


class DartsTuner(OneShotTuner):
    """DARTS (Liu, Simonyan, Yang, ICLR 2019): ``runs`` search runs per ``search_grid`` combination, each a trial.

    The paper searched four times with different seeds and kept the best cell on validation (``runs: 4``).
    Search defaults are the paper's CIFAR-10 settings; the config's ``train`` section is the *evaluation*
    training of the derived architecture (epochs, batch size, learning rate of the retrain).

    Parameters
    ----------
    space, space_args, data, data_args, train
        The common settings (:mod:`nni_nas.config`). The space must be a cell space DARTS can relax
        (``space: darts``); the search network is built from ``space_args`` with ``affine: false``.
    runs, seed, search_grid
        See :class:`strategies.oneshot.OneShotTuner`; ``search_grid`` may vary any argument below.
    search_epochs
        Epochs of the search (50 in the paper).
    search_batch_size
        Batch size of both halves of the training data during the search (64).
    train_portion
        Fraction of the training split that trains w; the rest trains alpha (0.5, the paper's half).
    order
        1: first-order DARTS (``xi = 0``); 2: second order (eq. 7 with the finite-difference eq. 8).
    xi
        Learning rate of the virtual step (eq. 6); ``None`` uses w's current learning rate, as the paper.
    w_lr, w_lr_min, w_momentum, w_weight_decay, grad_clip
        SGD on w with a cosine schedule from ``w_lr`` to ``w_lr_min``; gradient norm clipped at ``grad_clip``.
    arch_lr, arch_betas, arch_weight_decay
        Adam on alpha (3e-4, (0.5, 0.999), 1e-3).
    retrain
        Retrain the derived architecture from scratch (else the final ``default`` is the search accuracy).
    eval_space_args
        ``space_args`` of the evaluation network, over the config's (paper: ``{width: 36, num_cells: 20}``).
    cutout_length, drop_path_prob, auxiliary_weight, eval_grad_clip
        The evaluation options (paper on CIFAR-10: 16, 0.2, 0.4, 5); 0 / None is off. A positive
        ``auxiliary_weight`` adds the auxiliary head to the evaluation network.
    """

    def __init__(self, space: str, space_args: dict | None = None, data: str = "digits",
                 data_args: dict | None = None, train: dict | None = None, runs: int = 1, seed: int = 0,
                 search_grid: dict[str, list[Any]] | None = None, search_epochs: int = 50,
                 search_batch_size: int = 64, train_portion: float = 0.5, order: int = _HP.order,
                 xi: float | None = _HP.xi, w_lr: float = _HP.w_lr, w_lr_min: float = _HP.w_lr_min,
                 w_momentum: float = _HP.w_momentum, w_weight_decay: float = _HP.w_weight_decay,
                 grad_clip: float | None = _HP.grad_clip, arch_lr: float = _HP.arch_lr,
                 arch_betas: tuple[float, float] | list[float] = _HP.arch_betas,
                 arch_weight_decay: float = _HP.arch_weight_decay, retrain: bool = True,
                 eval_space_args: dict | None = None, cutout_length: int = _EVAL.cutout_length,
                 drop_path_prob: float = _EVAL.drop_path_prob, auxiliary_weight: float = _EVAL.auxiliary_weight,
                 eval_grad_clip: float | None = _EVAL.grad_clip):
        given = {name: value for name, value in locals().items() if name in darts_parameter_names()}
        self.darts_args = darts_arguments(given)
        unknown = sorted(set(search_grid or {}) - set(darts_parameter_names()))
        if unknown:
            raise ConfigError(f"search_grid varies {unknown}, which are not DARTS arguments; "
                              f"allowed: {darts_parameter_names()}")
        super().__init__(runs=runs, seed=seed, search_grid=search_grid)

    @staticmethod
    def config_problems(settings: NasSettings) -> list[str]:
        """Checks that need the space's class (and so torch): run by ``nni-nas check`` and by each trial, not in
        NNI's dispatcher, which must connect to the manager within 10 s."""
        import model_spaces

        try:
            space_cls = model_spaces.get_space_class(settings.space)
        except KeyError:
            return []  # the unknown space is reported with the space's own checks
        if not hasattr(space_cls, "cell_edges"):
            return [f"DARTS needs a cell space it can relax; space {settings.space!r} is not one (use space: darts)"]
        return []

    @staticmethod
    def run_trial(settings: NasSettings, params: dict[str, Any] | None, out_dir: Path,
                  progress_bar: bool = True) -> dict[str, Any]:
        """One DARTS run in this process: search, derive, draw, retrain; return the final result dict."""
        from strategies.darts_eval import train_with_options  # torch and Lightning: not in NNI's dispatcher
        from strategies.darts_plot import plot_cells

        problems = DartsTuner.config_problems(settings)
        if problems:
            raise ConfigError(problems[0])
        settings, run_params = run_settings(settings, params)
        args = darts_arguments({k: v for k, v in settings.strategy_args.items() if k not in _RUN_KEYS})
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        supernet, genotype_of, records = search(settings, args, out_dir, progress_bar)
        search_seconds = time.perf_counter() - start
        arch = supernet.derive_architecture()
        genotype = genotype_of(arch)

        (out_dir / "genotype.txt").write_text(f"{genotype}\n")
        plot_cells(genotype, out_dir / "cells.png", title=f"DARTS order {args['order']}, seed {settings.train.seed}")
        search_metrics = {**run_params, "search_val_acc": records[-1]["val_acc"], "genotype": str(genotype),
                          "arch": arch, "order": args["order"], "search_epochs": args["search_epochs"],
                          "search_seconds": round(search_seconds, 2)}
        _logger.info("derived genotype: %s", genotype)
        return finish_one_shot(settings, arch, out_dir, search_metrics, retrain=args["retrain"],
                               progress_bar=progress_bar, space_args=evaluation_space_args(args),
                               train_fn=functools.partial(train_with_options, options=evaluation_options(args)))


def search(settings: NasSettings, args: dict[str, Any], out_dir: Path, progress_bar: bool = True):
    """Train the supernet; return it, the space's genotype function and the per-epoch records."""
    import pytorch_lightning as pl

    import model_spaces
    from nni_nas.data import load_data
    from nni_nas.reporting import NniReporter
    from nni_nas.training import make_trainer
    from strategies.darts_search import DartsSearchModule, SearchRecorder
    from strategies.darts_supernet import DartsSupernet

    pl.seed_everything(settings.train.seed, workers=True, verbose=False)
    bundle = load_data(settings.data, **settings.data_args)
    # The paper's search network: no auxiliary head, batch norm without affine parameters.
    space = model_spaces.build_space(settings.space, bundle.input_shape, bundle.num_classes,
                                     **{**settings.space_args, "affine": False, "auxiliary": False})
    supernet = DartsSupernet(space)
    hp = SearchHyperParameters(**{f.name: args[f.name] for f in dataclasses.fields(SearchHyperParameters)})
    module = DartsSearchModule(supernet, bundle.num_classes, hp, epochs=args["search_epochs"])
    recorder = SearchRecorder(out_dir, space.genotype)
    callbacks = [NniReporter(history_file=out_dir / "history.jsonl"), recorder]
    trainer = make_trainer(settings.train, out_dir, callbacks, epochs=args["search_epochs"], progress_bar=progress_bar)
    weight_loader, arch_loader, val_loader = search_loaders(bundle, args["search_batch_size"], args["train_portion"],
                                                            settings.train.seed, settings.train.num_workers)
    trainer.fit(module, {"weights": weight_loader, "arch": arch_loader}, val_loader)
    return supernet, space.genotype, recorder.records


def search_loaders(bundle, batch_size: int, train_portion: float, seed: int, num_workers: int = 0):
    """Loaders of the two seeded halves of the training split (w, alpha) and of the validation split."""
    import torch
    from torch.utils.data import DataLoader, Subset

    order = torch.randperm(len(bundle.train), generator=torch.Generator().manual_seed(seed)).tolist()
    split = int(round(train_portion * len(order)))
    common = {"batch_size": batch_size, "num_workers": num_workers, "persistent_workers": num_workers > 0}

    def shuffled(indices: list[int], offset: int) -> DataLoader:
        generator = torch.Generator().manual_seed(seed + offset)
        return DataLoader(Subset(bundle.train, indices), shuffle=True, generator=generator, **common)

    return shuffled(order[:split], 1), shuffled(order[split:], 2), DataLoader(bundle.val, shuffle=False, **common)


def evaluation_options(args: dict[str, Any]) -> EvaluationOptions:
    """The retraining's regularisers from the DARTS arguments."""
    return EvaluationOptions(cutout_length=args["cutout_length"], drop_path_prob=args["drop_path_prob"],
                             auxiliary_weight=args["auxiliary_weight"], grad_clip=args["eval_grad_clip"])


def evaluation_space_args(args: dict[str, Any]) -> dict[str, Any]:
    """``space_args`` of the evaluation network over the config's; an auxiliary loss needs the auxiliary head."""
    space_args = dict(args["eval_space_args"] or {})
    if args["auxiliary_weight"] > 0:
        space_args["auxiliary"] = True
    return space_args


@functools.cache
def darts_parameter_names() -> tuple[str, ...]:
    """The DARTS arguments of :class:`DartsTuner` (everything but the common settings and the run keys)."""
    params = inspect.signature(DartsTuner.__init__).parameters
    return tuple(name for name in params if name not in ("self", *COMMON_KEYS, *_RUN_KEYS))


def darts_arguments(given: dict[str, Any]) -> dict[str, Any]:
    """Every DARTS argument, ``given`` over :class:`DartsTuner`'s defaults, checked; a clear error names the fix."""
    params = inspect.signature(DartsTuner.__init__).parameters
    unknown = sorted(set(given) - set(darts_parameter_names()))
    if unknown:
        raise ConfigError(f"unknown DARTS arguments {unknown}; allowed: {list(darts_parameter_names())}")
    args = {name: given.get(name, params[name].default) for name in darts_parameter_names()}
    problems = []
    if args["order"] not in (1, 2):
        problems.append(f"order must be 1 (first order) or 2 (second order), got {args['order']!r}")
    if not 0 < args["train_portion"] < 1:
        problems.append(f"train_portion must be between 0 and 1 (the paper's 0.5), got {args['train_portion']!r}")
    for key in ("search_epochs", "search_batch_size"):
        if not isinstance(args[key], int) or isinstance(args[key], bool) or args[key] < 1:
            problems.append(f"{key} must be a positive integer, got {args[key]!r}")
    if len(args["arch_betas"]) != 2:
        problems.append(f"arch_betas must be two numbers like [0.5, 0.999], got {args['arch_betas']!r}")
    if not 0 <= args["drop_path_prob"] < 1:
        problems.append(f"drop_path_prob must be in [0, 1), got {args['drop_path_prob']!r}")
    if args["cutout_length"] < 0 or args["auxiliary_weight"] < 0:
        problems.append("cutout_length and auxiliary_weight must be >= 0 (0 switches them off)")
    if args["eval_space_args"] is not None and not isinstance(args["eval_space_args"], dict):
        problems.append(f"eval_space_args must be a mapping of space arguments, got {args['eval_space_args']!r}")
    if problems:
        raise ConfigError("DARTS settings: " + "; ".join(problems))
    args["arch_betas"] = tuple(args["arch_betas"])
    return args
