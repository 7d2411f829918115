"""The zero-cost warm start (``warm_start: {proxy, pool, seeds}``) of every multi-trial strategy: the first proposals
are the proxy's best of the pool, in order; the proxies themselves (synflow ranks a network's size, NASWOT a batch's
activation patterns); the tuner starts without torch; bad settings are named."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import strategies
from nni_nas.arch import arch_key
from nni_nas.errors import ConfigError
from strategies.proxies import jacob_cov, naswot, synflow
from strategies.warm_start import arch_score, scored_pool

REPO = Path(__file__).resolve().parents[2]
# widths x depth x ops, one activation: synflow grows with the width and the depth
SPACE = {"space": "digits_cnn", "space_args": {"widths": [4, 16, 64], "max_depth": 3,
                                               "ops": ["conv3x3", "conv5x5"], "activations": ["relu"]}}
MULTI_TRIAL = [entry.name for entry in strategies.STRATEGIES.values() if entry.kind == "multi-trial"]
QUICK = {"hyperband": {"train": {"epochs": 3}}, "pnas": {"beam_size": 2, "candidate_pool": 8, "ensemble_size": 1,
                                                          "predictor_epochs": 5}}


def test_synflow_ranks_a_wider_network_higher_and_changes_nothing():
    tuner = strategies.get_strategy("random").tuner_class()(**SPACE)
    arch = tuner.canonical(tuner.random_arch())
    scores = []
    for width in (4, 16, 64):
        model = tuner.space.freeze({**arch, "width": width})
        before = [p.clone() for p in model.parameters()]
        scores.append(synflow(model, (1, 8, 8)))
        assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert scores[0] < scores[1] < scores[2]


def test_naswot_is_the_log_determinant_of_the_activation_codes():
    """One ReLU of 2 units on 3 inputs: codes [1,1], [1,0], [0,0]; K_H[i, j] = units on which i and j agree."""
    layer = torch.nn.Sequential(torch.nn.Identity(), torch.nn.ReLU())
    batch = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
    kernel = torch.tensor([[2.0, 1.0, 0.0], [1.0, 2.0, 1.0], [0.0, 1.0, 2.0]], dtype=torch.float64)
    assert naswot(layer, batch) == pytest.approx(math.log(torch.linalg.det(kernel).item()))
    assert naswot(torch.nn.Identity(), batch) == -math.inf  # no unit to code


def test_jacob_cov_scores_the_eigenvalues_of_the_jacobians_correlation():
    """A ReLU on 2 inputs of 3 values: Jacobians [1, 1, 0] and [1, 0, 0], correlation 0.5, eigenvalues 1.5 and 0.5,
    so the score is -(log 1.5 + 1/1.5 + log 0.5 + 1/0.5) (k = 1e-5 aside)."""
    batch = torch.tensor([[1.0, 1.0, -1.0], [1.0, -1.0, -1.0]])
    expected = -(math.log(1.5) + 1 / 1.5 + math.log(0.5) + 1 / 0.5)
    assert jacob_cov(torch.nn.ReLU(), batch) == pytest.approx(expected, abs=1e-4)
    # uncorrelated Jacobians score higher than correlated ones; a constant Jacobian has no correlation: -inf
    apart = torch.tensor([[1.0, 1.0, -1.0, -1.0], [1.0, -1.0, 1.0, -1.0]])  # Jacobians uncorrelated: eigenvalues 1, 1
    assert jacob_cov(torch.nn.ReLU(), apart) == pytest.approx(-2.0, abs=1e-4)
    assert jacob_cov(torch.nn.ReLU(), apart) > jacob_cov(torch.nn.ReLU(), batch)
    assert jacob_cov(torch.nn.Identity(), batch) == -math.inf


def test_a_jacob_cov_warm_start_seeds_with_its_best_on_the_trials_data():
    args = {**SPACE, "data": "digits", "seed": 1, "warm_start": {"proxy": "jacob_cov", "pool": 8, "seeds": 3,
                                                                  "batch_size": 16}}
    tuner = strategies.get_strategy("random").tuner_class()(**args)
    ranked = scored_pool(tuner, tuner.warm_start)
    first = [tuner.canonical(tuner.generate_parameters(i)) for i in range(3)]
    assert [arch_key(a) for a in first] == [arch_key(a) for _, a in ranked[:3]]
    assert ranked[0][0] > ranked[-1][0]  # the scores differ between architectures


@pytest.mark.parametrize("name", MULTI_TRIAL)
def test_the_first_proposals_are_the_proxys_best_of_the_pool(name):
    args = {**SPACE, **QUICK.get(name, {}), "seed": 3, "warm_start": {"proxy": "synflow", "pool": 12, "seeds": 4}}
    tuner = strategies.get_strategy(name).tuner_class()(**args)
    ranked = scored_pool(tuner, tuner.warm_start)
    first = [tuner.canonical(tuner.generate_parameters(i)) for i in range(4)]
    assert [arch_key(a) for a in first] == [arch_key(a) for _, a in ranked[:4]]
    # independently of the pool's order: the seeds are the 4 highest synflow scores of the 12
    scores = sorted((arch_score(tuner, a, "synflow") for _, a in ranked), reverse=True)
    assert [arch_score(tuner, a, "synflow") for a in first] == pytest.approx(scores[:4])
    assert len({arch_key(a) for _, a in ranked}) == 12


def test_naswot_scores_a_batch_of_the_trials_data():
    tuner = strategies.get_strategy("evolution").tuner_class()(
        **SPACE, warm_start={"proxy": "naswot", "pool": 6, "seeds": 2, "batch_size": 16})
    ranked = scored_pool(tuner, tuner.warm_start)
    assert all(math.isfinite(s) for s, _ in ranked) and [s for s, _ in ranked] == sorted((s for s, _ in ranked),
                                                                                         reverse=True)
    assert [arch_key(tuner.canonical(tuner.generate_parameters(i))) for i in range(2)] == \
        [arch_key(a) for _, a in ranked[:2]]


@pytest.mark.parametrize("warm_start, expected", [
    ({"proxy": "synflw"},
     "tuner.classArgs.warm_start.proxy: must be synflow, naswot or jacob_cov, got 'synflw' (did you mean"),
    ({"pool": 0}, "tuner.classArgs.warm_start.pool: must be an integer from 1 to 100000"),
    ({"pool": 5, "seeds": 6}, "tuner.classArgs.warm_start.seeds: must be an integer from 1 to pool (5)"),
    ({"poll": 5}, "tuner.classArgs.warm_start.poll: unknown warm_start setting (did you mean 'pool'?)"),
    ("synflow", "tuner.classArgs.warm_start: must be a mapping"),
])
def test_bad_warm_start_settings_are_named(warm_start, expected):
    with pytest.raises(ConfigError) as err:
        strategies.get_strategy("evolution").tuner_class()(**SPACE, warm_start=warm_start)
    assert any(expected in problem for problem in err.value.problems), err.value.problems


def test_a_tuner_with_a_warm_start_starts_without_torch():
    code = ("import sys; from strategies.evolution import RegularizedEvolutionTuner as T; "
            "T(space='digits_cnn', warm_start={'proxy': 'synflow', 'pool': 5, 'seeds': 2}); "
            "print('torch' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "False", run.stdout + run.stderr


@pytest.mark.parametrize("proxy", ["naswot", "jacob_cov"])
def test_a_data_proxy_with_a_benchmark_evaluator_is_refused_at_the_start(proxy):
    with pytest.raises(ConfigError, match=f"{proxy} needs a batch of the trials' data"):
        strategies.get_strategy("evolution").tuner_class()(
            space="nasbench201", evaluator={"kind": "benchmark", "table": "x.csv"}, warm_start={"proxy": proxy})


def test_local_search_climbs_from_the_best_of_its_warm_seeds():
    """The warm seeds are local search's start: with ``seeds == initial`` no random architecture is drawn, and once
    the 4 seeds have reported the climb begins at the best of them (the next proposal is one of its neighbours)."""
    args = {**SPACE, "seed": 3, "initial": 4, "improvement": "first",
            "warm_start": {"proxy": "synflow", "pool": 12, "seeds": 4}}
    tuner = strategies.get_strategy("local_search").tuner_class()(**args)
    seeds = [tuner.canonical(tuner.generate_parameters(i)) for i in range(4)]
    results = [0.3, 0.9, 0.5, 0.1]  # the second seed is the best
    for parameter_id, (arch, value) in enumerate(zip(seeds, results, strict=True)):
        tuner.receive_trial_result(parameter_id, arch, {"default": value})
    assert tuner.incumbent is not None and arch_key(tuner.incumbent.arch) == arch_key(seeds[1])
    following = tuner.canonical(tuner.generate_parameters(4))
    assert sum(following[label] != seeds[1][label] for label in following) == 1


def test_the_scored_network_is_the_architecture_built_afresh():
    """fixed_network builds what freeze gives (the same layers and shapes), with its own weights, not the space's."""
    from strategies.warm_start import fixed_network

    tuner = strategies.get_strategy("random").tuner_class()(**SPACE, seed=2)
    arch = tuner.canonical(tuner.random_arch())
    built, frozen = fixed_network(tuner.space, arch), tuner.space.freeze(arch)
    shapes = {name: p.shape for name, p in built.named_parameters()}
    assert shapes == {name: p.shape for name, p in frozen.named_parameters()} and shapes
    space_storage = {p.data_ptr() for p in tuner.space.parameters()}
    assert not space_storage & {p.data_ptr() for p in built.parameters()}
    assert built(torch.ones(2, 1, 8, 8)).shape == frozen(torch.ones(2, 1, 8, 8)).shape
