"""BANANAS (White, Neiswanger, Savani, AAAI 2021): its predictor, its encodings, its acquisition, and the tuner
through NNI's tuner API."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from nni import NoMoreTrialError
from scipy.stats import binom, hypergeom

from nni_nas.arch import arch_key, count_networks
from nni_nas.errors import ConfigError
from nni_nas.evaluation.tabular import load_table
from strategies.bananas import BananasTuner
from strategies.bananas.encoding import OneHotEncoding, PathEncoding
from strategies.bananas.predictor import MlpEnsemble, _forward, _gradients
from tests.conftest import TABLES
from tests.strategies.test_space_support import SMALL, data_of

NB201 = {"space": "nasbench201", "space_args": {"channels": 4, "cells_per_stage": 1}}  # 6 labels x 5 values
QUICK = {"ensemble_size": 3, "predictor_epochs": 40}
SMALL_DIGITS = {"space": "digits_cnn", "data": "digits",
                "space_args": {"widths": [16, 32], "max_depth": 2, "ops": ["conv3x3", "conv5x5"],
                               "activations": ["relu"]}}


def run(tuner, budget: int, objective, start: int = 0) -> list[dict]:
    archs = []
    for parameter_id in range(start, start + budget):
        arch = tuner.generate_parameters(parameter_id)
        tuner.receive_trial_result(parameter_id, arch, {"default": objective(arch)})
        tuner.trial_end(parameter_id, True)
        archs.append(arch)
    return archs


@pytest.fixture(scope="module")
def nb201_val():
    """The NB201 12-epoch table's cifar10-val of a cell."""
    table = load_table(TABLES / "nb201_cifar_12epoch.csv")
    from model_spaces.nasbench201 import arch_to_string

    return lambda arch: table.value(arch_to_string(arch), "cifar10-val")


# ------------------------------------------------------------------------------------------------ predictor
def test_predictor_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    ensemble = MlpEnsemble(layers=2, width=5, seed=1)
    params = ensemble._init(4)
    x, y = rng.normal(size=(7, 4)), rng.normal(size=7)
    for loss in ("mse", "mae"):
        grads = _gradients(params, x, y, loss)

        def value(loss=loss):
            error = _forward(params, x)[0] - y
            return np.mean(error**2) if loss == "mse" else np.mean(np.abs(error))

        for p, g in zip(params, grads):
            flat, grad = p.reshape(-1), g.reshape(-1)
            for i in range(flat.size):
                old = flat[i]
                flat[i] = old + 1e-6
                up = value()
                flat[i] = old - 1e-6
                down = value()
                flat[i] = old
                assert grad[i] == pytest.approx((up - down) / 2e-6, abs=1e-5)


def test_predictor_learns_a_function_and_its_members_disagree_off_the_data():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(60, 12)).astype(float)
    y = 3 * x[:, 0] - 2 * x[:, 1] + x[:, 2] * x[:, 3]
    ensemble = MlpEnsemble(members=4, seed=0)
    ensemble.fit(x[:40], y[:40])
    predictions = ensemble.predict(x[40:])
    assert predictions.shape == (4, 20)
    assert np.corrcoef(predictions.mean(0), y[40:])[0, 1] > 0.9
    assert predictions.std(0).mean() > 1e-3  # members trained from different seeds: an uncertainty to use


# ------------------------------------------------------------------------------------------------ encodings
def test_nb201_path_encoding_counts_the_paths_that_carry_a_signal():
    tuner = BananasTuner(**NB201)
    encoding = PathEncoding(tuner.space)
    assert encoding.width == 4 + 4**2 + 4**3  # none is on no path
    conv = dict.fromkeys(tuner.choices, "nor_conv_3x3")
    assert sorted(tuner.space.cell_paths(conv)) == [("nor_conv_3x3",), ("nor_conv_3x3",) * 2, ("nor_conv_3x3",) * 2,
                                                    ("nor_conv_3x3",) * 3]
    assert encoding.encode([conv]).sum() == 3  # 0-1-3 and 0-2-3 are the same sequence: one feature
    cut = {**conv, "edge_1_0": "none"}  # node 1 gets nothing: only 0-3 and 0-2-3 remain
    assert sorted(tuner.space.cell_paths(cut)) == [("nor_conv_3x3",), ("nor_conv_3x3",) * 2]
    dead = dict.fromkeys(tuner.choices, "none")
    assert tuner.space.cell_paths(dead) == [] and encoding.encode([dead]).sum() == 0
    mixed = {"edge_1_0": "skip_connect", "edge_2_0": "none", "edge_2_1": "avg_pool_3x3", "edge_3_0": "none",
             "edge_3_1": "none", "edge_3_2": "nor_conv_1x1"}
    assert tuner.space.cell_paths(mixed) == [("skip_connect", "avg_pool_3x3", "nor_conv_1x1")]


