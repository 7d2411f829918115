"""One forward and full backward of the DARTS cell supernet with the faster depthwise backward
(``strategies/supernet/depthwise.py``) against the same supernet with PyTorch's own, alternating in one process.

The two supernets are built from the same seed; ``plain`` has every swapped layer set back to ``nn.Conv2d``. Each
repeat times one pass of each, in alternating order, after two warm-up passes; the figure is the mean ± SE of the
per-repeat ratios fast / plain (below 1: faster). The last line printed is one JSON object.

    python benchmarks/depthwise_backward.py --input digits --repeats 10
    python benchmarks/depthwise_backward.py --input cifar --width 16 --cells 8 --batch-size 32 --repeats 5
    python benchmarks/depthwise_backward.py --alpha-only --repeats 10
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def build(args, plain: bool):
    import model_spaces
    from strategies.darts.supernet import DartsSupernet
    from strategies.supernet.depthwise import DepthwiseConv2d

    torch.manual_seed(0)
    shape = (1, 8, 8) if args.input == "digits" else (3, 32, 32)
    supernet = DartsSupernet(model_spaces.build_space("darts", shape, 10, width=args.width, num_cells=args.cells,
                                                      num_nodes=4, affine=False, auxiliary=False))
    if plain:
        for layer in supernet.modules():
            if type(layer) is DepthwiseConv2d:
                layer.__class__ = torch.nn.Conv2d
    return supernet, shape


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", choices=("digits", "cifar"), default="digits")
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--cells", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--alpha-only", action="store_true",
                        help="a backward to alpha only (DARTS's architecture step)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    nets = {"fast": build(args, plain=False)[0], "plain": build(args, plain=True)[0]}
    _, shape = build(args, plain=True)
    x, y = torch.randn(args.batch_size, *shape), torch.randint(0, 10, (args.batch_size,))

    def one_pass(net) -> float:
        start = time.perf_counter()
        loss = F.cross_entropy(net(x), y)
        if args.alpha_only:
            torch.autograd.grad(loss, net.arch_parameters())
        else:
            loss.backward()
        return time.perf_counter() - start

    for net in nets.values():
        for _ in range(2):
            one_pass(net)
    times: dict[str, list[float]] = {"fast": [], "plain": []}
    for repeat in range(args.repeats):
        for name in ("fast", "plain") if repeat % 2 == 0 else ("plain", "fast"):
            times[name].append(one_pass(nets[name]))
    ratios = [f / p for f, p in zip(times["fast"], times["plain"])]
    se = statistics.stdev(ratios) / len(ratios) ** 0.5 if len(ratios) > 1 else 0.0
    out = {"benchmark": "depthwise_backward", "input": args.input, "width": args.width, "cells": args.cells,
           "batch_size": args.batch_size, "alpha_only": args.alpha_only, "threads": args.threads,
           "repeats": args.repeats,
           "fast_pass_s": round(statistics.median(times["fast"]), 3),
           "plain_pass_s": round(statistics.median(times["plain"]), 3),
           "fast_vs_plain": [round(statistics.fmean(ratios), 3), round(se, 3)],
           "load_average_end": round(os.getloadavg()[0], 1)}
    print(f"forward + backward: fast {out['fast_pass_s']} s, plain {out['plain_pass_s']} s (medians); fast / plain "
          f"{out['fast_vs_plain'][0]} ± {out['fast_vs_plain'][1]}", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
