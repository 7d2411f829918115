"""Supernet step time and peak memory of our one-shot strategies on any NNI space, against NNI 3.0's own
implementation of the same strategy on the same space, data, batch size and optimisers.

Pairs (ours / NNI's), all first order:

- ``darts``: our relaxed supernet (``strategies.supernet.relaxed``, method ``darts``) and ``RelaxedSearch`` /
  ``nni.nas.strategy.DARTS`` (its ``DartsLightningModule``);
- ``gdas``: ours (one hard Gumbel sample per label and pass, only the sampled candidate run) / NNI's ``GumbelDARTS``
  (a soft Gumbel-softmax weight on every candidate, every candidate run);
- ``proxyless``: ours (NNI's binary-gate layers, one path sampled per label and step) / NNI's ``Proxyless``;
- ``spos``: our path-sampling supernet with ``UniformPathSampling`` / NNI's ``RandomOneShot``.

The space is ``digits_cnn`` (LayerChoice ops, an InputChoice skip, a Repeat depth) with one width by default, since
NNI's Proxyless has no mixed operation for a searched width (``--widths 8 16`` searches widths for the others).
Each variant runs in its own process, alternating ``--repeats`` times; time is the seconds spent in training steps
per epoch (the first epoch dropped as warm-up), memory the rise of the process's peak resident set during
training (``VmHWM``, reset before training; on a GPU ``torch.cuda.max_memory_allocated``). The last line printed is
one JSON object with ``<strategy>_ours_vs_nni`` (time ratios, below 1: ours faster) and the memory per variant.

    python benchmarks/oneshot_step.py --epochs 3 --repeats 2 --threads 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402

from benchmarks.darts_step import StepTimer, _reset_peak_rss, _se, _vm_kib  # noqa: E402

STRATEGIES = ("darts", "gdas", "proxyless", "spos")
VARIANTS = tuple(f"{strategy}-{side}" for strategy in STRATEGIES for side in ("ours", "nni"))


def _space(args, bundle):
    import model_spaces

    return model_spaces.build_space("digits_cnn", bundle.input_shape, bundle.num_classes, widths=args.widths,
                                    max_depth=args.depth)


def run_variant(args) -> dict:
    from nni_nas.data import load_data
    from nni_nas.evaluation.classifier import ImageClassifier
    from strategies.darts.search import search_loaders

    torch.set_num_threads(args.threads)
    pl.seed_everything(0, verbose=False)
    strategy, side = args.variant.split("-")
    bundle = load_data("digits")
    weights_loader, arch_loader, _ = search_loaders(bundle, args.batch_size, 0.5, seed=0)
    callbacks: list = []
    if side == "nni":
        from nni.nas.oneshot.pytorch.supermodule.operation import NATIVE_MIXED_OPERATIONS
        from nni.nas.strategy import DARTS, GumbelDARTS, Proxyless, RandomOneShot

        kwargs = {} if strategy == "spos" else {"arc_learning_rate": 3e-3}
        if strategy == "proxyless":  # NNI's Proxyless has no mixed operations by default; a one-value width needs one
            kwargs["mutation_hooks"] = [operation.mutate for operation in NATIVE_MIXED_OPERATIONS]
        nni_strategy = {"darts": DARTS, "gdas": GumbelDARTS, "proxyless": Proxyless,
                        "spos": RandomOneShot}[strategy](**kwargs)
        supernet = nni_strategy.mutate_model(_space(args, bundle))
        inner = ImageClassifier(num_classes=bundle.num_classes, lr=0.05, momentum=0.9, weight_decay=3e-4,
                                max_epochs=args.epochs)
        module = nni_strategy.configure_oneshot_module(inner)
        module.set_model(supernet)
        loaders = weights_loader if strategy == "spos" else {"train": weights_loader, "val": arch_loader}
    elif strategy == "spos":
        from nni_nas.config import NasSettings
        from nni_nas.evaluation.modules import build_module
        from strategies.spos.search import UniformPathSampling
        from strategies.supernet.sampling import SamplingSupernet

        supernet = SamplingSupernet(_space(args, bundle))
        settings = NasSettings.from_class_args({"space": "digits_cnn", "data": "digits",
                                                "train": {"lr": 0.05, "epochs": args.epochs}},
                                               tuner_class="strategies.spos.SposTuner")
        module = build_module(settings, supernet, bundle.num_classes)
        callbacks.append(UniformPathSampling(supernet, 0))
        loaders = weights_loader
    else:
        from strategies.darts.settings import DartsSettings
        from strategies.gdas.settings import GdasSettings, ProxylessSettings
        from strategies.supernet.relaxed import RelaxedSupernet
        from strategies.supernet.relaxed_search import RelaxedSearch

        hp = {"darts": DartsSettings, "gdas": GdasSettings, "proxyless": ProxylessSettings}[strategy](
            w_lr=0.05, arch_lr=3e-3, order=1)
        supernet = RelaxedSupernet(_space(args, bundle), strategy, tau=1.0)
        module = RelaxedSearch(supernet, hp, "classification", args.epochs)
        loaders = {"weights": weights_loader, "arch": arch_loader}
    timer = StepTimer()
    trainer = pl.Trainer(max_epochs=args.epochs, accelerator="gpu" if args.device == "cuda" else "cpu", devices=1,
                         logger=False, callbacks=[timer, *callbacks], enable_checkpointing=False,
                         enable_model_summary=False, enable_progress_bar=False, limit_val_batches=0,
                         num_sanity_val_steps=0, limit_train_batches=args.batches or 1.0)
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    rss_before, reset = _vm_kib("VmRSS"), _reset_peak_rss()
    trainer.fit(module, loaders)
    if args.device == "cuda":
        peak_mb = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        peak_mb = (_vm_kib("VmHWM") - rss_before) / 1024 if reset and rss_before is not None else float("nan")
    return {"variant": args.variant, "epochs_s": timer.epochs, "peak_mb": round(peak_mb, 1),
            "steps_per_epoch": trainer.num_training_batches}


def _child(args, variant: str) -> dict:
    command = [sys.executable, __file__, "--variant", variant, *args.passthrough]
    output = subprocess.run(command, capture_output=True, text=True, check=False)
    if output.returncode != 0:
        raise RuntimeError(f"variant {variant} failed:\n{output.stderr[-3000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategy", choices=STRATEGIES, action="append")
    parser.add_argument("--widths", type=int, nargs="+", default=[16])
    parser.add_argument("--depth", type=int, default=4, help="max_depth of digits_cnn")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=0, help="steps per epoch (0: the whole half split)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run; the first is warm-up")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is dropped as warm-up)")
    if args.variant:
        print(json.dumps(run_variant(args)))
        return
    args.passthrough = [a for a in sys.argv[1:] if a not in ("--strategy", *STRATEGIES)]
    strategies = args.strategy or list(STRATEGIES)
    variants = [f"{s}-{side}" for s in strategies for side in ("ours", "nni")]
    runs: dict[str, list[dict]] = {variant: [] for variant in variants}
    for _ in range(args.repeats):
        for variant in variants:
            runs[variant].append(_child(args, variant))
            row = runs[variant][-1]
            print(f"{variant}: epochs {[round(s, 2) for s in row['epochs_s']]} s, peak {row['peak_mb']} MB",
                  file=sys.stderr)
    out: dict = {"widths": args.widths, "depth": args.depth, "batch_size": args.batch_size, "threads": args.threads,
                 "repeats": args.repeats, "device": args.device}
    for variant, rows in runs.items():
        times = [statistics.median(row["epochs_s"][1:]) for row in rows]
        out[variant] = {"epoch_s": round(statistics.fmean(times), 3), "epoch_s_se": round(_se(times), 3),
                        "peak_mb": round(statistics.fmean(row["peak_mb"] for row in rows), 1),
                        "steps": rows[0]["steps_per_epoch"]}
    for strategy in strategies:
        ratios = [statistics.median(a["epochs_s"][1:]) / statistics.median(b["epochs_s"][1:])
                  for a, b in zip(runs[f"{strategy}-ours"], runs[f"{strategy}-nni"])]
        out[f"{strategy}_ours_vs_nni"] = {"mean": round(statistics.fmean(ratios), 3), "se": round(_se(ratios), 3)}
        print(f"{strategy}: ours / NNI epoch time {out[f'{strategy}_ours_vs_nni']['mean']:.3f} "
              f"± {out[f'{strategy}_ours_vs_nni']['se']:.3f}; peak memory {out[f'{strategy}-ours']['peak_mb']} MB "
              f"against {out[f'{strategy}-nni']['peak_mb']} MB", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
