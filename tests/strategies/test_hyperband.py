"""Hyperband over epochs (Li et al., JMLR 2018, Algorithm 1) driven through NNI's tuner API: the brackets of the
paper's table, the epochs each trial is given, the promotion of the best 1/eta of a complete rung (never the worst,
never a failure), and the check's refusals."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from nni_nas.arch import EPOCHS_KEY, RUNG_KEY, arch_key, split_fidelity
from nni_nas.errors import ConfigError
from strategies.hyperband import HyperbandTuner, bracket_plan, brackets_of

NB201 = {"space": "nasbench201", "space_args": {"channels": 4, "cells_per_stage": 1}}  # 5**6 architectures


def score(arch: dict, epochs: int) -> float:
    """A distinct, arch-determined accuracy per architecture that grows with the epochs (ranks kept per rung)."""
    base = (int(arch_key(arch).encode().hex(), 16) % 100_003) / 100_003
    return base * (1 - 0.5 ** epochs)


def test_the_brackets_are_the_papers_table():
    """Li et al. 2018, Algorithm 1 at R = 9, eta = 3: s = 2: 9 x 1, 3 x 3, 1 x 9; s = 1: 5 x 3, 1 x 9; s = 0: 3 x 9."""
    assert brackets_of(9, 1, 3) == 2
    assert bracket_plan(9, 1, 3, 2) == [(9, 1), (3, 3), (1, 9)]
    assert bracket_plan(9, 1, 3, 1) == [(5, 3), (1, 9)]
    assert bracket_plan(9, 1, 3, 0) == [(3, 9)]
    assert brackets_of(81, 1, 3) == 4 and bracket_plan(81, 1, 3, 4) == [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)]
    assert brackets_of(8, 1, 3) == 1 and bracket_plan(8, 1, 3, 1)[-1] == (1, 8)  # the last rung is always R


def drive(tuner: HyperbandTuner, budget: int, fail=lambda arch, epochs: False, first: int = 0) -> list[dict]:
    """Ask for trials ``first`` .. ``budget - 1`` one at a time (trialConcurrency 1), answer each with :func:`score`."""
    trials = []
    for parameter_id in range(first, budget):
        params = tuner.generate_parameters(parameter_id)
        arch, _ = split_fidelity(params)
        epochs = params[EPOCHS_KEY]
        if fail(arch, epochs):
            tuner.trial_end(parameter_id, False)
            value = None
        else:
            value = score(arch, epochs)
            tuner.receive_trial_result(parameter_id, params, {"default": value, "epochs": epochs})
            tuner.trial_end(parameter_id, True)
        trials.append({"arch": arch, "epochs": epochs, "rung": params[RUNG_KEY], "value": value})
    return trials


def test_each_rung_promotes_the_best_third_of_the_rung_before():
    tuner = HyperbandTuner(train={"epochs": 9}, seed=0, **NB201)
    trials = drive(tuner, 9 + 3 + 1 + 5 + 1 + 3)  # the three brackets of R = 9
    assert [(t["epochs"], t["rung"]) for t in trials] == [(1, 0)] * 9 + [(3, 1)] * 3 + [(9, 2)] + \
        [(3, 0)] * 5 + [(9, 1)] + [(9, 0)] * 3
    rung0, rung1, rung2 = trials[:9], trials[9:12], trials[12]
    best3 = sorted(rung0, key=lambda t: -t["value"])[:3]
    assert [arch_key(t["arch"]) for t in rung1] == [arch_key(t["arch"]) for t in best3]  # best first
    assert arch_key(rung2["arch"]) == arch_key(max(rung1, key=lambda t: t["value"])["arch"])
    second = trials[13:19]
    assert arch_key(second[5]["arch"]) == arch_key(max(second[:5], key=lambda t: t["value"])["arch"])
    new = [arch_key(t["arch"]) for t in trials if t["rung"] == 0]
    assert len(set(new)) == len(new) == 17  # rung 0 never draws an architecture evaluated before


def test_a_failed_trial_is_never_promoted():
    """7 of rung 0's 9 trials fail: the best third would be 3, but only the 2 with a result go on; their rung of 2
    keeps floor(2 / 3) = 0, so the bracket ends there and the next bracket starts."""
    probe = drive(HyperbandTuner(train={"epochs": 9}, seed=1, **NB201), 9)
    survivors = {arch_key(t["arch"]) for t in sorted(probe, key=lambda t: t["value"])[:2]}  # the two worst succeed
    tuner = HyperbandTuner(train={"epochs": 9}, seed=1, **NB201)
    trials = drive(tuner, 12, fail=lambda arch, epochs: epochs == 1 and arch_key(arch) not in survivors)
    assert [t["value"] is None for t in trials[:9]].count(True) == 7
    assert {arch_key(t["arch"]) for t in trials[9:11]} == survivors and trials[9]["rung"] == trials[10]["rung"] == 1
    assert (trials[11]["epochs"], trials[11]["rung"]) == (3, 0)  # bracket s = 1
    assert [ind.fitness for ind in tuner.history].count(-math.inf) == 7


def test_successive_halving_repeats_the_most_exploratory_bracket():
    tuner = HyperbandTuner(train={"epochs": 4}, min_epochs=2, eta=2, successive_halving=True, seed=0, **NB201)
    trials = drive(tuner, 2 * (2 + 1))  # s_max = 1: n = ceil(2 * 2 / 2) = 2 at 2 epochs, 1 at 4; twice
    assert [(t["epochs"], t["rung"]) for t in trials] == [(2, 0), (2, 0), (4, 1)] * 2


def test_with_several_trials_running_a_waiting_rung_lets_the_next_bracket_start():
    tuner = HyperbandTuner(train={"epochs": 9}, seed=0, **NB201)
    first = [tuner.generate_parameters(i) for i in range(11)]  # NNI asks for 11 before any result
    assert [p[EPOCHS_KEY] for p in first] == [1] * 9 + [3, 3]  # bracket s=2's rung 0, then bracket s=1's
    for parameter_id, params in enumerate(first[:9]):
        tuner.receive_trial_result(parameter_id, params, {"default": score(split_fidelity(params)[0], 1)})
    assert tuner.generate_parameters(11)[EPOCHS_KEY] == 3 and tuner.generate_parameters(11)[RUNG_KEY] == 1


@pytest.mark.parametrize("args, expected", [
    ({"train": {"epochs": 2}}, "train.epochs: 2 is less than min_epochs * eta = 1 * 3"),
    ({"train": {"epochs": 9}, "eta": 1}, "tuner.classArgs.eta: must be an integer from 2 to 100"),
    ({"train": {"epochs": 9}, "min_epochs": 0}, "tuner.classArgs.min_epochs: must be an integer from 1"),
    ({"train": {"epochs": 9}, "evaluator": {"kind": "benchmark", "table": "x.csv"}}, "a benchmark evaluator"),
])
def test_settings_it_cannot_run_with_are_named(args, expected):
    with pytest.raises(ConfigError, match=expected.replace("*", r"\*")):
        HyperbandTuner(**NB201, **args)


def test_a_budget_short_of_the_first_bracket_is_refused():
    tuner = HyperbandTuner(train={"epochs": 9}, **NB201)
    assert "less than the 13 trials of hyperband's first bracket (9 x 1 epochs, 3 x 3 epochs, 1 x 9 epochs)" in \
        tuner.budget_problem(12)
    assert tuner.budget_problem(13) is None


def test_only_the_full_fidelity_trials_are_ranked(tmp_path):
    """A rung-0 trial (1 epoch of 9) is not ranked beside the trials trained for train.epochs, whatever its value."""
    from nni_nas.results.records import load_experiment
    from tests.nni_nas.nni_records import FakeTrial, class_args, make_experiment

    args = {**class_args(), "train": {"epochs": 9, "seed": 0}}
    trials = [FakeTrial("low", final={"default": 0.99, "epochs": 1, "rung": 0}, save_weights=False),
              FakeTrial("full", final={"default": 0.9, "epochs": 9, "rung": 2}, save_weights=False),
              FakeTrial("plain", final={"default": 0.8}, save_weights=False)]
    make_experiment(tmp_path, "hb", trials, args, tuner="strategies.hyperband.HyperbandTuner")
    assert [t.trial_id for t in load_experiment("hb", tmp_path).ranked()] == ["full", "plain"]


def resumed(budget: int, cut: int, **args) -> tuple[list[dict], list[dict]]:
    """The trials of one uninterrupted search of ``budget`` trials, and those of the same search stopped after
    ``cut`` trials and resumed by a new tuner (NNI sends the finished trials to ``import_data``)."""
    whole = drive(HyperbandTuner(**args), budget)
    before = drive(HyperbandTuner(**args), cut)
    tuner = HyperbandTuner(**args)
    tuner.import_data([{"parameter": {**t["arch"], EPOCHS_KEY: t["epochs"], RUNG_KEY: t["rung"]},
                        "value": {"default": t["value"], "epochs": t["epochs"]}} for t in before])
    return whole, before + drive(tuner, budget, first=cut)


@pytest.mark.parametrize("cut", range(1, 22))
def test_a_search_resumed_after_any_trial_goes_on_as_if_never_stopped(cut):
    """R = 9, eta = 3: the three brackets (9 + 3 + 1, 5 + 1, 3 trials) and the next bracket's first rung, stopped
    after any trial: the resumed tuner finishes each bracket where it stood (the rest of rung 0, the promotions of a
    complete rung not yet handed out) and hands out the same trials, in the same order, as the search never stopped
    (its random draws repeat the first search's, and the architectures already evaluated are skipped)."""
    whole, again = resumed(23, cut, train={"epochs": 9}, seed=2, **NB201)
    assert [(arch_key(t["arch"]), t["epochs"], t["rung"]) for t in again] == \
        [(arch_key(t["arch"]), t["epochs"], t["rung"]) for t in whole]


def stopped_mid_rung(tmp_path, monkeypatch) -> tuple[HyperbandTuner, list[dict], list[dict], Path]:
    """A search (R = 9, eta = 3) whose NNI records hold the first bracket's rung 0 (9 trials) with 7 results, one trial
    RUNNING when the manager stopped (NNI runs it again itself, under its parameter id 7) and one interrupted (its
    manager was lost), and a tuner resumed from them; also the trials of the same search never stopped, the
    parameters handed out, and the experiment folder."""
    from tests.nni_nas.nni_records import FakeTrial, class_args, make_experiment

    args = {"train": {"epochs": 9}, "seed": 4, **NB201}
    whole = drive(HyperbandTuner(**args), 12)
    params = [{**t["arch"], EPOCHS_KEY: t["epochs"], RUNG_KEY: t["rung"]} for t in whole]
    status = ["SUCCEEDED"] * 7 + ["RUNNING", "FAILED"]
    trials = [FakeTrial(f"t{i}", status=status[i], arch=params[i], save_weights=False,
                        final={"default": whole[i]["value"]} if status[i] == "SUCCEEDED" else None) for i in range(9)]
    folder = make_experiment(tmp_path / "nni-experiments", "hb", trials, class_args("nasbench201", NB201["space_args"]),
                             tuner="strategies.hyperband.HyperbandTuner")
    (folder / "environments" / "local-env" / "trials" / "t8" / "error.txt").write_text(
        "interrupted: this trial lost its NNI manager (localhost:8080 does not answer ...)\n")
    monkeypatch.setenv("NNI_LOG_DIRECTORY", str(folder / "log"))
    tuner = HyperbandTuner(**args)
    tuner.import_data([{"parameter": params[i], "value": {"default": whole[i]["value"]}} for i in range(7)])
    return tuner, whole, params, folder


def test_on_resume_a_rung_waits_for_the_trial_nni_runs_again_and_reruns_an_interrupted_one(tmp_path, monkeypatch):
    """The resumed tuner hands the interrupted architecture out again at rung 0, opens the next bracket while the
    rung waits for the trial NNI runs again, and when that trial's result comes (NNI's dispatcher hands it to
    import_data, not to receive_trial_result) promotes the best 3 of all 9, as the search never stopped would have."""
    tuner, whole, params, _ = stopped_mid_rung(tmp_path, monkeypatch)
    again = tuner.generate_parameters(100)
    assert (again[EPOCHS_KEY], again[RUNG_KEY]) == (1, 0) and split_fidelity(again)[0] == whole[8]["arch"]
    tuner.receive_trial_result(100, again, {"default": whole[8]["value"]})
    waiting = tuner.generate_parameters(101)  # rung 0 waits for trial 7: the next bracket's rung 0 meanwhile
    assert (waiting[EPOCHS_KEY], waiting[RUNG_KEY]) == (3, 0)
    tuner.import_data([{"parameter": params[7], "value": {"default": whole[7]["value"]}}])  # trial 7 reports
    promoted = [tuner.generate_parameters(102 + i) for i in range(3)]
    assert [(p[EPOCHS_KEY], p[RUNG_KEY]) for p in promoted] == [(3, 1)] * 3
    assert [split_fidelity(p)[0] for p in promoted] == [t["arch"] for t in whole[9:12]]  # the best 3, best first
    assert whole[7]["arch"] in [ind.arch for ind in tuner.history]


def test_a_trial_nni_runs_again_that_fails_does_not_hold_its_rung_for_ever(tmp_path, monkeypatch):
    """NNI's dispatcher drops the end of a trial it runs again: when the records say it FAILED, the next request
    counts it as the worst result, and the rung's best 3 of the other 8 go on."""
    import sqlite3

    tuner, whole, _, folder = stopped_mid_rung(tmp_path, monkeypatch)
    again = tuner.generate_parameters(100)
    tuner.receive_trial_result(100, again, {"default": whole[8]["value"]})
    with sqlite3.connect(folder / "db" / "nni.sqlite") as conn:
        conn.execute("INSERT INTO TrialJobEvent VALUES (?, 't7', 'FAILED', NULL, ?, 7, NULL, 'local-env')",
                     (1_796_000_000_000, str(folder / "environments" / "local-env" / "trials" / "t7")))
    promoted = [tuner.generate_parameters(101 + i) for i in range(3)]
    assert [(p[EPOCHS_KEY], p[RUNG_KEY]) for p in promoted] == [(3, 1)] * 3
    best = sorted((t for i, t in enumerate(whole[:9]) if i != 7), key=lambda t: -t["value"])[:3]
    assert [split_fidelity(p)[0] for p in promoted] == [t["arch"] for t in best]
