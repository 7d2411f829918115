"""Random search: the honest baseline every NAS strategy must beat (Li & Talwalkar, "Random Search and
Reproducibility for Neural Architecture Search", UAI 2019)."""

from __future__ import annotations

from typing import Any

from strategies.base import NasTuner


class RandomTuner(NasTuner):
    """Uniform random architectures, each evaluated at most once.

    Parameters are those of :class:`strategies.base.NasTuner` (space, data, seed, ...).
    """

    def propose(self) -> dict[str, Any]:
        return self.random_arch()
