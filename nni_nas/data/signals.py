"""Signals and sequences of numbers: the shape rule the ``npz`` data set and :class:`~nni_nas.SignalClassifier`
share, and a toy data set of waveforms to try the route with.

The rule, by the rank of ``x`` (``N`` samples first):

- ``(N, L)``: sequences of ``L`` numbers, one channel: become ``(N, 1, L)``;
- ``(N, C, L)``: ``C`` channels over ``L`` time steps, channels first (as torch's ``Conv1d``);
- every signal has at least :data:`MIN_LENGTH` steps, finite real numbers.

An ``npz`` file's rank-3 ``x`` is ambiguous (``(N, H, W)`` one-channel images or ``(N, C, L)`` signals): it is read
as images unless ``data_args.kind`` is ``signal`` (a rank-2 ``x`` can only be sequences and is read as signals).
Nothing is guessed from the sizes: a signal space paired with image data, or the reverse, is refused by name.

``python -m nni_nas.data.signals OUT.npz`` writes :func:`waveforms` (four classes of noisy periodic shapes) for the
shipped config ``configs/signals_evolution.yml`` and the tests.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from nni_nas.errors import DataFormatError

MIN_LENGTH = 8  # a kernel of 7 (signal_cnn's stem) needs something to slide over
KINDS = ("image", "signal")


def as_signals(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` as float32 ``(N, C, L)`` by the rule above; one :class:`DataFormatError` naming ``name`` otherwise."""
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise DataFormatError(f"{name} must hold real numbers, got dtype {x.dtype}")
    if x.ndim == 2:
        x = x[:, None]
    if x.ndim != 3:
        raise DataFormatError(f"{name} must have shape (N, L) (sequences) or (N, C, L) (signals, channels first), "
                              f"got {x.shape}")
    if len(x) == 0:
        raise DataFormatError(f"{name} holds no signals")
    channels, length = x.shape[1:]
    if length < MIN_LENGTH:
        hint = ("; if your array is (N, L, C) channels last, pass x.transpose(0, 2, 1)" if channels >= MIN_LENGTH
                else "")
        raise DataFormatError(f"{name}: signals are {length} steps long (shape {x.shape}, read as (N, C, L)); at "
                              f"least {MIN_LENGTH} steps are needed{hint}")
    x = x.astype(np.float32)
    bad = int((~np.isfinite(x)).sum())
    if bad:
        raise DataFormatError(f"{name} holds NaN or infinite values ({bad} of them); fill or drop them first")
    return x


def check_kind(kind: Any) -> str | None:
    """``kind`` of an npz file's ``x``: None (by rank), ``image`` or ``signal``."""
    if kind is not None and kind not in KINDS:
        from nni_nas.errors import ConfigError

        raise ConfigError(f"data_args.kind must be image or signal (or left out: by the rank of x), got {kind!r}")
    return kind


def waveforms(samples_per_class: int = 50, length: int = 64, channels: int = 1, noise: float = 0.2,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A toy signal data set: ``(x, y)`` with ``x`` float32 ``(N, channels, length)`` and ``y`` int64, four classes
    (sine, square, sawtooth, triangle) of random period, phase and amplitude, plus Gaussian noise of ``noise``.

    Each channel of a sample is the same shape with its own phase. Seeded: the same arguments give the same arrays.
    """
    rng = np.random.default_rng(seed)
    n = 4 * samples_per_class
    y = np.repeat(np.arange(4), samples_per_class)
    t = np.arange(length, dtype=np.float64)
    period = rng.uniform(length / 4, length / 1.5, size=(n, 1, 1))
    phase = rng.uniform(0, 1, size=(n, channels, 1))
    amplitude = rng.uniform(0.5, 1.5, size=(n, 1, 1))
    cycle = (t[None, None, :] / period + phase) % 1.0  # position within the period, 0..1
    shapes = np.stack([
        np.sin(2 * np.pi * cycle),             # sine
        np.where(cycle < 0.5, 1.0, -1.0),      # square
        2 * cycle - 1,                         # sawtooth
        1 - 4 * np.abs(cycle - 0.5),           # triangle
    ])
    x = amplitude * shapes[y, np.arange(n)] + noise * rng.standard_normal((n, channels, length))
    order = rng.permutation(n)
    return x[order].astype(np.float32), y[order].astype(np.int64)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nni_nas.data.signals",
                                     description="Write the toy waveforms data set as an npz file (x, y).")
    parser.add_argument("out", help="the .npz file to write")
    parser.add_argument("--samples-per-class", type=int, default=50)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import os

    x, y = waveforms(args.samples_per_class, args.length, args.channels, seed=args.seed)
    if args.channels == 1:
        x = x[:, 0]  # one channel: plain sequences (N, L), signals whatever data_args.kind says
    path = os.path.expanduser(args.out)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    np.savez(path, x=x, y=y)
    print(f"{path}: x {x.shape}, y {y.shape} (4 classes: sine, square, sawtooth, triangle); read it with data: npz, "
          f"data_args: {{path: {args.out}, kind: signal}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
