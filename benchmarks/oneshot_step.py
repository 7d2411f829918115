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

``--baseline PATH`` (a checkout of another revision, e.g. ``git worktree add --detach /tmp/base main``) compares our
code with that checkout's instead of with NNI's, for every one-shot strategy: the four above, the DARTS cell search
first and second order (``darts_cell1``, ``darts_cell2``: ``darts_step.py``'s default network, width 8, 5 cells), the
generic relaxation's second order (``darts2``, on the space above) and
ENAS (``enas``: ``enas_step.py``'s shared-weight supernet and controller, an epoch is both phases). Each run is a
fresh process whose imports come from one checkout (``--code``; the script itself is ours, so both sides are timed
the same way); per repeat and strategy the two sides run back to back, which one first alternating between repeats,
so load on a shared machine hits both alike. The figures are ours / baseline per strategy (mean ± SE of the
per-repeat ratios) and the second / first order ratio of the DARTS cell search on each side.

    python benchmarks/oneshot_step.py --baseline /tmp/base --epochs 3 --repeats 3 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
_CODE = sys.argv[sys.argv.index("--code") + 1] if "--code" in sys.argv else str(Path(__file__).resolve().parents[1])
sys.path.insert(0, _CODE)  # a baseline run imports another checkout's code (see --baseline)

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402

from benchmarks.darts_step import StepTimer, _reset_peak_rss, _se, _vm_kib  # noqa: E402

STRATEGIES = ("darts", "gdas", "proxyless", "spos")
BASELINE_STRATEGIES = ("darts_cell1", "darts_cell2", *STRATEGIES, "darts2", "enas")
VARIANTS = (*(f"{strategy}-{side}" for strategy in STRATEGIES for side in ("ours", "nni")),
            "darts_cell1-ours", "darts_cell2-ours", "darts2-ours", "enas-ours")


def _space(args, bundle):
    import model_spaces

    return model_spaces.build_space("digits_cnn", bundle.input_shape, bundle.num_classes, widths=args.widths,
                                    max_depth=args.depth)


def run_cell_variant(args) -> dict:
    """The DARTS cell search (``darts_step.py``'s run, its default network) or ENAS (``enas_step.py``'s)."""
    strategy = args.variant.split("-")[0]
    if strategy == "enas":
        import tempfile

        from benchmarks.enas_step import run_enas
        from nni_nas.data import load_data

        torch.set_num_threads(args.threads)
        with tempfile.TemporaryDirectory() as tmp:
            epochs = run_enas(load_data("digits"), args.epochs, 20, 4, Path(tmp))
        return {"variant": args.variant, "epochs_s": [e["total"] for e in epochs], "peak_mb": float("nan"),
                "steps_per_epoch": None}
    from benchmarks.darts_step import run_variant as run_darts_cell

    cell_args = argparse.Namespace(input="digits", width=8, cells=5, batch_size=args.batch_size,
                                   batches=args.batches, epochs=args.epochs, threads=args.threads,
                                   device=args.device, variant="first" if strategy == "darts_cell1" else "second")
    return {**run_darts_cell(cell_args), "variant": args.variant}


def run_variant(args) -> dict:
    if args.variant.split("-")[0] in ("darts_cell1", "darts_cell2", "enas"):
        return run_cell_variant(args)
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

        hp = {"darts": DartsSettings, "darts2": DartsSettings, "gdas": GdasSettings, "proxyless": ProxylessSettings}[
            strategy](w_lr=0.05, arch_lr=3e-3, order=2 if strategy == "darts2" else 1)
        supernet = RelaxedSupernet(_space(args, bundle), strategy.rstrip("2"), tau=1.0)
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


def against_baseline(args, strategies: list[str]) -> dict:
    """Each strategy's ours-variant with this checkout's code and with ``args.baseline``'s, alternating."""
    passthrough, skip = [], False
    for item in args.passthrough:
        if skip or item == "--baseline":
            skip = not skip
            continue
        passthrough.append(item)
    roots = {"baseline": str(args.baseline.resolve()), "ours": str(Path(__file__).resolve().parents[1])}
    epochs: dict[str, dict[str, list[float]]] = {s: {"baseline": [], "ours": []} for s in strategies}
    loads = [round(os.getloadavg()[0], 1)]
    for repeat in range(args.repeats):
        for strategy in strategies:
            sides = ("baseline", "ours") if repeat % 2 == 0 else ("ours", "baseline")
            for side in sides:
                command = [sys.executable, __file__, "--variant", f"{strategy}-ours", "--code", roots[side],
                           *passthrough]
                output = subprocess.run(command, capture_output=True, text=True, check=False)
                if output.returncode != 0:
                    raise RuntimeError(f"{side} {strategy} failed:\n{output.stderr[-3000:]}")
                row = json.loads(output.stdout.strip().splitlines()[-1])
                if not row.get("code", roots[side]).startswith(roots[side]):
                    raise RuntimeError(f"{side} {strategy} imported {row['code']}, not {roots[side]}")
                epochs[strategy][side].append(statistics.median(row["epochs_s"][1:]))
                print(f"repeat {repeat + 1} {strategy} {side}: {epochs[strategy][side][-1]:.3f} s per epoch",
                      file=sys.stderr)
        loads.append(round(os.getloadavg()[0], 1))
    out: dict = {"benchmark": "oneshot_step against a baseline", "baseline": roots["baseline"],
                 "repeats": args.repeats, "epochs": args.epochs, "threads": args.threads, "device": args.device,
                 "load_average_per_repeat": loads}
    for strategy, sides in epochs.items():
        ratios = [o / b for o, b in zip(sides["ours"], sides["baseline"])]
        out[strategy] = {"baseline_epoch_s": [round(v, 3) for v in sides["baseline"]],
                         "ours_epoch_s": [round(v, 3) for v in sides["ours"]],
                         "ours_vs_baseline": [round(statistics.fmean(ratios), 3), round(_se(ratios), 3)]}
        print(f"{strategy}: ours / baseline {out[strategy]['ours_vs_baseline'][0]:.3f} "
              f"± {out[strategy]['ours_vs_baseline'][1]:.3f}", file=sys.stderr)
    if "darts_cell1" in epochs and "darts_cell2" in epochs:
        for side in ("baseline", "ours"):
            ratios = [s / f for s, f in zip(epochs["darts_cell2"][side], epochs["darts_cell1"][side])]
            out[f"darts_cell_second_vs_first_{side}"] = [round(statistics.fmean(ratios), 3), round(_se(ratios), 3)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategy", choices=BASELINE_STRATEGIES, action="append",
                        help="darts_cell1, darts_cell2 and enas with --baseline only")
    parser.add_argument("--widths", type=int, nargs="+", default=[16])
    parser.add_argument("--depth", type=int, default=4, help="max_depth of digits_cnn")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=0, help="steps per epoch (0: the whole half split)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run; the first is warm-up")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a checkout of another revision: every strategy of ours against that checkout's, "
                        "alternating (instead of against NNI's)")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--code", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is dropped as warm-up)")
    if args.variant:
        import strategies as strategies_package

        print(json.dumps({**run_variant(args), "code": strategies_package.__file__}))
        return
    args.passthrough = [a for a in sys.argv[1:] if a not in ("--strategy", *BASELINE_STRATEGIES)]
    if args.baseline is not None:
        if not (args.baseline / "strategies").is_dir():
            parser.error(f"--baseline {args.baseline} is not a checkout of this project (no strategies/ in it); "
                         "make one with `git worktree add --detach PATH main`")
        print(json.dumps(against_baseline(args, args.strategy or list(BASELINE_STRATEGIES))))
        return
    strategies = args.strategy or list(STRATEGIES)
    if set(strategies) - set(STRATEGIES):
        parser.error(f"{sorted(set(strategies) - set(STRATEGIES))} compare with --baseline only (NNI has no peer)")
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
