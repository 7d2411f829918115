"""Does ProxylessNAS's latency-aware loss pick faster architectures? The same searches with and without a latency
target, paired by seed.

For each of ``--searches`` seeds, two ProxylessNAS runs on digits in ``digits_cnn`` (ops, activation, skip, a
searched width and depth), retraining off: one with ``constraints: {max_latency_ms: --target}`` (the loss
``CE * (E[latency] / target) ** beta``), one without a latency term; each derived architecture's latency is then
measured as every trial's final dict measures it (one thread, one sample, the median of ``--latency-runs`` runs),
with its supernet validation accuracy. Per seed the figure is latency(with) - latency(without); the script prints
the mean and standard error over seeds, and how many seeds got a faster architecture with the target. The last line
is one JSON object.

    python benchmarks/proxyless_latency.py --searches 10 --target 0.1
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from nni_nas.config import NasSettings  # noqa: E402
from strategies.proxyless import ProxylessTuner  # noqa: E402

SPACE_ARGS = {"widths": [16, 32], "max_depth": 4}


def run(seed: int, target: float | None, args, work: Path) -> dict:
    class_args = {"space": "digits_cnn", "space_args": SPACE_ARGS, "data": "digits",
                  "train": {"epochs": 1, "batch_size": 64, "latency_runs": args.latency_runs},
                  "search_epochs": args.search_epochs, "w_lr": 0.05, "arch_lr": args.arch_lr,
                  "latency_beta": args.beta, "retrain": False}
    if target is not None:
        class_args["constraints"] = {"max_latency_ms": target}
    settings = NasSettings.from_class_args(class_args, tuner_class="strategies.proxyless.ProxylessTuner")
    result = ProxylessTuner.run_trial(settings, {"seed": seed}, work / f"{seed}-{target}", progress_bar=False)
    return {"latency_ms": result["latency_ms"], "val_acc": result["search_val_acc"], "arch": result["arch"],
            "expected_latency_ms": result.get("expected_latency_ms")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--searches", type=int, default=10)
    parser.add_argument("--target", type=float, default=0.1, help="max_latency_ms of the searches with a target")
    parser.add_argument("--beta", type=float, default=0.6)
    parser.add_argument("--arch-lr", type=float, default=0.01)
    parser.add_argument("--search-epochs", type=int, default=6)
    parser.add_argument("--latency-runs", type=int, default=30)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.searches):
            without = run(seed, None, args, Path(tmp))
            with_target = run(seed, args.target, args, Path(tmp))
            rows.append({"seed": seed, "without": without, "with": with_target,
                         "diff_ms": with_target["latency_ms"] - without["latency_ms"]})
            print(f"seed {seed}: latency {without['latency_ms']:.4f} ms -> {with_target['latency_ms']:.4f} ms with the "
                  f"target (val acc {without['val_acc']:.3f} -> {with_target['val_acc']:.3f}); archs "
                  f"{without['arch']} / {with_target['arch']}", file=sys.stderr)
    diffs = [row["diff_ms"] for row in rows]
    se = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
    out = {
        "searches": args.searches, "target_ms": args.target, "beta": args.beta, "search_epochs": args.search_epochs,
        "latency_without_ms": round(statistics.fmean(r["without"]["latency_ms"] for r in rows), 4),
        "latency_with_ms": round(statistics.fmean(r["with"]["latency_ms"] for r in rows), 4),
        "diff_ms_mean": round(statistics.fmean(diffs), 4), "diff_ms_se": round(se, 4),
        "faster_with_target": sum(d < 0 for d in diffs),
        "val_acc_without": round(statistics.fmean(r["without"]["val_acc"] for r in rows), 4),
        "val_acc_with": round(statistics.fmean(r["with"]["val_acc"] for r in rows), 4),
    }
    out["with_vs_without"] = round(out["latency_with_ms"] / out["latency_without_ms"], 3)
    print(f"latency with the target / without: {out['with_vs_without']} ({out['latency_with_ms']} ms against "
          f"{out['latency_without_ms']} ms; difference {out['diff_ms_mean']:+.4f} ± {out['diff_ms_se']:.4f} ms, "
          f"faster in {out['faster_with_target']} of {args.searches} seeds)", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