def test_one_hot_encoding_has_one_column_per_label_value():
    tuner = BananasTuner(**NB201)
    encoding = OneHotEncoding(tuner.choices)
    assert encoding.width == 6 * 5
    arch = tuner.random_arch()
    row = encoding.encode([arch])[0]
    assert row.sum() == 6
    with pytest.raises(ValueError, match="not in the space"):
        encoding.encode([{**arch, "edge_1_0": "conv_9x9"}])


# --------------------------------------------------------------------------------------------- acquisition
def record_rounds(tuner: BananasTuner) -> tuple[list, list]:
    """Lists that fill, round by round, with the tuner's candidates and the batch it chose among them."""
    rounds, chosen = [], []
    mutations, next_round = tuner.mutations, tuner.next_round

    def recorded_mutations(parents):
        rounds.append(mutations(parents))
        return rounds[-1]

    def recorded_round():
        chosen.append(next_round())
        return list(chosen[-1])

    tuner.mutations, tuner.next_round = recorded_mutations, recorded_round
    return rounds, chosen


def test_each_round_picks_the_candidates_the_predictor_ranks_high():
    """On a separable score (how many of NB201's 6 edges hold a target op) the round's batch must hold many more of
    its candidates' top quarter (by the true score) than a batch drawn at random from the same candidates would.
    Rounds 2-6 of two seeds; a random pick passes with the probability printed by the hypergeometric tails."""
    hits, p_random = 0, []
    for seed in (0, 1):
        tuner = BananasTuner(seed=seed, encoding="one_hot", batch_size=5, **QUICK, **NB201)
        target = {label: values[2] for label, values in tuner.choices.items()}

        def score(arch, target=target):
            return float(sum(arch[label] == target[label] for label in arch))

        rounds, chosen = record_rounds(tuner)
        run(tuner, 10 + 6 * 5, score)
        for candidates, batch in list(zip(rounds, chosen))[1:6]:
            scores = sorted((score(arch) for arch in candidates), reverse=True)
            threshold = scores[len(scores) // 4]
            top = sum(value >= threshold for value in scores)
            hits_here = sum(score(arch) >= threshold for arch in batch)
            hits += hits_here
            p_random.append(hypergeom(len(candidates), top, len(batch)))
    # under random picks, hits is a sum of 10 hypergeometrics: its tail by convolving their distributions
    pmf = np.array([1.0])
    for dist in p_random:
        pmf = np.convolve(pmf, dist.pmf(np.arange(dist.args[2] + 1)))
    assert pmf[hits:].sum() < 1e-6, (hits, pmf[hits:].sum())


def test_bananas_proposals_beat_random_search_on_nb201(nb201_val):
    """Proposals 21-60 on the NB201 table's cifar10-val: at least 20 of 40 among the table's best 5 %, in each of two
    seeds (default settings: the path encoding, independent Thompson sampling). A random search's proposal is among
    them with probability 0.05: it passes one seed with P(Binomial(40, 0.05) >= 20) = 1e-15."""
    table = load_table(TABLES / "nb201_cifar_12epoch.csv")
    values = sorted((table.value(key, "cifar10-val") for key in table.rows), reverse=True)
    top5 = values[len(values) // 20]
    assert binom.sf(19, 40, 0.05) < 1e-14
    for seed in (0, 1):
        tuner = BananasTuner(seed=seed, **NB201)
        archs = run(tuner, 60, nb201_val)
        good = sum(nb201_val(arch) >= top5 for arch in archs[20:])
        assert good >= 20, good
        assert statistics.mean(map(nb201_val, archs[:10])) < top5  # its random start is random


def test_random_candidates_join_the_mutations():
    tuner = BananasTuner(seed=0, random_candidates=30, candidates=20, **QUICK, **NB201)
    rounds, _ = record_rounds(tuner)
    random_made = []
    make_random = tuner.random_candidates
    tuner.random_candidates = lambda: random_made.append(make_random()) or random_made[-1]
    run(tuner, 12, lambda arch: float(sum(op == "nor_conv_3x3" for op in arch.values())))
    assert len(random_made[0]) == 30 and len(rounds[0]) == 20
    evaluated = [ind.arch for ind in tuner.history[:10]]
    far = [arch for arch in random_made[0] if min(sum(arch[k] != e[k] for k in arch) for e in evaluated) >= 2]
    assert len(far) >= 20  # random cells, not neighbours of what was evaluated
    assert not {arch_key(a) for a in random_made[0]} & {arch_key(a) for a in evaluated}


# ------------------------------------------------------------------------------------- never twice, resume
def test_never_proposes_an_architecture_twice_and_ends_when_the_space_is_spent():
    tuner = BananasTuner(seed=0, initial=4, batch_size=3, **QUICK, **SMALL_DIGITS)
    archs = []
    with pytest.raises(NoMoreTrialError):
        for parameter_id in range(100):  # 24 networks: the search must end well before
            arch = tuner.generate_parameters(parameter_id)
            archs.append(arch)
            tuner.receive_trial_result(parameter_id, arch, {"default": arch["width"] / 64 + 0.1 * arch["depth"]})
    keys = [arch_key(tuner.canonical(arch)) for arch in archs]
    assert len(keys) == len(set(keys)) == count_networks(tuner.space, tuner.choices) == 24
    assert tuner.rounds >= 2


def test_concurrent_trials_get_distinct_architectures():
    tuner = BananasTuner(seed=0, initial=4, batch_size=4, **QUICK, **NB201)
    run(tuner, 8, lambda arch: float(sum(op == "nor_conv_3x3" for op in arch.values())))
    running = [tuner.generate_parameters(100 + i) for i in range(10)]  # 10 asked for before any result
    keys = {arch_key(tuner.canonical(arch)) for arch in running}
    assert len(keys) == 10 and not keys & {arch_key(ind.arch) for ind in tuner.history}


def test_resume_goes_on_from_nni_records(nb201_val):
    first = BananasTuner(seed=0, **NB201)
    done = run(first, 30, nb201_val)
    resumed = BananasTuner(seed=0, **NB201)
    resumed.import_data([{"parameter": arch, "value": {"default": nb201_val(arch)}} for arch in done])
    assert len(resumed.history) == 30 and resumed.rounds == 0
    new = run(resumed, resumed.settings.batch_size, nb201_val, start=30)  # one round
    assert resumed.rounds == 1  # no second random start: the first proposal is a round fit on all 30
    assert not {arch_key(a) for a in done} & {arch_key(a) for a in new}
    best_before = max(map(nb201_val, done))
    parents = sorted(done, key=nb201_val, reverse=True)[:resumed.settings.parents]
    # every proposal of the round mutates one of the 10 best imported architectures
    for arch in new:
        assert min(sum(arch[k] != p[k] for k in arch) for p in parents) == 1
    assert statistics.mean(map(nb201_val, new)) > best_before - 10


def test_resume_during_the_random_start_finishes_it_first():
    tuner = BananasTuner(seed=0, initial=6, **QUICK, **NB201)
    score = lambda arch: float(sum(op == "nor_conv_3x3" for op in arch.values()))  # noqa: E731
    done = run(BananasTuner(seed=0, initial=6, **QUICK, **NB201), 4, score)
    tuner.import_data([{"parameter": arch, "value": {"default": score(arch)}} for arch in done])
    run(tuner, 2, score, start=4)
    assert tuner.rounds == 0  # 4 imported + 2 random = the 6 of the start
    run(tuner, 1, score, start=6)
    assert tuner.rounds == 1


# ------------------------------------------------------------------------------------------------- settings
def test_settings_are_checked_all_at_once():
    with pytest.raises(ConfigError) as caught:
        BananasTuner(space="digits_cnn", initial=0, batch_size=20, candidates=10, acquisition="ei",
                     encoding="paths", ucb_beta=-1)
    assert caught.value.problems == [
        "tuner.classArgs.initial: must be an integer from 1 to 1,000,000, got 0",
        "tuner.classArgs.candidates: must be at least batch_size (20), got 10",
        "tuner.classArgs.encoding: must be auto, path or one_hot, got 'paths' (did you mean 'path'?)",
        "tuner.classArgs.acquisition: must be its or ucb, got 'ei'",
        "tuner.classArgs.ucb_beta: must be a number >= 0, got -1",
    ]
    assert BananasTuner(space="digits_cnn").budget_problem(10).startswith("tuner.classArgs.initial: 10 >=")
    assert BananasTuner(space="digits_cnn").budget_problem(11) is None
    tuner = BananasTuner(encoding="path", **SMALL_DIGITS)
    assert "encoding: path needs a cell space" in tuner.search_problem(tuner.space)
    assert BananasTuner(encoding="path", **NB201).search_problem(BananasTuner(**NB201).space) is None


@pytest.mark.parametrize("space", sorted(SMALL))
def test_a_round_runs_on_every_registered_space(space):
    """The one-hot encoding takes every space's values (lists of inputs, tuples, numbers); nasbench201 uses paths."""
    data, data_args = data_of(space)
    tuner = BananasTuner(space=space, space_args=SMALL[space], data=data, data_args=data_args, seed=0, initial=3,
                         batch_size=2, candidates=6, ensemble_size=2, predictor_epochs=3)
    archs = run(tuner, 7, lambda arch: float(len(arch_key(arch)) % 7))
    assert tuner.rounds >= 1 and len({arch_key(tuner.canonical(a)) for a in archs}) == 7
    assert type(tuner.encoding).__name__ == ("PathEncoding" if space == "nasbench201" else "OneHotEncoding")
