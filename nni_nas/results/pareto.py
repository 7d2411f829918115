"""Several objectives at once: Pareto dominance, NSGA-II's non-dominated sorting and crowding distance, and the
hypervolume of a front. The one implementation used by the tuner (:mod:`strategies.pareto_evolution`), the CLI
(``nni-nas top --pareto``, ``export --pareto``, ``report``) and the benchmark.

Deb, Pratap, Agarwal, Meyarivan, "A Fast and Elitist Multiobjective Genetic Algorithm: NSGA-II", IEEE Transactions on
Evolutionary Computation 6(2), 2002: section III-A (fast non-dominated sorting), III-B (crowding distance and the
crowded-comparison operator). Hypervolume (the area dominated by a front, bounded by a reference point): Zitzler &
Thiele, "Multiobjective Evolutionary Algorithms: A Comparative Case Study and the Strength Pareto Approach", 1999.

Every function here works on *costs*: tuples in which smaller is better in every position
(:meth:`Objective.cost` turns ``val_acc: max`` into ``-val_acc``). Pure Python, no torch and no NNI: NNI's
dispatcher imports it within its 10 s start-up.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from nni_nas.errors import ConfigError, did_you_mean

MODES = ("max", "min")
Cost = tuple[float, ...]


@dataclass(frozen=True)
class Objective:
    """One objective: a key of the trials' final result and whether to maximise (``max``) or minimise it."""

    metric: str
    mode: str

    def cost(self, value: float) -> float:
        """``value`` as a cost (smaller is better)."""
        return -value if self.mode == "max" else value

    def __str__(self) -> str:
        return f"{self.metric}:{self.mode}"


DEFAULT_OBJECTIVES = (Objective("val_acc", "max"), Objective("params", "min"))


def parse_objectives(spec: Any, what: str = "objectives") -> tuple[Objective, ...]:
    """Objectives from a config (``[{metric: val_acc, mode: max}, ...]``) or a command line
    (``val_acc:max,params:min``). At least two, each mode ``max`` or ``min``, no metric twice; which metric names
    exist is the caller's to check (:func:`check_metrics`). A bad value is one :class:`ConfigError`."""
    if isinstance(spec, str):
        items: list[Any] = [part.strip() for part in spec.split(",") if part.strip()]
    elif isinstance(spec, list | tuple):
        items = list(spec)
    else:
        raise ConfigError(f"{what} must be a list like [{{metric: val_acc, mode: max}}, {{metric: params, mode: "
                          f"min}}], got {spec!r}")
    objectives = [_objective(item, what) for item in items]
    if len(objectives) < 2:
        raise ConfigError(f"{what} needs at least 2 objectives (one objective is the single-objective evolution: "
                          f"metric and optimize_mode), got {len(objectives)}: {spec!r}")
    metrics = [o.metric for o in objectives]
    twice = sorted({m for m in metrics if metrics.count(m) > 1})
    if twice:
        raise ConfigError(f"{what} names {', '.join(twice)} more than once; give each metric once")
    return tuple(objectives)


def _objective(item: Any, what: str) -> Objective:
    example = "{metric: params, mode: min}" if not isinstance(item, str) else "params:min"
    if isinstance(item, str):
        metric, _, mode = item.partition(":")
    elif isinstance(item, dict):
        unknown = sorted(set(item) - {"metric", "mode"})
        if unknown:
            hint = did_you_mean(unknown[0], ["metric", "mode"])
            raise ConfigError(f"{what}: unknown key {unknown[0]!r} in {item!r}{hint}; each objective is {example}")
        metric, mode = item.get("metric"), item.get("mode")
    else:
        raise ConfigError(f"{what}: each objective is {example}, got {item!r}")
    if not isinstance(metric, str) or not metric.strip():
        raise ConfigError(f"{what}: an objective needs a metric name (a key of the trials' final result), got "
                          f"{item!r}; e.g. {example}")
    if mode not in MODES:
        raise ConfigError(f"{what}: mode of {metric!r} must be max or min, got {mode!r}"
                          f"{did_you_mean(str(mode), MODES)}")
    return Objective(metric.strip(), mode)


def check_metrics(objectives: Sequence[Objective], known: Iterable[str], what: str, where: str) -> None:
    """Raise :class:`ConfigError` for the first objective whose metric is not in ``known`` (did you mean ...)."""
    known = list(dict.fromkeys(known))
    for objective in objectives:
        if objective.metric not in known:
            hint = did_you_mean(objective.metric, known)
            raise ConfigError(f"{what}: {objective.metric!r} is not a key {where}{hint}; the keys: {', '.join(known)}")


def cost_of(result: Any, objectives: Sequence[Objective]) -> Cost | None:
    """The cost tuple of a trial's final result dict, or None when a metric is missing or not a finite number."""
    if not isinstance(result, dict):
        return None
    costs = []
    for objective in objectives:
        value = result.get(objective.metric)
        if isinstance(value, bool):
            return None
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        if not math.isfinite(number):
            return None
        costs.append(objective.cost(number))
    return tuple(costs)


