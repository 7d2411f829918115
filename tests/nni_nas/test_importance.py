"""Which labels' choices matter: omega squared of a one-way ANOVA per label, on synthetic trials where one label
clearly decides the metric, another matters a little and the rest are noise."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from nni_nas.results.importance import importance_text, label_importance, omega_squared, save_importance_plot
from nni_nas.results.records import ExperimentRecord, TrialRecord


def record(trials: list[tuple[dict, float]], mode: str = "maximize") -> ExperimentRecord:
    rows = [TrialRecord(f"t{i}", i, "SUCCEEDED", arch, i, {"default": value}) for i, (arch, value) in
            enumerate(trials)]
    rows.append(TrialRecord("failed", len(rows), "FAILED", {"depth": 1, "width": 16}, None, None))
    return ExperimentRecord("exp", Path("."), {"tuner": {"classArgs": {"optimize_mode": mode}}}, rows)


def synthetic(seed: int = 0, count: int = 40) -> list[tuple[dict, float]]:
    rng = random.Random(seed)
    trials = []
    for _ in range(count):
        arch = {"depth": rng.choice([1, 2, 3]), "width": rng.choice([16, 32]), "op0": rng.choice(["a", "b", "c"]),
                "skip": rng.choice([[0], [1]])}
        if arch["depth"] >= 2:
            arch["op1"] = rng.choice(["a", "b"])  # op1 exists only in deeper networks (active labels only)
        value = 0.5 + 0.15 * arch["depth"] + 0.01 * (arch["width"] == 32) + rng.gauss(0, 0.01)
        trials.append((arch, value))
    return trials


def test_omega_squared_by_hand():
    # grand mean 3.5; SS_total 17.5, SS_between 13.5, MS_within 4 / 4 = 1 -> (13.5 - 1) / (17.5 + 1)
    assert omega_squared([[1, 2, 3], [4, 5, 6]]) == pytest.approx(12.5 / 18.5)
    assert omega_squared([[1, 2, 3], [1, 2, 3]]) == 0.0  # no effect: clipped at 0, not negative
    assert omega_squared([[0.5, 0.5], [0.5]]) == 0.0


def test_the_label_that_decides_the_metric_comes_first(tmp_path):
    importances = label_importance([record(synthetic())])
    by_label = {item.label: item for item in importances}
    assert importances[0].label == "depth" and by_label["depth"].omega_squared > 0.9
    assert all(by_label[label].omega_squared < 0.1 for label in ("op0", "skip", "op1"))
    assert by_label["width"].omega_squared < by_label["depth"].omega_squared
    assert by_label["op1"].trials == sum(1 for arch, _ in synthetic() if arch["depth"] >= 2)  # inactive: left out
    assert by_label["depth"].trials == 40  # the failed trial counts for nothing
    assert max(by_label["depth"].means, key=by_label["depth"].means.get) == "3"
    text = importance_text(importances)
    assert text.split(": ", 1)[1].startswith("depth 0.9") and "(best 3: 0.9" in text
    path, _ = save_importance_plot([record(synthetic())], tmp_path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_minimised_metric_names_the_lowest_mean_best():
    trials = [({"depth": d}, 10.0 * d + i) for d in (1, 2) for i in range(3)]
    [item] = label_importance([record(trials, "minimize")])
    # grand mean 16; SS_between 150, SS_within 4 (MS 1), SS_total 154 -> (150 - 1) / (154 + 1)
    assert item.omega_squared == pytest.approx(149 / 155)
    assert importance_text([item], maximize=False).endswith("depth 0.96 (best 1: 11)")
    assert label_importance([record(trials[:3])]) == []  # one value only: nothing to compare
