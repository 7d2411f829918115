"""How well the zero-cost proxies of the warm start (strategies/proxies.py) rank architectures: Spearman's rank
correlation of each proxy's score with the accuracy the architectures reach.

- synflow (data-free) on NAS-Bench-201: a random sample of cells of the shared 12-epoch table
  (data/benchmarks/nb201_cifar_12epoch.csv), each scored on the NAS-Bench-201 network built by
  model_spaces/nasbench201.py, against the table's cifar10-val. The network is built at a smaller size than the
  benchmark's (``--channels``, ``--cells-per-stage``, ``--resolution``; 16, 5 and 32 in the benchmark) so that a
  sample runs on a shared CPU.
- naswot and jacob_cov need a batch of CIFAR-10, which is not here: they (and synflow) are measured on the embedded
  digits instead, against the validation accuracy of ``--digits-archs`` random digits_cnn architectures trained
  ``--epochs`` epochs.

- ``--table TABLE`` scores every architecture of a tabular benchmark instead (NAS-Bench-201 or NAS-Bench-Macro), as
  the warm start of a tuner with that table as its evaluator computes it (on the benchmark's own network, seed
  ``--seed``), and ``--scores-out`` writes the scores for ``search_quality.py --proxy-scores``.

Ends with one JSON line: {"nb201": {"cells": N, "synflow": rho}, "digits": {"archs": M, "synflow": rho, "naswot": rho,
"jacob_cov": rho}}.

    python benchmarks/zero_cost.py --cells 1000 --digits-archs 30
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def spearman(xs: list[float], ys: list[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(xs, ys).statistic)


def nb201(cells: int, channels: int, cells_per_stage: int, resolution: int, seed: int,
          scores_out: Path | None = None) -> dict:
    import pandas as pd
    import torch

    import model_spaces
    from strategies.proxies import synflow
    from strategies.warm_start import fixed_network

    table = pd.read_csv(REPO / "data" / "benchmarks" / "nb201_cifar_12epoch.csv")
    rows = table.sample(n=min(cells, len(table)), random_state=seed)
    shape = (3, resolution, resolution)
    space = model_spaces.build_space("nasbench201", shape, 10, channels=channels, cells_per_stage=cells_per_stage)
    scores, accs = [], []
    for _, row in rows.iterrows():
        torch.manual_seed(seed)  # the same seed for every cell's weights, as the warm start's arch_score
        scores.append(synflow(fixed_network(space, space.from_benchmark_key(row["arch_str"])), shape))
        accs.append(float(row["cifar10-val"]))
        if len(scores) % 500 == 0:  # a running figure, for a sample cut short on a busy machine
            print(f"nb201: {len(scores)} cells, synflow Spearman {spearman(scores, accs):.4f}", file=sys.stderr,
                  flush=True)
    if scores_out is not None:
        pd.DataFrame({"arch_str": rows["arch_str"], "synflow": scores}).to_csv(scores_out, index=False)
    return {"cells": len(scores), "channels": channels, "cells_per_stage": cells_per_stage, "resolution": resolution,
            "synflow": round(spearman(scores, accs), 4)}


def table_synflow(table_path: Path, metric: str | None, seed: int, scores_out: Path | None) -> dict:
    """synflow of every architecture of a tabular benchmark (NAS-Bench-201 or NAS-Bench-Macro), computed as the warm
    start of a tuner with that table as its evaluator and seed ``seed`` computes it (on the benchmark's own network),
    and its Spearman correlation with ``metric``."""
    import pandas as pd

    import strategies
    from nni_nas.evaluation.tabular import load_table
    from strategies.warm_start import arch_score

    table = load_table(table_path)
    metric = metric or table.default_metric
    tuner = strategies.get_strategy("random").tuner_class()(
        table.space, seed=seed, evaluator={"kind": "benchmark", "table": str(table_path), "metric": metric})
    cls = type(tuner.cost_model.space)
    keys, scores, values = list(table.rows), [], []
    for key in keys:
        scores.append(arch_score(tuner, tuner.canonical(cls.from_benchmark_key(key)), "synflow"))
        values.append(table.value(key, metric))
        if len(scores) % 500 == 0:
            print(f"{table.space}: {len(scores)} cells, synflow Spearman {spearman(scores, values):.4f}",
                  file=sys.stderr, flush=True)
    if scores_out is not None:
        pd.DataFrame({"arch_str": keys, "synflow": scores}).to_csv(scores_out, index=False)
    return {"table": table_path.name, "cells": len(scores), "metric": metric,
            "synflow": round(spearman(scores, values), 4)}


def digits(archs: int, epochs: int, seed: int) -> dict:
    import nni_nas.components as components
    from nni_nas.config import TrainSettings
    from nni_nas.evaluation.training import train_and_evaluate
    from strategies.evolution import RegularizedEvolutionTuner
    from strategies.warm_start import arch_score, proxy_batch

    tuner = RegularizedEvolutionTuner(space="digits_cnn", seed=seed)
    batch = proxy_batch(tuner, 64)
    bundle = components.load_bundle(tuner.nas_settings)
    rng = random.Random(seed)
    rows = []
    seen = set()
    while len(rows) < archs:
        arch = tuner.canonical({label: rng.choice(values) for label, values in tuner.choices.items()})
        if json.dumps(arch, sort_keys=True) in seen:
            continue
        seen.add(json.dumps(arch, sort_keys=True))
        row = {"synflow": arch_score(tuner, arch, "synflow"), "naswot": arch_score(tuner, arch, "naswot", batch),
               "jacob_cov": arch_score(tuner, arch, "jacob_cov", batch)}
        model = tuner.space.freeze(arch)
        with tempfile.TemporaryDirectory() as out:
            result, _ = train_and_evaluate(model, bundle, TrainSettings(epochs=epochs, seed=seed), Path(out),
                                           progress_bar=False)
        rows.append({**row, "val_acc": result["val_acc"]})
        print(f"digits: {json.dumps(rows[-1])}", file=sys.stderr, flush=True)
    accs = [r["val_acc"] for r in rows]
    return {"archs": len(rows), "epochs": epochs, "synflow": round(spearman([r["synflow"] for r in rows], accs), 4),
            "naswot": round(spearman([r["naswot"] for r in rows], accs), 4),
            "jacob_cov": round(spearman([r["jacob_cov"] for r in rows], accs), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=1000, help="NAS-Bench-201 cells sampled from the table (0: skip)")
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--cells-per-stage", type=int, default=1)
    parser.add_argument("--resolution", type=int, default=32, help="input height and width of the scored network "
                                                                    "(CIFAR-10: 32)")
    parser.add_argument("--digits-archs", type=int, default=30, help="digits_cnn architectures trained (0: skip)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--table", type=Path, help="instead of --cells: score every architecture of this table "
                                                    "(NB201 or NAS-Bench-Macro) as a warm start with it does")
    parser.add_argument("--metric", help="the table's column to correlate with (--table; default: its searched one)")
    parser.add_argument("--scores-out", type=Path, help="write each NB201 cell's synflow score here (CSV or .csv.gz: "
                                                          "arch_str, synflow), e.g. for search_quality.py's warm start")
    args = parser.parse_args()
    start = time.time()
    out = {}
    if args.table:
        out["table"] = table_synflow(args.table, args.metric, args.seed, args.scores_out)
        print(f"table: {out['table']} ({time.time() - start:.0f} s)", file=sys.stderr)
    elif args.cells:
        out["nb201"] = nb201(args.cells, args.channels, args.cells_per_stage, args.resolution, args.seed,
                             args.scores_out)
        print(f"nb201: {out['nb201']} ({time.time() - start:.0f} s)", file=sys.stderr)
    if args.digits_archs:
        out["digits"] = digits(args.digits_archs, args.epochs, args.seed)
    out["seconds"] = round(time.time() - start)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
