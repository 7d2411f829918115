"""DARTS settings as plain dataclasses, importable without torch (the tuner reads their defaults in NNI's dispatcher).

Liu, Simonyan, Yang, "DARTS: Differentiable Architecture Search", ICLR 2019: Sec. 3.1.2 (search optimisers on
CIFAR-10) and Sec. 3.3 / Appendix A.2 (the evaluation network's regularisers).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SearchHyperParameters:
    """The search's optimisers (paper Sec. 3.1.2 defaults for CIFAR-10)."""

    w_lr: float = 0.025
    w_lr_min: float = 0.001
    w_momentum: float = 0.9
    w_weight_decay: float = 3e-4
    grad_clip: float | None = 5.0
    arch_lr: float = 3e-4
    arch_betas: tuple[float, float] = (0.5, 0.999)
    arch_weight_decay: float = 1e-3
    order: int = 2
    xi: float | None = None


@dataclass(frozen=True)
class EvaluationOptions:
    """The paper's regularisers for the evaluation network (0 / None: off)."""

    cutout_length: int = 0
    drop_path_prob: float = 0.0
    auxiliary_weight: float = 0.0
    grad_clip: float | None = None
