"""BANANAS's acquisition functions over the predictor ensemble's predictions (White, Neiswanger, Savani, AAAI 2021,
Sec. 4): each turns the members' predictions for the candidates into one score per candidate, to maximise.

- **its** (independent Thompson sampling, the paper's choice for batches): each candidate's score is one draw from
  N(mean, std^2) of its members' predictions, drawn independently per candidate. A batch of the top scores is
  then diverse (an uncertain candidate sometimes draws high) without fitting the predictor again between picks.
- **ucb** (upper confidence bound): mean + ``beta`` * std.
"""

from __future__ import annotations

import numpy as np

ACQUISITIONS = ("its", "ucb")


def independent_thompson(predictions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One sample of N(mean, std^2) per candidate; ``predictions`` is (members, candidates)."""
    return rng.normal(predictions.mean(0), predictions.std(0))


def upper_confidence_bound(predictions: np.ndarray, beta: float) -> np.ndarray:
    """mean + beta * std per candidate."""
    return predictions.mean(0) + beta * predictions.std(0)
