"""Time per search epoch and peak memory: NNI 3.0's built-in DARTS (first order) against ours, first and second order.

All three search the same DARTS space (``model_spaces.darts``, search network: batch norm without affine
parameters) on the same data, split the same way (alpha on one half, w on the other), with the same batch size,
the same optimisers (SGD momentum 0.9 on w, Adam on alpha) and gradient clipping at 5:

- ``nni``: ``nni.nas.strategy.DARTS`` mutates the space into NNI's supernet (``DifferentiableMixedLayer`` /
  ``DifferentiableMixedInput``, its own alpha per input choice too) and drives it with its
  ``DartsLightningModule`` around our ``ImageClassifier``; NNI 3.0 offers first order only.
- ``first``: our ``DartsSupernet`` + ``DartsSearchModule(order=1)``;
- ``second``: the same with ``order=2`` (virtual step, finite-difference Hessian-vector product).

Time is the seconds spent inside training steps per epoch (Lightning's ``on_train_batch_start`` to ``_end``; no
validation), the first epoch dropped as warm-up, median of the rest per run; over ``--repeats`` runs, the mean and
its standard error (and of each ratio, taken per repeat: the three variants of a repeat ran back to back, so they
saw about the same load). Each variant runs in its own process so
that its peak memory is its own: on a GPU ``torch.cuda.max_memory_allocated``; on the CPU the rise of the
process's peak resident set (``VmHWM``, reset just before training) over its size then. The variants alternate
``--repeats`` times so that load on a shared machine hits all alike.

    python benchmarks/darts_step.py --input digits --epochs 3 --repeats 2 --threads 1
    python benchmarks/darts_step.py --input cifar --width 16 --cells 8 --batches 20 --device cuda

``--input cifar`` uses random 3x32x32 images (CIFAR-10's size; the step time does not depend on pixel values).
The last line printed is one JSON object with ``ours_first_vs_nni`` and ``second_vs_first``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402

VARIANTS = ("nni", "first", "second")


class StepTimer(pl.Callback):
    """Seconds spent in training steps, per epoch."""

    def __init__(self):
        self.epochs: list[float] = []
        self._start = 0.0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.epochs.append(0.0)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.epochs[-1] += time.perf_counter() - self._start


def _bundle(args):
    from nni_nas.data import DataBundle, load_data

    if args.input == "digits":
        return load_data("digits")
    from torch.utils.data import TensorDataset

    generator = torch.Generator().manual_seed(0)
    n = 2 * args.batch_size * args.batches
    images = torch.randn(n, 3, 32, 32, generator=generator)
    labels = torch.randint(0, 10, (n,), generator=generator)
    data = TensorDataset(images, labels)
    return DataBundle("cifar-sized", data, data, data, (3, 32, 32), 10)


def _space(args, bundle):
    import model_spaces

    return model_spaces.build_space("darts", bundle.input_shape, bundle.num_classes, width=args.width,
                                    num_cells=args.cells, num_nodes=4, affine=False, auxiliary=False)


def _vm_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux: reset VmHWM to the current RSS
        return True
    except OSError:
        return False


def run_variant(args) -> dict:
    """One variant in this process: its per-epoch step times and its peak memory during training."""
    from strategies.darts.search import search_loaders

    torch.set_num_threads(args.threads)
    pl.seed_everything(0, verbose=False)
    bundle = _bundle(args)
    weights_loader, arch_loader, _ = search_loaders(bundle, args.batch_size, 0.5, seed=0)
    epochs = args.epochs
    if args.variant == "nni":
        from nni.nas.strategy import DARTS

        from nni_nas.evaluation.classifier import ImageClassifier

        strategy = DARTS(gradient_clip_val=5.0, arc_learning_rate=3e-4)
        supernet = strategy.mutate_model(_space(args, bundle))
        inner = ImageClassifier(num_classes=bundle.num_classes, lr=0.025, momentum=0.9, weight_decay=3e-4,
                                max_epochs=epochs)
        module = strategy.configure_oneshot_module(inner)
        module.set_model(supernet)
        loaders = {"train": weights_loader, "val": arch_loader}
    else:
        from strategies.darts.search import DartsSearchModule
        from strategies.darts.settings import DartsSettings
        from strategies.darts.supernet import DartsSupernet

        supernet = DartsSupernet(_space(args, bundle))
        hp = DartsSettings(order=1 if args.variant == "first" else 2)
        module = DartsSearchModule(supernet, bundle.num_classes, hp, epochs)
        loaders = {"weights": weights_loader, "arch": arch_loader}
    timer = StepTimer()
    trainer = pl.Trainer(max_epochs=epochs, accelerator="gpu" if args.device == "cuda" else "cpu", devices=1,
                         logger=False, callbacks=[timer], enable_checkpointing=False, enable_model_summary=False,
                         enable_progress_bar=False, limit_val_batches=0, num_sanity_val_steps=0,
                         limit_train_batches=args.batches or 1.0)
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    rss_before, reset = _vm_kib("VmRSS"), _reset_peak_rss()
    trainer.fit(module, loaders)
    if args.device == "cuda":
        peak_mb = (torch.cuda.max_memory_allocated() - base) / 2**20
        memory = "cuda max_memory_allocated"
    elif reset and rss_before is not None:
        peak_mb = (_vm_kib("VmHWM") - rss_before) / 1024
        memory = "peak RSS rise"
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        memory = "peak RSS (whole process)"
    return {"variant": args.variant, "epochs_s": timer.epochs, "peak_mb": peak_mb, "memory": memory,
            "steps_per_epoch": trainer.num_training_batches}


def _se(values: list[float]) -> float:
    """Standard error of the mean (sample standard deviation, ddof 1); 0 for a single value."""
    return statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else 0.0


def _child(args, variant: str) -> dict:
    command = [sys.executable, __file__, "--variant", variant, *args.passthrough]
    output = subprocess.run(command, capture_output=True, text=True, check=False)
    if output.returncode != 0:
        raise RuntimeError(f"variant {variant} failed:\n{output.stderr[-3000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])


def against_baseline(args) -> dict:
    """First and second order of this checkout against the same variants of ``args.baseline``'s, alternating."""
    passthrough, skip = [], False
    for item in args.passthrough:
        if skip or item == "--baseline":
            skip = not skip
            continue
        passthrough.append(item)
    script = args.baseline.resolve() / "benchmarks" / "darts_step.py"
    runs: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for order in ("first", "second"):
            for side, path in (("baseline", script), ("ours", Path(__file__))):
                output = subprocess.run([sys.executable, str(path), "--variant", order, *passthrough],
                                        capture_output=True, text=True, check=False)
                if output.returncode != 0:
                    raise RuntimeError(f"{side} {order} failed:\n{output.stderr[-3000:]}")
                row = json.loads(output.stdout.strip().splitlines()[-1])
                runs.setdefault(f"{side}_{order}", []).append(statistics.median(row["epochs_s"][1:]))
                print(f"{side} {order}: {runs[f'{side}_{order}'][-1]:.3f} s per epoch", file=sys.stderr)
    out: dict = {"benchmark": "darts_step against a baseline", "baseline": str(args.baseline),
                 "repeats": args.repeats, "threads": args.threads, "load_average_end": round(os.getloadavg()[0], 1)}
    for key, values in runs.items():
        out[f"{key}_epoch_s"] = [round(v, 3) for v in values]
    for order in ("first", "second"):
        ratios = [o / b for o, b in zip(runs[f"ours_{order}"], runs[f"baseline_{order}"])]
        out[f"{order}_ours_vs_baseline"] = [round(statistics.fmean(ratios), 3), round(_se(ratios), 3)]
    second_vs_first = [s / f for s, f in zip(runs["ours_second"], runs["ours_first"])]
    out["ours_second_vs_first"] = [round(statistics.fmean(second_vs_first), 3), round(_se(second_vs_first), 3)]
    print(f"ours / baseline: first order {out['first_ours_vs_baseline']}, second order "
          f"{out['second_ours_vs_baseline']} (mean, SE over {args.repeats} repeats)", file=sys.stderr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", choices=("digits", "cifar"), default="digits")
    parser.add_argument("--width", type=int, default=8, help="channels of the first cells (paper search: 16)")
    parser.add_argument("--cells", type=int, default=5, help="cells (paper search: 8)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=0, help="steps per epoch (0: the whole half split)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run; the first is warm-up")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of the three variants")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: comparable on a shared machine)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a checkout of another revision (e.g. `git worktree add /tmp/main main`): its first and "
                        "second order run in the same alternation, and the figures add ours / baseline per order")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is dropped as warm-up)")
    if args.variant:
        print(json.dumps(run_variant(args)))
        return

    args.passthrough = [a for a in sys.argv[1:]]
    if args.baseline is not None:
        print(json.dumps(against_baseline(args)))
        return
    runs: dict[str, list[dict]] = {variant: [] for variant in VARIANTS}
    for _ in range(args.repeats):
        for variant in VARIANTS:
            runs[variant].append(_child(args, variant))
    per_run = {v: [statistics.median(r["epochs_s"][1:]) for r in runs[v]] for v in VARIANTS}
    epoch_s = {v: statistics.fmean(per_run[v]) for v in VARIANTS}
    ratios = {"ours_first_vs_nni": [f / n for f, n in zip(per_run["first"], per_run["nni"])],
              "second_vs_first": [s / f for s, f in zip(per_run["second"], per_run["first"])]}
    peak_mb = {v: statistics.median(r["peak_mb"] for r in runs[v]) for v in VARIANTS}
    device = torch.cuda.get_device_name(0) if args.device == "cuda" else f"CPU ({platform.machine()})"
    figures = {
        "benchmark": "darts_step",
        "input": "digits train split (1078 images, halves of 539)" if args.input == "digits"
        else "random 3x32x32 images",
        "space": f"darts, width {args.width}, {args.cells} cells, 4 nodes, 8 ops",
        "batch_size": args.batch_size, "steps_per_epoch": runs["first"][0]["steps_per_epoch"],
        **{f"{v}_epoch_s": round(epoch_s[v], 3) for v in VARIANTS},
        **{f"{v}_epoch_s_se": round(_se(per_run[v]), 3) for v in VARIANTS},
        **{f"{v}_epoch_s_runs": [round(x, 3) for x in per_run[v]] for v in VARIANTS},
        **{f"{v}_peak_mb": round(peak_mb[v], 1) for v in VARIANTS},
        "memory": runs["first"][0]["memory"],
        "ours_first_vs_nni": round(epoch_s["first"] / epoch_s["nni"], 3),
        "second_vs_first": round(epoch_s["second"] / epoch_s["first"], 3),
        **{f"{name}_per_repeat": [round(x, 3) for x in values] for name, values in ratios.items()},
        **{f"{name}_per_repeat_mean_se": [round(statistics.fmean(values), 3), round(_se(values), 3)]
           for name, values in ratios.items()},
        "load_average_end": round(os.getloadavg()[0], 1),
        "memory_first_vs_nni": round(peak_mb["first"] / peak_mb["nni"], 3) if peak_mb["nni"] > 0 else None,
        "memory_second_vs_first": round(peak_mb["second"] / peak_mb["first"], 3) if peak_mb["first"] > 0 else None,
        "epochs": args.epochs, "repeats": args.repeats, "threads": args.threads, "device": device,
        "torch": torch.__version__,
    }
    print(f"epoch (s, mean ± SE of {args.repeats}): NNI DARTS 1st {figures['nni_epoch_s']} ± "
          f"{figures['nni_epoch_s_se']}, ours 1st {figures['first_epoch_s']} ± {figures['first_epoch_s_se']}, "
          f"ours 2nd {figures['second_epoch_s']} ± {figures['second_epoch_s_se']}; per-repeat ratios (mean, SE): "
          f"ours/NNI {figures['ours_first_vs_nni_per_repeat_mean_se']}, "
          f"2nd/1st {figures['second_vs_first_per_repeat_mean_se']}; peak MB: {figures['nni_peak_mb']}, "
          f"{figures['first_peak_mb']}, "
          f"{figures['second_peak_mb']}; ours/NNI {figures['ours_first_vs_nni']}, 2nd/1st {figures['second_vs_first']}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
