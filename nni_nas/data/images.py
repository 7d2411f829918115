"""Image data sets: ``digits`` (embedded, the default), ``cifar10`` (a local folder) and ``npz`` (your arrays: images,
or signals and sequences by the rule of :mod:`nni_nas.data.signals`).

The dataset classes are ``nni.trace``-d so NNI's own evaluators can serialise them by their arguments
(NNI's multi-trial route refuses an untraced data set: "payload too large").
Nothing is downloaded unless a config asks for it (``download: true``).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import nni
import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from nni_nas.data import signals, splits
from nni_nas.data.registry import DataBundle, register_data
from nni_nas.errors import ConfigError, DataFormatError, DataNotFoundError

DIGITS_SPLIT_SEED = 0
DIGITS_FRACTIONS = (0.6, 0.2, 0.2)  # train / val / test, stratified by class


# --------------------------------------------------------------------------------------------- digits
@nni.trace
class DigitsDataset(TensorDataset):
    """One split of scikit-learn's handwritten digits (1,797 real scanned 8x8 images, 10 classes).

    The split is stratified and seeded (``split_seed``, default 0): 60% train (1,078 images),
    20% validation (359), 20% test (360). Pixels (0..16) are scaled to [-1, 1].
    """

    def __init__(self, split: str, split_seed: int = DIGITS_SPLIT_SEED):
        from sklearn.datasets import load_digits

        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be train, val or test, got {split!r}")
        digits = load_digits()
        x = (digits.images.astype(np.float32) / 8.0 - 1.0)[:, None, :, :]
        y = digits.target.astype(np.int64)
        chosen = splits.three_way(y, DIGITS_FRACTIONS, split_seed)[split]
        super().__init__(torch.from_numpy(x[chosen]), torch.from_numpy(y[chosen]))


@register_data("digits", info=lambda **_: ((1, 8, 8), 10))
def load_digits_data(split_seed: int = DIGITS_SPLIT_SEED) -> DataBundle:
    """scikit-learn's digits: embedded, no download. ``split_seed`` reshuffles the fixed 60/20/20 split."""
    return DataBundle(
        "digits",
        DigitsDataset("train", split_seed),
        DigitsDataset("val", split_seed),
        DigitsDataset("test", split_seed),
        (1, 8, 8),
        10,
    )


# -------------------------------------------------------------------------------------------- cifar10
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


@nni.trace
class Cifar10Split(Dataset):
    """CIFAR-10 from a local folder: ``train`` / ``val`` are a seeded split of the 50,000 training images
    (``val_size`` held out), ``test`` is the official 10,000-image test set.

    ``limit`` keeps only the first N images of the split (for quick runs); ``augment`` adds the usual
    random crop (padding 4) and horizontal flip to the training split.
    """

    def __init__(self, root: str, split: str, val_size: int = 5000, augment: bool = True,
                 download: bool = False, limit: int | None = None, split_seed: int = 0):
        import torchvision
        from torchvision import transforms as T

        normalise = [T.ToTensor(), T.Normalize(CIFAR_MEAN, CIFAR_STD)]
        train_tf = [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()] if augment else []
        transform = T.Compose((train_tf if split == "train" else []) + normalise)
        base = torchvision.datasets.CIFAR10(root, train=split != "test", transform=transform, download=download)
        if split == "test":
            indices = np.arange(len(base))
        else:
            order = np.random.default_rng(split_seed).permutation(len(base))
            indices = order[val_size:] if split == "train" else order[:val_size]
        if limit is not None:
            indices = indices[:limit]
        self.base, self.indices = base, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        return self.base[int(self.indices[i])]


def _cifar10_info(root: str = "~/data/cifar10", download: bool = False, **_: Any):
    root = os.path.expanduser(root)
    if not download and not (Path(root) / "cifar-10-batches-py").is_dir():
        raise DataNotFoundError(
            f"CIFAR-10 not found: {root!r} has no cifar-10-batches-py folder; set data_args.root to the folder "
            "that holds it, or data_args.download: true to fetch it once"
        )
    return (3, 32, 32), 10


