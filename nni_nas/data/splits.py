"""Stratified, seeded splits shared by every data set (scikit-learn's ``train_test_split`` underneath)."""

from __future__ import annotations

import numpy as np


def holdout(indices: np.ndarray, y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(kept, held_out)``: ``fraction`` of ``indices`` held out, stratified by their labels ``y[indices]``."""
    from sklearn.model_selection import train_test_split

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
