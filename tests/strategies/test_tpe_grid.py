"""NNI parity: TPE (NNI 3.0's TpeTuner over the space's labels) and grid search, driven through NNI's tuner API."""

from __future__ import annotations

import itertools
import statistics

import pytest
from nni import NoMoreTrialError
from scipy.stats import binom

from nni_nas.arch import arch_key, count_networks, validate_arch
from nni_nas.errors import ConfigError
from strategies.grid_search import GridTuner
from strategies.tpe import TpeTuner

NB201 = {"space": "nasbench201", "space_args": {"channels": 4, "cells_per_stage": 1}}  # 6 labels x 5 values
# 2 widths x 2 skips x (depth 1: 2 ops + depth 2: 4 ops) = 24 networks in 32 dicts (op1 unused at depth 1)
SMALL_DIGITS = {"space": "digits_cnn", "data": "digits",
                "space_args": {"widths": [16, 32], "max_depth": 2, "ops": ["conv3x3", "conv5x5"],
                               "activations": ["relu"]}}


def run(tuner, budget: int, objective) -> list[dict]:
    archs = []
    for parameter_id in range(budget):
        arch = tuner.generate_parameters(parameter_id)
        tuner.receive_trial_result(parameter_id, arch, {"default": objective(arch)})
        tuner.trial_end(parameter_id, True)
        archs.append(arch)
    return archs


# ------------------------------------------------------------------------------------------------------- TPE
def test_tpe_proposes_valid_distinct_architectures_with_twins_in_the_space():
    tuner = TpeTuner(space="digits_cnn", data="digits", n_startup_jobs=5, seed=0)
    archs = run(tuner, 40, lambda arch: arch["width"] / 64 + 0.1 * arch["depth"])
    keys = [arch_key(tuner.canonical(arch)) for arch in archs]
    assert len(set(keys)) == 40
    for arch in archs:
        assert tuner.canonical(arch) == arch and validate_arch(tuner.choices, arch) == arch


def test_tpe_learns_a_separable_score():
    """Score = how many of NB201's 6 edges hold the target op (1 in 5 values each). Random architectures average
    1.2; TPE's proposals 51-100 (after its 20 random ones and 30 of its own) must average at least 2.5, in each of two
    seeds. Random search passes one seed with probability P(Binomial(300, 0.2) >= 125) = 1.0e-17 (50 proposals x 6
    edges; without replacement it is even less likely)."""
    threshold_matches = 125  # = 2.5 * 50
    assert binom.sf(threshold_matches - 1, 300, 0.2) < 1e-16
    for seed in (0, 1):
        tuner = TpeTuner(seed=seed, **NB201)
        target = {label: values[2] for label, values in tuner.choices.items()}

        def matches(arch: dict, target: dict = target) -> int:
            return sum(arch[label] == target[label] for label in arch)

        scores = [matches(arch) for arch in run(tuner, 100, lambda arch: float(matches(arch)))]
        assert statistics.mean(scores[:20]) < 2.5  # its random start is random
        assert sum(scores[50:]) >= threshold_matches, scores


def test_tpe_resumes_from_nni_records():
    first = TpeTuner(seed=0, n_startup_jobs=5, **NB201)
    target = {label: values[3] for label, values in first.choices.items()}

    def score(arch):
        return float(sum(arch[k] == target[k] for k in arch))

    done = run(first, 30, score)
    resumed = TpeTuner(seed=0, n_startup_jobs=5, **NB201)
    resumed.import_data([{"parameter": arch, "value": {"default": score(arch)}} for arch in done])
    assert sum(len(records) for records in resumed.tpe._history.values()) == 30 * 6  # TPE learnt every trial
    new = run(resumed, 20, score)
    assert not {arch_key(a) for a in done} & {arch_key(a) for a in new}
    assert statistics.mean(score(a) for a in new) > 2.5  # it goes on from what it learnt


