"""GDAS's and ProxylessNAS's settings (``tuner.classArgs``), importable without torch: NNI's dispatcher builds the
tuner, which validates them, and must connect to the manager within 10 s.

Both are DARTS's search with another relaxation, so they take DARTS's settings (:class:`DartsSettings`: the two
optimisers, the split of the training data, the evaluation network) with their own papers' defaults and a few of
their own. Both are first order: the architecture step reads the current weights (``order`` 2 is refused).

- Dong & Yang, "Searching for A Robust Neural Architecture in Four GPU Hours", CVPR 2019 (GDAS): the Gumbel-softmax
  temperature decays linearly from 10 to 0.1 over the search (Section 4.1).
- Cai, Zhu, Han, "ProxylessNAS: Direct Neural Architecture Search on Target Task and Hardware", ICLR 2019: Adam on
  the architecture parameters with learning rate 1e-3 (Appendix), the latency term of Section 3.3, and a warm-up of
  the weights on sampled paths before the architecture parameters start learning (``warmup_epochs``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from nni_nas.config import is_int, is_number
from strategies.darts.settings import DartsSettings

LATENCY_FORMS = ("multiplicative", "additive")


@dataclass
class GdasSettings(DartsSettings):
    """GDAS's settings: DARTS's, first order, plus the temperature schedule (see :class:`strategies.gdas.GdasTuner`)."""

    section: ClassVar[str] = "GDAS"

    order: int = 1
    tau_max: float = 10.0
    tau_min: float = 0.1

    def value_problems(self) -> list[str]:
        problems = [p for p in super().value_problems() if not p.startswith("order")]
        if self.order != 1:
            problems.append(f"order must be 1: {self.section} updates its architecture parameters with first-order "
                            f"gradients (second order is DARTS's), got {self.order!r}")
        if not (is_number(self.tau_max) and is_number(self.tau_min) and 0 < self.tau_min <= self.tau_max <= 1000):
            problems.append(f"tau_max and tau_min must satisfy 0 < tau_min <= tau_max <= 1000 (the paper: 10 and 0.1), "
                            f"got {self.tau_max!r} and {self.tau_min!r}")
        return problems


@dataclass
class ProxylessSettings(DartsSettings):
    """ProxylessNAS's settings: DARTS's, first order, plus the latency-aware loss (see
    :class:`strategies.proxyless.ProxylessTuner`)."""

    section: ClassVar[str] = "Proxyless"

    order: int = 1
    arch_lr: float = 1e-3
    arch_weight_decay: float = 0.0
    latency_form: str = "multiplicative"
    latency_beta: float = 0.6
    latency_lambda: float = 0.1
    latency_runs: int = 10
    warmup_epochs: int = 0

    def value_problems(self) -> list[str]:
        problems = [p for p in super().value_problems() if not p.startswith("order")]
        if not (is_int(self.warmup_epochs, 0) and self.warmup_epochs < self.search_epochs):
            problems.append(f"warmup_epochs must be an integer from 0 to search_epochs - 1 ({self.search_epochs - 1}), "
                            f"got {self.warmup_epochs!r}")
        if self.order != 1:
            problems.append(f"order must be 1: {self.section} updates its architecture parameters with first-order "
                            f"gradients (second order is DARTS's), got {self.order!r}")
        if self.latency_form not in LATENCY_FORMS:
            problems.append(f"latency_form must be one of {list(LATENCY_FORMS)}, got {self.latency_form!r}")
        if not (is_number(self.latency_beta) and 0 < self.latency_beta <= 10):
            problems.append(f"latency_beta must be a number in (0, 10] (FBNet: 0.6), got {self.latency_beta!r}")
        if not (is_number(self.latency_lambda) and 0 <= self.latency_lambda <= 1000):
            problems.append(f"latency_lambda must be a number in [0, 1000], got {self.latency_lambda!r}")
        if not (is_int(self.latency_runs, 1) and self.latency_runs <= 10_000):
            problems.append(f"latency_runs must be an integer from 1 to 10000, got {self.latency_runs!r}")
        return problems
