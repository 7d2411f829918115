"""Regularised evolution (Real et al. 2019, Algorithm 1) and random search, driven through NNI's tuner API."""

from __future__ import annotations

import math
import statistics

import pytest

from nni_nas.arch import arch_key
from strategies.evolution import RegularizedEvolutionTuner
from strategies.random_search import RandomTuner

SPACE = {"space": "digits_cnn", "data": "digits"}


def synthetic_accuracy(arch: dict) -> float:
    """A deterministic objective with one best architecture: wide, deep, convolutions, gelu, skip."""
    score = {16: 0.0, 32: 0.5, 64: 1.0}[arch["width"]] + 0.25 * arch["depth"]
    score += sum(arch[f"op{i}"] == "conv5x5" for i in range(arch["depth"]))
    score += (arch["activation"] == "gelu") + (arch["skip"] == [1])
    return score / 8.0


def run_search(tuner, budget: int, objective=synthetic_accuracy) -> list[float]:
    values = []
    for parameter_id in range(budget):
        arch = tuner.generate_parameters(parameter_id)
        value = objective(arch)
        tuner.receive_trial_result(parameter_id, arch, {"default": value, "params": 1})
        tuner.trial_end(parameter_id, True)
        values.append(value)
    return values


def test_first_population_is_random_then_children_are_one_mutation_away():
    tuner = RegularizedEvolutionTuner(population_size=5, sample_size=2, seed=1, **SPACE)
    run_search(tuner, 5)
    population_keys = {arch_key(ind.arch) for ind in tuner.population}
    for parameter_id in range(5, 25):
        child = tuner.generate_parameters(parameter_id)
        parents = [ind.arch for ind in tuner.population]
        # the child differs from some population member in exactly one active label (or was replaced by a
        # random architecture after repeated duplicates, which the tuner logs; rare in this large space)
        distances = [sum(child[k] != p[k] for k in child if k in tuner.choices) for p in parents]
        assert min(distances) >= 1 and (min(distances) == 1 or arch_key(child) not in population_keys)
        tuner.receive_trial_result(parameter_id, child, synthetic_accuracy(child))
        population_keys = {arch_key(ind.arch) for ind in tuner.population}


def test_aging_removes_the_oldest_even_when_it_is_the_best():
    tuner = RegularizedEvolutionTuner(population_size=3, sample_size=2, seed=0, **SPACE)
    archs = [tuner.generate_parameters(i) for i in range(4)]
    for i, (arch, value) in enumerate(zip(archs, [0.99, 0.1, 0.2, 0.3])):
        tuner.receive_trial_result(i, arch, value)
    assert [ind.fitness for ind in tuner.population] == [0.1, 0.2, 0.3]
    assert len(tuner.history) == 4


def test_never_proposes_the_same_architecture_twice():
    tuner = RegularizedEvolutionTuner(population_size=4, sample_size=2, seed=3, **SPACE)
    run_search(tuner, 60)
    keys = [arch_key(ind.arch) for ind in tuner.history]
    assert len(set(keys)) == len(keys) == 60


def test_failed_and_nan_trials_count_as_worst_and_search_goes_on():
    tuner = RegularizedEvolutionTuner(population_size=3, sample_size=3, seed=0, **SPACE)
    a = tuner.generate_parameters(0)
    b = tuner.generate_parameters(1)
    c = tuner.generate_parameters(2)
    tuner.trial_end(0, False)  # crashed before reporting
    tuner.receive_trial_result(1, b, {"default": float("nan")})
    tuner.receive_trial_result(2, c, {"default": 0.5})
    tuner.trial_end(1, True)
    tuner.trial_end(2, True)
    fitness = {arch_key(ind.arch): ind.fitness for ind in tuner.population}
    assert fitness[arch_key(a)] == -math.inf and fitness[arch_key(b)] == -math.inf and fitness[arch_key(c)] == 0.5
    # the tournament over the whole population always picks the only good parent
    for parameter_id in range(3, 8):
        child = tuner.generate_parameters(parameter_id)
        assert sum(child[k] != c[k] for k in child) >= 1
        tuner.trial_end(parameter_id, False)
    assert len(tuner.history) == 8


def test_import_data_restores_state_for_resume():
    first = RegularizedEvolutionTuner(population_size=4, sample_size=2, seed=0, **SPACE)
    run_search(first, 6)
    exported = [{"parameter": ind.arch, "value": {"default": ind.fitness}} for ind in first.history]
    resumed = RegularizedEvolutionTuner(population_size=4, sample_size=2, seed=0, **SPACE)
    resumed.import_data(exported)
    assert [ind.fitness for ind in resumed.population] == [ind.fitness for ind in first.population]
    seen = {arch_key(ind.arch) for ind in first.history}
    new = [resumed.generate_parameters(100 + i) for i in range(10)]
    assert not seen & {arch_key(arch) for arch in new}  # continues, does not restart


def test_seeded_runs_repeat_exactly():
    one = run_search(RegularizedEvolutionTuner(population_size=4, sample_size=2, seed=7, **SPACE), 15)
    two = run_search(RegularizedEvolutionTuner(population_size=4, sample_size=2, seed=7, **SPACE), 15)
    assert one == two


def test_evolution_beats_random_on_a_synthetic_objective():
    budget, seeds = 60, range(6)
    evolution = [max(run_search(RegularizedEvolutionTuner(population_size=10, sample_size=4, seed=s, **SPACE),
                                budget)) for s in seeds]
    random_ = [max(run_search(RandomTuner(seed=s, **SPACE), budget)) for s in seeds]
    assert statistics.mean(evolution) > statistics.mean(random_) + 0.05


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="sample_size"):
        RegularizedEvolutionTuner(population_size=3, sample_size=5, **SPACE)
    with pytest.raises(KeyError, match="unknown space"):
        RandomTuner(space="nope").generate_parameters(0)  # the space is built on first use


def test_an_exhausted_space_ends_the_search_the_nni_way():
    from nni import NoMoreTrialError

    # 2 widths x 1 op x 1 activation x 1 depth x 2 skips = 4 distinct networks
    tuner = RandomTuner(space="digits_cnn", space_args={"widths": [16, 32], "min_depth": 1, "max_depth": 1,
                                                         "ops": ["conv3x3"], "activations": ["relu"]}, seed=0)
    archs = [tuner.generate_parameters(i) for i in range(4)]
    assert len({arch_key(a) for a in archs}) == 4
    with pytest.raises(NoMoreTrialError):
        tuner.generate_parameters(4)
