"""Time per search epoch: ENAS (shared phase + controller phase) against our first-order DARTS, same data.

Both search the same cell skeleton on the embedded digits training split (1,078 images, batch 64): a stem, 5 cells
(3 normal, 2 reduction), 4 nodes per cell, width 8. One epoch of either touches every training image once:

- ENAS (Pham et al. 2018): one SGD step of the shared weights per training batch on a freshly sampled child
  (shared phase), then ``controller_steps`` REINFORCE updates, each rewarding ``controller_batch`` children on a
  validation batch (controller phase). A child runs 2 ops per node.
- DARTS first order (Liu et al. 2019): per step one alpha update on a batch of the architecture half and one
  weight update on a batch of the weight half; the relaxed cell runs every op on every edge.

Times are the seconds spent inside training steps (Lightning's ``on_train_batch_start`` to ``_end``), so
validation and logging are left out for both. Each strategy runs ``--epochs`` epochs, the first is dropped as
warm-up, and the median of the rest is reported; the two alternate ``--repeats`` times so that load on a shared
machine hits both alike. Paper figures for context: ENAS 0.45 GPU-days, DARTS first order 1.5 (DARTS paper).

    python benchmarks/enas_step.py --epochs 3 --repeats 2 --threads 1

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path

warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402

NODES, WIDTH, STEM = 4, 8, 3


class PhaseTimer(pl.Callback):
    """Seconds spent in training steps, per epoch and per phase (ENAS batches are ``(phase, batch)``)."""

    def __init__(self):
        self.epochs: list[dict[str, float]] = []
        self._start = 0.0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.epochs.append(defaultdict(float))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        phase = batch[0] if isinstance(batch, tuple | list) and isinstance(batch[0], str) else "step"
        self.epochs[-1][phase] += time.perf_counter() - self._start


def run_enas(bundle, epochs: int, controller_steps: int, controller_batch: int, out: Path) -> list[dict]:
    import model_spaces
    from nni_nas.config import TrainSettings
    from nni_nas.evaluation.training import loaders, make_trainer
    from strategies.enas.controller import EnasController
    from strategies.enas.search import EnasSearch, EnasSettings, PhasedEpoch
    from strategies.enas.supernet import SharedWeightSupernet

    pl.seed_everything(0, verbose=False)
    train = TrainSettings(epochs=epochs, batch_size=64, lr=0.05, weight_decay=3e-4)
    space = model_spaces.build_space("enas_micro", bundle.input_shape, bundle.num_classes, num_nodes=NODES,
                                     cells_per_stage=1, channels=WIDTH, stem_multiplier=STEM)
    supernet = SharedWeightSupernet(space)
    controller = EnasController(supernet.choices, hidden_size=64)
    settings = EnasSettings(controller_steps=controller_steps, controller_batch=controller_batch,
                            controller_lr=0.005, baseline_decay=0.9)
    search = EnasSearch(supernet, controller, settings, train, epochs)
    timer = PhaseTimer()
    train_loader, val_loader, _ = loaders(bundle, train)
    trainer = make_trainer(train, out / "enas", [timer], epochs=epochs, progress_bar=False)
    trainer.fit(search, PhasedEpoch(train_loader, val_loader, controller_steps), val_loader)
    return [{"shared": e["shared"], "controller": e["controller"], "total": e["shared"] + e["controller"]}
            for e in timer.epochs]


def run_darts_first_order(bundle, epochs: int, out: Path) -> list[dict]:
    import model_spaces
    from nni_nas.config import TrainSettings
    from nni_nas.evaluation.training import make_trainer
    from strategies.darts.search import DartsSearchModule, search_loaders
    from strategies.darts.settings import DartsSettings
    from strategies.darts.supernet import DartsSupernet

    pl.seed_everything(0, verbose=False)
    train = TrainSettings(epochs=epochs, batch_size=64)
    space = model_spaces.build_space("darts", bundle.input_shape, bundle.num_classes, width=WIDTH, num_cells=5,
                                     num_nodes=NODES, stem_multiplier=STEM, affine=False, auxiliary=False)
    supernet = DartsSupernet(space)
    module = DartsSearchModule(supernet, bundle.num_classes, DartsSettings(order=1, arch_lr=3e-3), epochs)
    timer = PhaseTimer()
    weights, arch, val = search_loaders(bundle, 64, 0.5, seed=0)
    trainer = make_trainer(train, out / "darts", [timer], epochs=epochs, progress_bar=False)
    trainer.fit(module, {"weights": weights, "arch": arch}, val)
    return [{"total": e["step"]} for e in timer.epochs]


def steady(epochs: list[dict], key: str) -> float:
    """Median over the epochs after the first (warm-up)."""
    return statistics.median(e[key] for e in epochs[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run; the first is warm-up")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of each strategy")
    parser.add_argument("--controller-steps", type=int, default=20, help="as configs/digits_enas*.yml")
    parser.add_argument("--controller-batch", type=int, default=4, help="as configs/digits_enas*.yml")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: comparable on a shared machine)")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is dropped as warm-up)")
    torch.set_num_threads(args.threads)

    from nni_nas.data import load_data

    bundle = load_data("digits")
    enas_runs, darts_runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            enas_runs.append(run_enas(bundle, args.epochs, args.controller_steps, args.controller_batch, Path(tmp)))
            darts_runs.append(run_darts_first_order(bundle, args.epochs, Path(tmp)))
    enas = {key: statistics.median(steady(run, key) for run in enas_runs) for key in ("shared", "controller", "total")}
    darts = statistics.median(steady(run, "total") for run in darts_runs)
    figures = {
        "benchmark": "enas_step",
        "data": "digits train split (1078 images), batch 64",
        "skeleton": f"5 cells (3 normal, 2 reduction), {NODES} nodes, width {WIDTH}",
        "enas_epoch_s": round(enas["total"], 3),
        "enas_shared_phase_s": round(enas["shared"], 3),
        "enas_controller_phase_s": round(enas["controller"], 3),
        "enas_controller_updates": args.controller_steps,
        "enas_children_per_update": args.controller_batch,
        "darts_first_order_epoch_s": round(darts, 3),
        "darts_over_enas": round(darts / enas["total"], 2),
        "paper_darts_over_enas_gpu_days": round(1.5 / 0.45, 2),
        "epochs": args.epochs, "repeats": args.repeats, "threads": args.threads,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}",
    }
    print(f"ENAS epoch {figures['enas_epoch_s']} s (shared {figures['enas_shared_phase_s']} s + controller "
          f"{figures['enas_controller_phase_s']} s); DARTS first order epoch {figures['darts_first_order_epoch_s']} s; "
          f"DARTS/ENAS = {figures['darts_over_enas']}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