# ------------------------------------------------------------------------------------------- NSGA-II
def dominates(a: Cost, b: Cost) -> bool:
    """``a`` Pareto-dominates ``b``: no worse in every cost and better in at least one."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def non_dominated_sort(costs: Sequence[Cost]) -> list[list[int]]:
    """NSGA-II's fast non-dominated sort (Deb et al. 2002, III-A): indices of ``costs`` in fronts F1, F2, ...; F1 is
    dominated by none, F2 only by members of F1, and so on. Equal costs share a front. O(M N^2)."""
    n = len(costs)
    dominated_by_me: list[list[int]] = [[] for _ in range(n)]  # S_p
    domination_count = [0] * n  # n_p
    for p in range(n):
        for q in range(p + 1, n):
            if dominates(costs[p], costs[q]):
                dominated_by_me[p].append(q)
                domination_count[q] += 1
            elif dominates(costs[q], costs[p]):
                dominated_by_me[q].append(p)
                domination_count[p] += 1
    fronts = [[p for p in range(n) if domination_count[p] == 0]]
    while fronts[-1]:
        following = []
        for p in fronts[-1]:
            for q in dominated_by_me[p]:
                domination_count[q] -= 1
                if domination_count[q] == 0:
                    following.append(q)
        fronts.append(sorted(following))
    return fronts[:-1]


def crowding_distance(costs: Sequence[Cost], front: Sequence[int]) -> dict[int, float]:
    """NSGA-II's crowding distance (III-B) of each index of one ``front``: per objective, the boundary points get
    infinity and the others the gap between their two neighbours, normalised by the objective's range; summed."""
    distance = {i: 0.0 for i in front}
    if len(front) <= 2:
        return {i: math.inf for i in front}
    for m in range(len(costs[front[0]])):
        ordered = sorted(front, key=lambda i: costs[i][m])
        low, high = costs[ordered[0]][m], costs[ordered[-1]][m]
        distance[ordered[0]] = distance[ordered[-1]] = math.inf
        if high == low:
            continue
        for before, here, after in zip(ordered, ordered[1:], ordered[2:]):
            distance[here] += (costs[after][m] - costs[before][m]) / (high - low)
    return distance


def rank_and_crowding(costs: Sequence[Cost]) -> tuple[list[int], list[float]]:
    """Each point's front number (0 = non-dominated) and its crowding distance within its front."""
    rank, crowd = [0] * len(costs), [0.0] * len(costs)
    for number, front in enumerate(non_dominated_sort(costs)):
        for i, distance in crowding_distance(costs, front).items():
            rank[i], crowd[i] = number, distance
    return rank, crowd


def crowded_order(rank: int, crowding: float) -> tuple[int, float]:
    """Sort key of NSGA-II's crowded-comparison operator: the lower front first, then the larger crowding
    distance (the less crowded region)."""
    return rank, -crowding


def pareto_indices(costs: Sequence[Cost]) -> list[int]:
    """Indices of the non-dominated points (the first front, as :func:`non_dominated_sort` gives it), ascending.

    In lexicographic order a point can only be dominated by one before it, and then by one of the front found so
    far, so each point is compared with the front only: O(N log N + N F) instead of O(N^2) (a whole benchmark
    table of 15,625 architectures in well under a second)."""
    front: list[int] = []
    for i in sorted(range(len(costs)), key=lambda i: costs[i]):
        if not any(dominates(costs[j], costs[i]) for j in front):
            front.append(i)
    return sorted(front)


# --------------------------------------------------------------------------------------------- hypervolume
def hypervolume(costs: Iterable[Cost], reference: Cost) -> float:
    """The volume that ``costs`` dominate, bounded by ``reference`` (a point worse than all of them in every cost);
    points not strictly better than the reference in every cost add nothing. Exact: a sweep in two dimensions,
    slicing along the last cost above (fine for fronts of hundreds of points)."""
    points = [tuple(p) for p in costs if all(x < r for x, r in zip(p, reference))]
    if not points:
        return 0.0
    if len(reference) == 1:
        return reference[0] - min(p[0] for p in points)
    if len(reference) == 2:
        area, best_second = 0.0, reference[1]
        for first, second in sorted(points):
            if second < best_second:
                area += (reference[0] - first) * (best_second - second)
                best_second = second
        return area
    volume, ordered = 0.0, sorted(points, key=lambda p: p[-1])
    for i, point in enumerate(ordered):
        top = ordered[i + 1][-1] if i + 1 < len(ordered) else reference[-1]
        if top > point[-1]:
            volume += (top - point[-1]) * hypervolume([p[:-1] for p in ordered[:i + 1]], reference[:-1])
    return volume
