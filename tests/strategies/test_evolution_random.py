"""Regularised evolution (Real et al. 2019, Algorithm 1) and random search, driven through NNI's tuner API.

The rules of Algorithm 1 are checked by watching the tuner from outside: ``tuner.rng.sample`` (the tournament's
uniform draw), ``tuner.mutate`` (which parent, which child) and ``tuner.population`` (the aging queue)."""

from __future__ import annotations

import itertools
import json
import math
import random
import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Any, NamedTuple

import pytest
from scipy.stats import chisquare

from nni_nas.arch import arch_key, canonical
from strategies.base import Individual
from strategies.evolution import RegularizedEvolutionTuner
from strategies.random_search import RandomTuner

SPACE = {"space": "digits_cnn", "data": "digits"}
# Depth fixed at 3: no label is ever inactive, so the canonical form is the architecture itself and a Hamming
# distance on proposals is the distance the tuner's mutation made.
FIXED_DEPTH = {"space": "digits_cnn", "space_args": {"min_depth": 3, "max_depth": 3}, "data": "digits"}


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


class Call(NamedTuple):
    """One recorded call: its positional arguments and what it returned."""

    args: tuple
    result: Any


def record_calls(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[Call]:
    """Wrap ``owner.name`` so that every call's arguments and result are appended to the returned list."""
    calls: list[Call] = []
    original = getattr(owner, name)

    def recording(*args: Any) -> Any:
        result = original(*args)
        calls.append(Call(args, result))
        return result

    monkeypatch.setattr(owner, name, recording)
    return calls


def hamming(one: dict, other: dict) -> int:
    """How many labels two architectures of the same space disagree on."""
    assert one.keys() == other.keys()
    return sum(one[label] != other[label] for label in one)


@dataclass
class Generation:
    """What one ``generate_parameters`` call of an evolution tuner did, as seen from outside."""

    population: list[Individual]  # the population when the proposal was asked for, oldest first
    tournaments: list[tuple[list[Individual], int, list[Individual]]]  # rng.sample calls: (population, k, drawn)
    mutations: list[tuple[dict, dict]]  # mutate calls: (parent arch, child arch)
    child: dict


def observe_evolution(monkeypatch: pytest.MonkeyPatch, tuner: RegularizedEvolutionTuner, budget: int,
                      seed: int = 0) -> list[Generation]:
    """Run ``budget`` sequential trials with distinct random fitnesses, recording each proposal's tournament
    (``tuner.rng.sample``) and mutation (``tuner.mutate``)."""
    samples = record_calls(monkeypatch, tuner.rng, "sample")
    mutations = record_calls(monkeypatch, tuner, "mutate")
    fitness = random.Random(seed)
    generations = []
    for parameter_id in range(budget):
        population = list(tuner.population)
        samples.clear()
        mutations.clear()
        child = tuner.generate_parameters(parameter_id)
        tournaments = [(list(call.args[0]), call.args[1], call.result) for call in samples]
        generations.append(Generation(population, tournaments, [(call.args[0], call.result) for call in mutations],
                                      child))
        tuner.receive_trial_result(parameter_id, child, fitness.random())
        tuner.trial_end(parameter_id, True)
    return generations


def test_no_mutation_before_the_population_is_full_counting_running_trials(monkeypatch):
    # Algorithm 1 starts from population_size random models; trials still running count towards it.
    tuner = RegularizedEvolutionTuner(population_size=5, sample_size=2, seed=1, **FIXED_DEPTH)
    mutations = record_calls(monkeypatch, tuner, "mutate")
    randoms = record_calls(monkeypatch, tuner, "random_arch")
    first = [tuner.generate_parameters(i) for i in range(3)]
    for parameter_id in (0, 1):
        tuner.receive_trial_result(parameter_id, first[parameter_id], 0.5 + 0.1 * parameter_id)
    first += [tuner.generate_parameters(i) for i in (3, 4)]  # population 2 + pending 3: full after these
    assert mutations == []
    assert all(arch in [call.result for call in randoms] for arch in first)  # each a fresh random architecture
    child = tuner.generate_parameters(5)  # population 2 + pending 3 = population_size: evolution starts
    assert mutations and child == mutations[-1].result
    assert mutations[-1].args[0] in [ind.arch for ind in tuner.population]


def test_parent_is_the_fittest_of_a_uniform_sample_of_sample_size(monkeypatch):
    tuner = RegularizedEvolutionTuner(population_size=8, sample_size=3, seed=2, **FIXED_DEPTH)
    generations = observe_evolution(monkeypatch, tuner, 8 + 40)
    assert all(not g.tournaments for g in generations[:8])
    for generation in generations[8:]:
        assert generation.tournaments, "every child after the first population comes from a tournament"
        assert len(generation.tournaments) == len(generation.mutations)  # one tournament per mutation
        for (pool, k, drawn), (parent, _) in zip(generation.tournaments, generation.mutations):
            assert pool == generation.population and k == 3  # drawn from the whole population, S of them
            assert parent == max(drawn, key=lambda ind: ind.fitness).arch


def test_a_child_is_its_tournament_parent_with_exactly_one_label_changed(monkeypatch):
    tuner = RegularizedEvolutionTuner(population_size=6, sample_size=2, seed=4, **FIXED_DEPTH)
    generations = observe_evolution(monkeypatch, tuner, 6 + 40)
    mutable = {label for label, values in tuner.choices.items() if len(values) > 1}
    changed_labels = set()
    for generation in generations[6:]:
        assert generation.mutations and generation.tournaments
        for parent, child in generation.mutations:  # every mutation, also those re-drawn as duplicates
            assert hamming(child, parent) == 1
            (label,) = [label for label in child if child[label] != parent[label]]
            assert child[label] in tuner.choices[label]
            changed_labels.add(label)
        # what the trial gets is the last mutation, of the winner of the last tournament, unchanged
        winner = max(generation.tournaments[-1][2], key=lambda ind: ind.fitness).arch
        assert generation.mutations[-1][0] == winner and generation.child == generation.mutations[-1][1]
        assert hamming(generation.child, winner) == 1
    assert changed_labels == mutable  # the label is drawn among all labels that have alternatives


def test_aging_removes_the_oldest_even_when_it_is_the_best():
    tuner = RegularizedEvolutionTuner(population_size=3, sample_size=2, seed=0, **SPACE)
    archs = [tuner.generate_parameters(i) for i in range(4)]
    for i, (arch, value) in enumerate(zip(archs, [0.99, 0.1, 0.2, 0.3])):
        tuner.receive_trial_result(i, arch, value)
    assert [ind.fitness for ind in tuner.population] == [0.1, 0.2, 0.3]
    assert len(tuner.history) == 4
    # Fitness falling with age: once the three above have left, the one that leaves is also the best.
    for parameter_id in range(4, 14):
        arch = tuner.generate_parameters(parameter_id)
        tuner.receive_trial_result(parameter_id, arch, 1.0 - parameter_id / 100)
        assert [id(ind) for ind in tuner.population] == [id(ind) for ind in tuner.history[-3:]]
    assert len(tuner.history) == 14


def test_never_proposes_the_same_architecture_twice():
    tuner = RegularizedEvolutionTuner(population_size=4, sample_size=2, seed=3, **SPACE)
    run_search(tuner, 60)
    keys = [arch_key(ind.arch) for ind in tuner.history]
    assert len(set(keys)) == len(keys) == 60


def test_failed_and_nan_trials_count_as_worst_and_search_goes_on(monkeypatch):
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
    # the tournament over the whole population picks the only good parent while it lives: it is the oldest
    # after the first failed child, and the third failed child ages it out
    mutations = record_calls(monkeypatch, tuner, "mutate")
    for parameter_id in range(3, 8):
        mutations.clear()
        child = tuner.generate_parameters(parameter_id)
        parents = [call.args[0] for call in mutations]
        if parameter_id < 6:
            assert parents and all(parent == c for parent in parents)
        else:
            assert c not in [ind.arch for ind in tuner.population] and c not in parents
        assert all(hamming(call.result, call.args[0]) == 1 for call in mutations)
        assert child == tuner.canonical(mutations[-1].result)
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


# ------------------------------------------------------------------------------------------ random search
SMALL = {"widths": [16], "min_depth": 1, "max_depth": 2, "ops": ["conv3x3", "identity", "maxpool3x3"],
         "activations": ["relu"]}  # 36 dicts, 24 networks: at depth 1, op1 is inactive


def test_random_search_proposes_each_canonical_architecture_once_then_stops():
    from nni import NoMoreTrialError

    tuner = RandomTuner(space="digits_cnn", space_args=SMALL, seed=0)
    space, choices = tuner.space, tuner.choices
    networks = {arch_key(canonical(space, choices, dict(zip(choices, values))))
                for values in itertools.product(*choices.values())}
    assert len(networks) == 24
    # canonical() here is the space's own, not the tuner's: a tuner that skipped it would repeat networks
    proposed = [arch_key(canonical(space, choices, tuner.generate_parameters(i))) for i in range(24)]
    assert len(set(proposed)) == 24 and set(proposed) == networks
    with pytest.raises(NoMoreTrialError):
        tuner.generate_parameters(24)


def test_random_search_draws_every_value_of_every_label_uniformly():
    # Fixed depth: every label is active, and the 3888 networks are many more than the 400 draws, so the
    # de-duplication hardly matters (with depth free, the 108 one-layer networks run out and depth 1 is rarer).
    tuner = RandomTuner(seed=0, **FIXED_DEPTH)
    archs = [tuner.generate_parameters(i) for i in range(400)]
    for label, values in tuner.choices.items():
        counts = Counter(json.dumps(arch[label]) for arch in archs)
        assert set(counts) == {json.dumps(value) for value in values}, label
        if len(values) > 1:
            assert chisquare(list(counts.values())).pvalue > 1e-3, (label, counts)  # no value favoured


@pytest.mark.parametrize("trials", [4, 5, 6, 8, 12, 20, 40, 100])
def test_small_budget_defaults_select_parents(trials, tmp_path):
    """The Python API's evolution for a small budget: a tournament of at least 2 (max_trials=6 once gave a sample of
    1, a random parent) within the population, and room for children after the random start."""
    import yaml

    from nni_nas.api import evolution_settings_for_budget, write_config
    from nni_nas.tasks.base import DEFAULT_STRATEGY_ARGS

    for largest in (6, 20):
        args = evolution_settings_for_budget(trials, largest)
        assert 2 <= args["sample_size"] <= args["population_size"] < trials
    assert DEFAULT_STRATEGY_ARGS["evolution"](trials)["sample_size"] >= 2
    config = write_config(tmp_path / "c.yml", "digits_cnn", "evolution", trials=trials)
    assert yaml.safe_load(config.read_text())["tuner"]["classArgs"]["sample_size"] >= 2