@register_data("cifar10", info=_cifar10_info)
def load_cifar10(root: str = "~/data/cifar10", download: bool = False, val_size: int = 5000,
                 augment: bool = True, limit: int | None = None, split_seed: int = 0) -> DataBundle:
    """CIFAR-10 from ``root`` (a folder holding ``cifar-10-batches-py``). Downloads only with ``download: true``."""
    _cifar10_info(root, download)
    root = os.path.expanduser(root)
    make = lambda split: Cifar10Split(root, split, val_size, augment, download, limit, split_seed)  # noqa: E731
    return DataBundle("cifar10", make("train"), make("val"), make("test"), (3, 32, 32), 10)


# ------------------------------------------------------------------------------------------------ npz
@nni.trace
class NpzDataset(TensorDataset):
    """One split of a user's ``.npz`` file with arrays ``x``, integer ``y`` and optionally ``x_val``, ``y_val`` and
    ``x_test``, ``y_test``. ``x`` holds images, (N, H, W) or (N, C, H, W), or with ``kind="signal"`` signals, (N, L)
    or (N, C, L) (:mod:`nni_nas.data.signals`; a rank-2 ``x`` is signals whatever ``kind``). Without a test set,
    ``test_fraction`` of the data is held out (0: none, and there is no test split); then, without a validation set,
    ``val_fraction`` of the rest becomes validation. Splits are stratified and seeded. ``x`` is used as given (scale
    it beforehand)."""

    def __init__(self, path: str, split: str, val_fraction: float = 0.2, test_fraction: float = 0.2,
                 split_seed: int = 0, kind: str | None = None):
        x, y, x_test, y_test, x_val, y_val = _read_npz(path, kind)
        idx = np.arange(len(y))
        if x_test is None and test_fraction > 0:
            idx, test_idx = splits.holdout(idx, y, test_fraction, split_seed, "test_fraction")
            x_test, y_test = x[test_idx], y[test_idx]
        if split == "test" and x_test is None:
            raise ValueError(f"{path} has no test split (no x_test, test_fraction 0)")
        if x_val is None:
            idx, val_idx = splits.holdout(idx, y, val_fraction, split_seed, "val_fraction")
            x_val, y_val = x[val_idx], y[val_idx]
        xs, ys = {"train": (x[idx], y[idx]), "val": (x_val, y_val), "test": (x_test, y_test)}[split]
        super().__init__(torch.from_numpy(xs), torch.from_numpy(ys))


MAX_CLASSES = 10_000  # a label bound: one-hot metrics allocate num_classes entries per sample
MIN_SIDE = 4  # smaller images leave no room for a convolution to see a neighbourhood


def _read_npz(path: str, kind: str | None = None):
    signals.check_kind(kind)
    path = os.path.expanduser(path)
    if not Path(path).is_file():
        raise DataNotFoundError(f"npz file not found: {path!r}; set data_args.path to an existing .npz file")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = [key for key in ("x", "y") if key not in arrays]
            if missing:
                raise DataFormatError(f"{path} lacks arrays {missing}; it needs x (N,[C,]H,W) images or (N,[C,]L) "
                                      "signals, and y (N,) integer labels")
            samples = _signals if _is_signal(arrays["x"], kind, path) else _images
            x, y = samples(arrays["x"], path, "x"), _labels(arrays["y"], path, "y")
            held = {}
            for name in ("x_val", "y_val", "x_test", "y_test"):
                if name in arrays:
                    held[name] = (samples if name.startswith("x") else _labels)(arrays[name], path, name)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        if isinstance(err, DataFormatError | ConfigError):
            raise
        raise DataFormatError(f"{path} is not a readable .npz of plain arrays ({err}); write it with "
                              "numpy.savez(path, x=images, y=labels)") from None
    if len(x) != len(y):
        raise DataFormatError(f"{path}: x has {len(x)} rows but y has {len(y)}")
    for part in ("val", "test"):
        xs, ys = held.get(f"x_{part}"), held.get(f"y_{part}")
        if (xs is None) != (ys is None):
            raise DataFormatError(f"{path}: x_{part} and y_{part} go together; it has only one of them")
        if xs is None:
            continue
        if xs.shape[1:] != x.shape[1:]:
            what, axes = ("signals", "(C, L)") if samples is _signals else ("images", "(C, H, W)")
            raise DataFormatError(f"{path}: x_{part} {what} are {xs.shape[1:]} but x {what} are {x.shape[1:]}; "
                                  f"both must have the same {axes}")
        if len(xs) != len(ys):
            raise DataFormatError(f"{path}: x_{part} has {len(xs)} rows but y_{part} has {len(ys)}")
    if len(np.unique(y)) < 2:
        raise DataFormatError(f"{path}: y holds a single class; classification needs at least two")
    return x, y, held.get("x_test"), held.get("y_test"), held.get("x_val"), held.get("y_val")


