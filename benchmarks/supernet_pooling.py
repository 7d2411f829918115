"""Stride-1 pooling of the supernets (``strategies/supernet/pooling.py``) against PyTorch's own ``nn.MaxPool2d`` and
``nn.AvgPool2d``, one layer at a time, forward and full backward, the two alternating in one process.

The shapes are those of the supernets' pooling candidates: batch 64 (32 on 32x32 maps), 8 to 64 channels, maps of
2x2 to 32x32. Per shape and repeat each side runs ``--steps`` passes after warm-up, which one first alternating; the
figure is the mean ± SE of the per-repeat ratios ours / PyTorch (below 1: faster). The last line printed is one JSON
object.

    python benchmarks/supernet_pooling.py --repeats 7 --threads 1
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

SHAPES = ((64, 8, 8, 8), (64, 16, 8, 8), (64, 32, 4, 4), (64, 64, 2, 2), (64, 16, 16, 16), (32, 16, 32, 32))
LAYERS = {"max": lambda: nn.MaxPool2d(3, stride=1, padding=1),
          "avg": lambda: nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)}


def _seconds(layer: nn.Module, x: torch.Tensor, grad: torch.Tensor, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        layer(x).backward(grad)
    return (time.perf_counter() - start) / steps


def _se(values: list[float]) -> float:
    return statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else float("nan")


def main() -> None:
    from strategies.supernet.pooling import use_fast_pooling

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out: dict = {"benchmark": "supernet_pooling", "threads": args.threads, "repeats": args.repeats,
                 "load_average_start": round(os.getloadavg()[0], 1)}
    for kind, make in LAYERS.items():
        for shape in SHAPES:
            plain = make()
            fast = copy.deepcopy(plain)
            use_fast_pooling(fast)
            x = torch.randn(*shape, requires_grad=True)
            grad = torch.randn(*plain(x).shape)
            times: dict[str, list[float]] = {"ours": [], "torch": []}
            for side in ("ours", "torch"):  # warm-up
                _seconds(fast if side == "ours" else plain, x, grad, 5)
            for repeat in range(args.repeats):
                for side in (("ours", "torch") if repeat % 2 == 0 else ("torch", "ours")):
                    times[side].append(_seconds(fast if side == "ours" else plain, x, grad, args.steps))
            ratios = [a / b for a, b in zip(times["ours"], times["torch"])]
            key = f"{kind}_{'x'.join(map(str, shape))}"
            out[key] = {"torch_ms": round(statistics.median(times["torch"]) * 1000, 3),
                        "ours_ms": round(statistics.median(times["ours"]) * 1000, 3),
                        "ours_vs_torch": [round(statistics.fmean(ratios), 3), round(_se(ratios), 3)]}
            print(f"{kind} pool {shape}: PyTorch {out[key]['torch_ms']:.3f} ms, ours {out[key]['ours_ms']:.3f} ms, "
                  f"ours / PyTorch {out[key]['ours_vs_torch'][0]:.3f} ± {out[key]['ours_vs_torch'][1]:.3f}",
                  file=sys.stderr)
    out["load_average_end"] = round(os.getloadavg()[0], 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
