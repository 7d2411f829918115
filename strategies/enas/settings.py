"""ENAS's settings (``tuner.classArgs``) and their checks, importable without torch: NNI's dispatcher builds the
tuner, which validates them, and must connect to the manager within 10 s.

Pham et al., "Efficient Neural Architecture Search via Parameter Sharing", ICML 2018.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from nni_nas.config import Settings, is_int, is_number


@dataclass
class EnasSettings(Settings):
    """ENAS's own settings (``tuner.classArgs``); see :class:`strategies.enas.EnasTuner` for each one."""

    section: ClassVar[str] = "ENAS"

    search_epochs: int | None = None
    controller_steps: int = 50
    controller_batch: int = 1
    controller_lr: float = 3.5e-4
    controller_hidden: int = 100
    temperature: float | None = 5.0
    tanh_constant: float | None = 2.5
    entropy_weight: float = 1e-4
    baseline_decay: float = 0.99
    param_penalty: float = 0.0
    grad_clip: float | None = 5.0
    derive_samples: int = 10
    retrain: bool = True
    retrain_epochs: int | None = None
    retrain_space_args: dict[str, Any] | None = None

    def value_problems(self) -> list[str]:
        checks = [
            ("search_epochs", self.search_epochs is None or is_int(self.search_epochs, 1)
             and self.search_epochs <= 100_000, "an integer from 1 to 100000, or null"),
            ("controller_steps", is_int(self.controller_steps, 0) and self.controller_steps <= 1_000_000,
             "an integer from 0 to 1000000"),
            ("controller_batch", is_int(self.controller_batch, 1) and self.controller_batch <= 4096,
             "an integer from 1 to 4096"),
            ("controller_lr", is_number(self.controller_lr) and self.controller_lr > 0, "a number > 0"),
            ("controller_hidden", is_int(self.controller_hidden, 1) and self.controller_hidden <= 4096,
             "an integer from 1 to 4096"),
            ("temperature", self.temperature is None or is_number(self.temperature) and self.temperature > 0,
             "a number > 0 or null"),
            ("tanh_constant", self.tanh_constant is None or is_number(self.tanh_constant) and self.tanh_constant > 0,
             "a number > 0 or null"),
            ("entropy_weight", is_number(self.entropy_weight) and self.entropy_weight >= 0, "a number >= 0"),
            ("baseline_decay", is_number(self.baseline_decay) and 0 <= self.baseline_decay < 1,
             "a number in [0, 1)"),
            ("param_penalty", is_number(self.param_penalty) and self.param_penalty >= 0,
             "a number >= 0 (reward per million parameters)"),
            ("grad_clip", self.grad_clip is None or is_number(self.grad_clip) and self.grad_clip > 0,
             "a number > 0 or null"),
            ("derive_samples", is_int(self.derive_samples, 1) and self.derive_samples <= 10_000,
             "an integer from 1 to 10000"),
            ("retrain", isinstance(self.retrain, bool), "true or false"),
            ("retrain_epochs", self.retrain_epochs is None or is_int(self.retrain_epochs, 1)
             and self.retrain_epochs <= 100_000, "an integer from 1 to 100000, or null"),
            ("retrain_space_args", self.retrain_space_args is None or isinstance(self.retrain_space_args, dict),
             "a mapping or null"),
        ]
        return [f"{key} must be {what}, got {getattr(self, key)!r}" for key, ok, what in checks if not ok]
