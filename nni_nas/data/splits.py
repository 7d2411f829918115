"""Stratified, seeded splits shared by every data set (scikit-learn's ``train_test_split`` underneath)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nni_nas.errors import DataFormatError


def holdout_problem(y: np.ndarray, fraction: float, name: str = "validation_split",
                    classes: Any = None) -> str | None:
    """Why a stratified hold-out of ``fraction`` of the samples labelled ``y`` cannot be drawn, in one line naming
    the count at fault and the value that works, or None. The rules are scikit-learn's (``StratifiedShuffleSplit``):
    ``ceil(fraction * n)`` samples are held out, the rest kept; each class needs 2 samples, and both parts at least
    one sample per class. ``classes[id]`` names a class in the message (default: its id)."""
    n = len(y)
    ids, counts = np.unique(y, return_counts=True)
    k = len(ids)
    if k and counts.min() < 2:
        label = ids[counts.argmin()]
        shown = classes[label] if classes is not None else label
        shown = shown.item() if hasattr(shown, "item") else shown
        return (f"class {shown!r} has only 1 sample: a stratified {name} needs at least 2 of each class (one to "
                "train on, one to validate)")
    held = math.ceil(fraction * n)
    if held < k:
        return (f"{name}={fraction} of {n} samples holds out {held}, fewer than the {k} classes (each class is "
                f"validated): use {name} >= {math.ceil(k / n * 1000) / 1000:g}")
    if n - held < k:
        return (f"{name}={fraction} of {n} samples leaves {n - held} to train on, fewer than the {k} classes: use "
                f"{name} <= {math.floor((1 - k / n) * 1000) / 1000:g}")
    return None


def holdout(indices: np.ndarray, y: np.ndarray, fraction: float, seed: int,
            name: str = "the held-out fraction") -> tuple[np.ndarray, np.ndarray]:
    """``(kept, held_out)``: ``fraction`` of ``indices`` held out, stratified by their labels ``y[indices]``; data
    too small for that is a :class:`DataFormatError` naming ``name`` (the setting that asked for it)."""
    from sklearn.model_selection import train_test_split

    problem = holdout_problem(y[indices], fraction, name)
    if problem:
        raise DataFormatError(problem)

    kept, held = train_test_split(indices, test_size=fraction, stratify=y[indices], random_state=seed)
    return kept, held


def three_way(y: np.ndarray, fractions: tuple[float, float, float], seed: int) -> dict[str, np.ndarray]:
    """Indices of the ``train`` / ``val`` / ``test`` splits of ``fractions`` (summing to 1), stratified."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    train_idx, rest = train_test_split(idx, train_size=fractions[0], stratify=y, random_state=seed)
    val_share = fractions[1] / (fractions[1] + fractions[2])
    val_idx, test_idx = train_test_split(rest, train_size=val_share, stratify=y[rest], random_state=seed)
    return {"train": train_idx, "val": val_idx, "test": test_idx}