def test_tpe_settings_are_checked_all_at_once():
    with pytest.raises(ConfigError) as caught:
        TpeTuner(space="digits_cnn", n_startup_jobs=0, gamma=2, constant_liar_type="median", prior_weight=0)
    assert caught.value.problems == [
        "tuner.classArgs.constant_liar_type: must be best, worst, mean or null, got 'median'",
        "tuner.classArgs.n_startup_jobs: must be an integer from 1 to 1,000,000, got 0",
        "tuner.classArgs.prior_weight: must be a number > 0 (with 0 an unseen value has probability 0 and TPE "
        "divides by zero), got 0",
        "tuner.classArgs.gamma: must be a number in (0, 1], got 2",
    ]
    assert TpeTuner(space="digits_cnn").budget_problem(20).startswith("tuner.classArgs.n_startup_jobs: 20 >=")
    assert TpeTuner(space="digits_cnn", constant_liar_type=None).budget_problem(21) is None


# ------------------------------------------------------------------------------------------------------ grid
def test_grid_hands_out_every_network_exactly_once_then_ends():
    tuner = GridTuner(seed=0, **SMALL_DIGITS)
    archs = []
    with pytest.raises(NoMoreTrialError, match="all 32 architectures"):
        for parameter_id in itertools.count():
            archs.append(tuner.generate_parameters(parameter_id))
            tuner.receive_trial_result(parameter_id, archs[-1], {"default": 0.5})
    assert len(archs) == count_networks(tuner.space, tuner.choices) == 24
    assert len({arch_key(tuner.canonical(arch)) for arch in archs}) == 24
    # every dict of the space is one of them, up to its inactive labels
    labels = list(tuner.choices)
    every = {arch_key(tuner.canonical(dict(zip(labels, values))))
             for values in itertools.product(*tuner.choices.values())}
    assert every == {arch_key(arch) for arch in archs}
    # a fixed order: the seed changes nothing
    other = GridTuner(seed=7, **SMALL_DIGITS)
    assert [other.generate_parameters(i) for i in range(24)] == archs


def test_grid_resumes_where_it_stopped():
    first = GridTuner(**SMALL_DIGITS)
    done = run(first, 10, lambda arch: 0.5)
    resumed = GridTuner(**SMALL_DIGITS)
    resumed.import_data([{"parameter": arch, "value": {"default": 0.5}} for arch in done])
    rest = run(resumed, 14, lambda arch: 0.5)
    whole = run(GridTuner(**SMALL_DIGITS), 24, lambda arch: 0.5)
    assert done + rest == whole
    with pytest.raises(NoMoreTrialError):
        resumed.generate_parameters(99)


def test_grid_refuses_a_space_above_max_size_in_one_line(tmp_path):
    tuner = GridTuner(max_size=31, **SMALL_DIGITS)
    problem = tuner.search_problem(tuner.space)
    assert problem == ("tuner.classArgs.max_size: space 'digits_cnn' has 32 architectures (label-value "
                       "combinations), more than max_size 31: grid search cannot enumerate it; use a smaller space "
                       "(space_args), another strategy (random, evolution, local_search), or raise max_size")
    with pytest.raises(ConfigError) as caught:  # NNI's dispatcher starts the tuner without `check`
        tuner.generate_parameters(0)
    assert str(caught.value) == problem
    assert GridTuner(max_size=32, **SMALL_DIGITS).search_problem(tuner.space) is None
    # the default space of digits_cnn (93,312) fits the default max_size; darts's does not
    assert GridTuner(space="digits_cnn").generate_parameters(0)
    with pytest.raises(ConfigError, match=r"has [\d,]+ architectures .* more than max_size 100,000"):
        GridTuner(space="darts").generate_parameters(0)
    with pytest.raises(ConfigError, match="max_size: must be an integer from 1 to"):
        GridTuner(space="digits_cnn", max_size=0)


def test_check_names_a_grid_too_large(tmp_path):
    from pathlib import Path

    import yaml

    from nni_nas.checks import check_config

    repo = Path(__file__).resolve().parents[2]
    raw = yaml.safe_load((repo / "configs" / "digits_grid.yml").read_text())
    raw["tuner"]["classArgs"]["max_size"] = 20
    raw["trialCommand"] = "python -m nni_nas.trial --config grid.yml"
    (tmp_path / "grid.yml").write_text(yaml.safe_dump(raw))
    assert check_config(tmp_path / "grid.yml") == [
        "tuner.classArgs.max_size: space 'digits_cnn' has 32 architectures (label-value combinations), more than "
        "max_size 20: grid search cannot enumerate it; use a smaller space (space_args), another strategy (random, "
        "evolution, local_search), or raise max_size"]