def _is_signal(x: np.ndarray, kind: str | None, path: str) -> bool:
    """Whether ``x`` holds signals: a rank-2 ``x`` always, a rank-3 one only with ``kind: signal`` (it is read as
    (N, H, W) images otherwise); ``kind: image`` on a rank-2 ``x`` is a contradiction, named."""
    if kind == "image" and x.ndim == 2:
        raise DataFormatError(f"{path}: x is {x.shape}, sequences (N, L), but data_args.kind is image; drop kind or "
                              "set it to signal")
    if kind == "signal" and x.ndim == 4:
        raise DataFormatError(f"{path}: x is {x.shape}, images (N, C, H, W), but data_args.kind is signal; signals "
                              "are (N, L) or (N, C, L)")
    return x.ndim == 2 or kind == "signal"


def _signals(x: np.ndarray, path: str, name: str) -> np.ndarray:
    return signals.as_signals(x, f"{path}: {name}")


def _images(x: np.ndarray, path: str, name: str) -> np.ndarray:
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise DataFormatError(f"{path}: {name} must hold real numbers, got dtype {x.dtype}")
    x = _as_nchw(x, path)
    if min(x.shape[2:]) < MIN_SIDE:
        raise DataFormatError(f"{path}: {name} images are {x.shape[2]}x{x.shape[3]}; at least {MIN_SIDE}x{MIN_SIDE} "
                              "pixels are needed (signals (N, C, L)? set data_args.kind: signal)")
    if not np.isfinite(x).all():
        raise DataFormatError(f"{path}: {name} holds NaN or infinite values ({int((~np.isfinite(x)).sum())} of them)")
    return x


def _labels(y: np.ndarray, path: str, name: str) -> np.ndarray:
    if y.ndim != 1:
        raise DataFormatError(f"{path}: {name} must be one label per row, shape (N,), got {y.shape}")
    if np.issubdtype(y.dtype, np.floating) and np.isfinite(y).all() and (y == np.round(y)).all():
        y = y.astype(np.int64)  # whole numbers stored as floats
    if not np.issubdtype(y.dtype, np.integer):
        raise DataFormatError(f"{path}: {name} must hold integer class ids 0..K-1, got dtype {y.dtype}"
                              + (" with fractions" if np.issubdtype(y.dtype, np.floating) else ""))
    if len(y) and (y.min() < 0 or y.max() >= MAX_CLASSES):
        raise DataFormatError(f"{path}: {name} class ids must be in 0..{MAX_CLASSES - 1}, got {y.min()}..{y.max()}")
    return y.astype(np.int64)


def _as_nchw(x: np.ndarray, path: str) -> np.ndarray:
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise DataFormatError(f"{path}: x must have shape (N, H, W) or (N, C, H, W), got {x.shape}")
    return x.astype(np.float32)


def _npz_info(path: str, kind: str | None = None, **_: Any):
    return _npz_summary(path, kind)[:2]


def _npz_summary(path: str, kind: str | None = None) -> tuple[tuple[int, ...], int, bool]:
    """``(input_shape, num_classes, whether the file holds a test split)``."""
    x, y, _, y_test, _, y_val = _read_npz(path, kind)
    num_classes = int(max(labels.max() for labels in (y, y_test, y_val) if labels is not None)) + 1
    return tuple(x.shape[1:]), num_classes, y_test is not None


@register_data("npz", info=_npz_info)
def load_npz(path: str, val_fraction: float = 0.2, test_fraction: float = 0.2, split_seed: int = 0,
             kind: str | None = None) -> DataBundle:
    """A local ``.npz`` of images, or of signals (``kind: signal``; see :class:`NpzDataset`); classes are
    ``max(y) + 1``. Input shape ``(C, H, W)`` for images, ``(C, L)`` for signals. No test split when the file has
    no ``x_test`` and ``test_fraction`` is 0."""
    input_shape, num_classes, has_test = _npz_summary(path, kind)
    make = lambda split: NpzDataset(path, split, val_fraction, test_fraction, split_seed, kind)  # noqa: E731
    test = make("test") if has_test or test_fraction > 0 else None
    return DataBundle("npz", make("train"), make("val"), test, input_shape, num_classes)
