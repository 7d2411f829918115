"""Search under a budget: ``classArgs.constraints: {max_params, max_flops, max_latency_ms}``, honoured by every
strategy.

Where an architecture over budget is stopped (measured figures in docs/constraints.md):

- ``max_params`` and ``max_flops``: in the multi-trial **tuner**, before NNI ever sees the architecture. The tuner
  counts the architecture's cost on the space's own network (:mod:`model_spaces.costs`; a cached table for tabular
  spaces), on first use, after its process has connected to NNI; an architecture over budget is never proposed,
  never trained and never proposed again, so ``maxTrialNumber`` trials are all feasible ones. DARTS and ENAS check
  the same costs on the architectures they derive or sample.
- ``max_latency_ms``: only a built network can be timed, so the **trial** times it before any training (the same
  method in every trial: :func:`nni_nas.evaluation.metrics.latency_ms`, always on the CPU, one thread, one sample,
  whatever device trains the network; a trial within budget reports that same figure as its final dict's
  ``latency_ms``, and a GPU's as ``latency_ms_cuda``, which no limit reads); over budget, it reports at once a final
  dict with ``over_budget: true`` and the violated limits, and trains nothing. That trial uses one of
  ``maxTrialNumber``; the tuner records the architecture as infeasible (the worst result), never to propose it again.

This module imports nothing heavy: NNI's dispatcher reads it at start-up.
"""

from __future__ import annotations

from typing import Any

# the settings half lives in nni_nas.config (with the other settings); re-exported here
from nni_nas.config import LIMITS, ConstraintSettings, constraint_settings  # noqa: F401


def over_budget_result(costs: dict[str, Any], violations: list[str], optimize_mode: str = "maximize"
                       ) -> dict[str, Any]:
    """The final dict of a trial stopped before training: ``over_budget: true``, the violated limits and the costs;
    ``default`` is the worst value for the portal (0 when maximising; the largest float when minimising)."""
    worst = 0.0 if optimize_mode == "maximize" else 1.7976931348623157e308
    return {"default": worst, "over_budget": True, "violations": violations, **costs}


def is_over_budget(result: Any) -> bool:
    """A trial's final dict marks an architecture over budget (never to be ranked, exported or proposed again)."""
    return isinstance(result, dict) and bool(result.get("over_budget"))


def check_before_training(model: Any, input_shape: tuple[int, ...], settings: Any
                          ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """In a trial, before any training: (the over-budget final dict of ``model`` (a frozen network on the CPU) under
    the experiment's constraints, or None when it is within them; the costs measured). Parameters and FLOPs are
    counted always (cheap), the latency only under ``max_latency_ms``; ``budget_check_seconds`` records what the
    check cost. A trial within budget reports the ``latency_ms`` judged here, not a second measurement that noise
    could put over the limit."""
    import time

    from nni_nas.evaluation.metrics import cost_metrics

    constraints = settings.constraint_settings
    if not constraints.active:
        return None, {}
    start = time.perf_counter()
    costs = cost_metrics(model, input_shape, settings.train.latency_runs,
                         latency=constraints.max_latency_ms is not None)
    violations = constraints.violations(costs)
    if not violations:
        return None, costs
    mode = settings.optimize_mode
    result = over_budget_result(costs, violations, mode)
    result["budget_check_seconds"] = round(time.perf_counter() - start, 3)
    return result, costs
