"""DARTS's settings (``tuner.classArgs``) in one dataclass, importable without torch: NNI's dispatcher builds the
tuner, which validates them, and must connect to the manager within 10 s.

Liu, Simonyan, Yang, "DARTS: Differentiable Architecture Search", ICLR 2019: Sec. 3.1.2 (search optimisers on
CIFAR-10, the defaults below) and Sec. 3.3 / Appendix A.2 (the evaluation network's regularisers, off by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from nni_nas.config import Settings, is_int, is_number


@dataclass
class DartsSettings(Settings):
    """Every DARTS setting with the paper's default; see :class:`strategies.darts.DartsTuner` for each one."""

    section: ClassVar[str] = "DARTS"

    # the search (Sec. 3.1.2)
    search_epochs: int = 50
    search_batch_size: int = 64
    train_portion: float = 0.5
    order: int = 2
    xi: float | None = None
    reuse_virtual_step: bool = True
    w_lr: float = 0.025
    w_lr_min: float = 0.001
    w_momentum: float = 0.9
    w_weight_decay: float = 3e-4
    grad_clip: float | None = 5.0
    arch_lr: float = 3e-4
    arch_betas: tuple[float, float] = (0.5, 0.999)
    arch_weight_decay: float = 1e-3
    # the evaluation network (Sec. 3.3, Appendix A.2)
    retrain: bool = True
    eval_space_args: dict[str, Any] | None = None
    cutout_length: int = 0
    drop_path_prob: float = 0.0
    auxiliary_weight: float = 0.0
    eval_grad_clip: float | None = None

    def __post_init__(self) -> None:
        self.arch_betas = tuple(self.arch_betas)  # YAML gives a list

    def value_problems(self) -> list[str]:
        problems = []
        if self.order not in (1, 2):
            problems.append(f"order must be 1 (first order) or 2 (second order), got {self.order!r}")
        if not 0 < self.train_portion < 1:
            problems.append(f"train_portion must be between 0 and 1 (the paper's 0.5), got {self.train_portion!r}")
        for key, most in (("search_epochs", 100_000), ("search_batch_size", 65_536), ("cutout_length", 4096)):
            if not is_int(getattr(self, key), 1 if key != "cutout_length" else 0) or getattr(self, key) > most:
                problems.append(f"{key} must be an integer up to {most:,} (at least 1, cutout 0), "
                                f"got {getattr(self, key)!r}")
        if len(self.arch_betas) != 2 or not all(is_number(b) and 0 <= b < 1 for b in self.arch_betas):
            problems.append(f"arch_betas must be two numbers in [0, 1) like [0.5, 0.999], got {list(self.arch_betas)}")
        for key in ("w_lr", "arch_lr"):
            if not getattr(self, key) > 0:
                problems.append(f"{key} must be > 0, got {getattr(self, key)!r}")
        for key in ("w_lr_min", "w_momentum", "w_weight_decay", "arch_weight_decay"):
            if getattr(self, key) < 0:
                problems.append(f"{key} must be >= 0, got {getattr(self, key)!r}")
        for key in ("xi", "grad_clip", "eval_grad_clip"):
            if getattr(self, key) is not None and not getattr(self, key) >= 0:
                problems.append(f"{key} must be >= 0 or null, got {getattr(self, key)!r}")
        if not 0 <= self.drop_path_prob < 1:
            problems.append(f"drop_path_prob must be in [0, 1), got {self.drop_path_prob!r}")
        if self.cutout_length < 0 or self.auxiliary_weight < 0:
            problems.append("cutout_length and auxiliary_weight must be >= 0 (0 switches them off)")
        return problems

    def evaluation_space_args(self) -> dict[str, Any]:
        """``space_args`` of the evaluation network over the config's; an auxiliary loss needs the auxiliary head."""
        space_args = dict(self.eval_space_args or {})
        if self.auxiliary_weight > 0:
            space_args["auxiliary"] = True
        return space_args
