"""Which labels' choices matter most for the metric: a main-effect variance decomposition of the finished trials.

For each label, the succeeded trials are grouped by the label's value and a one-way analysis of variance splits the
metric's spread into the part between the groups' means and the part within the groups. A label's importance is
Hays's omega squared, the share of the metric's variance its main effect explains, corrected for how many values
it has (with few trials, a label of many values would otherwise look important by chance)::

    omega^2 = (SS_between - (k - 1) * MS_within) / (SS_total + MS_within),   clipped to [0, 1]

(W. L. Hays, *Statistics for Psychologists*, 1963; k values, MS_within = SS_within / (n - k)). This is the
first-order term of the functional ANOVA that fANOVA computes (Hutter, Hoos & Leyton-Brown, "An Efficient Approach
for Assessing Hyperparameter Importance", ICML 2014; Optuna's ``FanovaImportanceEvaluator``), estimated from the
trials themselves instead of from a random-forest surrogate, which needs far more trials than a NAS run has.
Interactions are not separated; the spread of the value means is printed beside each label.

Each label is taken alone. A search does not draw its labels independently (evolution's children share their
parents' choices), so what two labels explain overlaps and the values need not add up to 1 (measured: 0.89 + 0.51
+ ... on one API search): they are each label's own effect, not shares of one whole, and are printed as such.

A trial whose architecture leaves a label out (a layer beyond its depth: see
:func:`nni_nas.arch.active_arch`) does not count for that label. Imports no numpy: the numbers are few.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from nni_nas.results.records import ExperimentRecord

IMPORTANCE_FILE = "label_importance.png"
MIN_TRIALS = 4  # fewer trials with a label cannot separate its effect from noise


@dataclass
class LabelImportance:
    """One label's main effect on the metric."""

    label: str
    omega_squared: float  # share of the metric's variance explained, corrected for the number of values
    trials: int
    means: dict[str, float]  # value (as JSON) -> mean metric of the trials with that value
    counts: dict[str, int]

    @property
    def spread(self) -> float:
        """Best minus worst value mean."""
        return max(self.means.values()) - min(self.means.values())


def omega_squared(groups: list[list[float]]) -> float:
    """Hays's omega squared of a one-way ANOVA of ``groups`` (each a list of metric values), clipped to [0, 1]."""
    values = [v for group in groups for v in group]
    n, k = len(values), len(groups)
    if k < 2 or n <= k:
        return math.nan
    grand = sum(values) / n
    ss_total = sum((v - grand) ** 2 for v in values)
    ss_between = sum(len(g) * (sum(g) / len(g) - grand) ** 2 for g in groups)
    ms_within = (ss_total - ss_between) / (n - k)
    if ss_total + ms_within <= 0:
        return 0.0  # every trial scored the same: nothing to explain
    return min(1.0, max(0.0, (ss_between - (k - 1) * ms_within) / (ss_total + ms_within)))


def label_importance(records: list[ExperimentRecord], metric: str = "default") -> list[LabelImportance]:
    """Every label's importance over the succeeded trials of ``records``, most important first (labels seen with one
    value only, or in fewer than :data:`MIN_TRIALS` trials, are left out)."""
    samples: list[tuple[dict, float]] = []
    for record in records:
        for trial in record.succeeded():
            value, arch = trial.metric(metric), trial.arch
            if not math.isnan(value) and isinstance(arch, dict):
                samples.append((arch, value))
    labels = list(dict.fromkeys(label for arch, _ in samples for label in arch))
    result = []
    for label in labels:
        groups: dict[str, list[float]] = {}
        for arch, value in samples:
            if label in arch:
                groups.setdefault(json.dumps(arch[label], sort_keys=True), []).append(value)
        trials = sum(len(g) for g in groups.values())
        omega = omega_squared(list(groups.values()))
        if trials >= MIN_TRIALS and not math.isnan(omega):
            result.append(LabelImportance(label, omega, trials, {v: sum(g) / len(g) for v, g in groups.items()},
                                          {v: len(g) for v, g in groups.items()}))
    return sorted(result, key=lambda r: (-r.omega_squared, -r.spread, r.label))


def importance_text(importances: list[LabelImportance], maximize: bool = True, limit: int = 8) -> str:
    """``label importance (...): depth 0.61 (best 3: 0.97), ...`` for the terminal."""
    if not importances:
        return "label importance: too few succeeded trials with varied choices to tell"
    parts = []
    for item in importances[:limit]:
        best = (max if maximize else min)(item.means, key=item.means.get)
        parts.append(f"{item.label} {item.omega_squared:.2f} (best {best}: {item.means[best]:.4g})")
    return ("label importance (the metric's variance each label's choice explains taken alone, omega squared; "
            "labels the search drew together overlap, so the values do not add up to 1): " + ", ".join(parts))


def save_importance_plot(records: list[ExperimentRecord], out: Path, metric: str = "default",
                         label: str = "validation accuracy") -> tuple[Path | None, list[LabelImportance]]:
    """Write :data:`IMPORTANCE_FILE` into ``out`` (a horizontal bar per label, the value means beside it); None
    when no label can be judged."""
    importances = label_importance(records, metric)
    if not importances:
        return None, importances
    from matplotlib.figure import Figure

    maximize = records[0].optimize_mode == "maximize"
    shown = importances[:20][::-1]
    figure = Figure(figsize=(8, 1.2 + 0.42 * len(shown)), layout="constrained")
    axes = figure.subplots()
    axes.barh([item.label for item in shown], [item.omega_squared for item in shown], color="C0")
    for row, item in enumerate(shown):
        best = (max if maximize else min)(item.means, key=item.means.get)
        axes.text(item.omega_squared + 0.01, row, f"best {best}: {item.means[best]:.4g}, spread "
                  f"{item.spread:.3g} over {len(item.means)} values, {item.trials} trials", va="center", fontsize=8)
    axes.set_xlim(0, 1.45)
    axes.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    axes.set_xlabel(f"variance of {label} the label's choice explains taken alone (omega squared; labels overlap)")
    trials = sum(len(r.succeeded()) for r in records)
    axes.set_title(f"Which choices matter: main effects over {trials} succeeded trials")
    axes.grid(axis="x", alpha=0.3)
    out.mkdir(parents=True, exist_ok=True)
    path = out / IMPORTANCE_FILE
    partial = path.with_name(f".{path.name}.partial.png")
    figure.savefig(partial, dpi=120)
    partial.replace(path)
    return path, importances
