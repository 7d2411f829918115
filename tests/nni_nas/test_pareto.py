"""The one non-dominated sort (NSGA-II's fronts and crowding distance), the hypervolume, and ``nni-nas top --pareto``
on hand-built NNI records: each checked against a brute-force definition or a hand-computed value."""

from __future__ import annotations

import itertools
import random

import pytest

from nni_nas import cli
from nni_nas.errors import ConfigError
from nni_nas.results.pareto import (
    Objective,
    cost_of,
    crowding_distance,
    dominates,
    hypervolume,
    non_dominated_sort,
    pareto_indices,
    parse_objectives,
    rank_and_crowding,
)
from tests.nni_nas.nni_records import FakeTrial, class_args, make_experiment


def random_costs(seed: int, count: int, dims: int) -> list[tuple[float, ...]]:
    rng = random.Random(seed)
    return [tuple(float(rng.randint(0, 6)) for _ in range(dims)) for _ in range(count)]  # small ints: many ties


@pytest.mark.parametrize("dims", [2, 3])
def test_fronts_are_the_definition_peeled_layer_by_layer(dims):
    costs = random_costs(dims, 80, dims)
    fronts = non_dominated_sort(costs)
    assert sorted(i for front in fronts for i in front) == list(range(len(costs)))  # a partition
    remaining = set(range(len(costs)))
    for front in fronts:
        # brute force: the front is exactly the points that no remaining point dominates
        expected = {p for p in remaining if not any(dominates(costs[q], costs[p]) for q in remaining)}
        assert set(front) == expected
        remaining -= expected
    assert len(fronts) > 3  # the data really has layers
    assert pareto_indices(costs) == fronts[0]  # the fast first front is the sort's


def test_crowding_distance_by_hand():
    costs = [(0.0, 10.0), (1.0, 6.0), (5.0, 2.0), (10.0, 0.0)]
    distance = crowding_distance(costs, [0, 1, 2, 3])
    # objective 1: range 10; (1,6) sits between 0 and 5 -> 0.5; (5,2) between 1 and 10 -> 0.9
    # objective 2: range 10; (5,2) sits between 0 and 6 -> 0.6; (1,6) between 2 and 10 -> 0.8
    assert distance[0] == distance[3] == float("inf")
    assert distance[1] == pytest.approx(1.3) and distance[2] == pytest.approx(1.5)
    rank, crowd = rank_and_crowding(costs + [(6.0, 7.0)])
    assert rank == [0, 0, 0, 0, 1] and crowd[4] == float("inf")  # alone in the second front


def test_hypervolume_by_hand_and_against_counting_cells():
    assert hypervolume([(1, 3), (2, 1)], (4, 4)) == 7  # 3x1 + 2x3 - the 2x1 overlap
    assert hypervolume([(5, 5)], (4, 4)) == 0 and hypervolume([], (4, 4)) == 0
    for dims in (2, 3):
        points = random_costs(10 + dims, 12, dims)
        reference = (7.0,) * dims
        cells = sum(1 for cell in itertools.product(range(7), repeat=dims)
                    if any(all(p[k] <= cell[k] for k in range(dims)) for p in points))
        assert hypervolume(points, reference) == cells  # unit cells [c, c+1) dominated by some point


def test_objectives_from_config_and_command_line():
    assert parse_objectives("val_acc:max, params:min") == (Objective("val_acc", "max"), Objective("params", "min"))
    assert parse_objectives([{"metric": "flops", "mode": "min"}, {"metric": "test_acc", "mode": "max"}])[0].mode \
        == "min"
    assert cost_of({"val_acc": 0.9, "params": 100}, parse_objectives("val_acc:max,params:min")) == (-0.9, 100.0)
    assert cost_of({"val_acc": float("nan"), "params": 100}, parse_objectives("val_acc:max,params:min")) is None
    for bad, message in [("val_acc:max", "at least 2"), ("val_acc:max,params:mni", "must be max or min"),
                         ("val_acc:max,val_acc:min", "more than once"), (3, "must be a list"),
                         ([{"metric": "a", "mod": "max"}, "b:min"], "did you mean 'mode'")]:
        with pytest.raises(ConfigError, match=message):
            parse_objectives(bad)


@pytest.fixture
def records(tmp_path, monkeypatch):
    root = tmp_path / "nni-experiments"
    rng = random.Random(3)
    trials = []
    for i in range(20):
        acc, params = round(rng.uniform(0.5, 0.99), 3), rng.randint(100, 5000)
        final = {"default": acc, "val_acc": acc, "test_acc": acc, "params": params, "flops": params * 3 + i % 5,
                 "latency_ms": 0.1}
        trials.append(FakeTrial(f"t{i:02d}", status="FAILED" if i == 7 else "SUCCEEDED",
                                final=None if i == 7 else final, arch={"width": 8}, save_weights=False))
    make_experiment(root, "expa", trials, class_args())
    monkeypatch.setenv("NNI_EXPERIMENTS_DIR", str(root))
    return trials


def listed(out: str) -> list[str]:
    return [line.split()[1] for line in out.splitlines()[3:]]


def test_top_pareto_prints_exactly_the_non_dominated_trials(records, capsys):
    assert cli.main(["top", "expa", "--pareto"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("experiment expa: Pareto front of val_acc:max, params:min")
    finals = {t.trial_id: t.final for t in records if t.final}
    brute = {i for i, f in finals.items() if not any(
        g["val_acc"] >= f["val_acc"] and g["params"] <= f["params"] and g != f for g in finals.values())}
    assert set(listed(out)) == brute and len(brute) >= 3
    accuracies = [finals[i]["val_acc"] for i in listed(out)]
    assert accuracies == sorted(accuracies, reverse=True)  # best first by the first objective

    assert cli.main(["top", "expa", "--objectives", "params:min,flops:max"]) == 0
    out = capsys.readouterr().out
    by_flops = {i for i, f in finals.items()
                if not any(g["params"] <= f["params"] and g["flops"] >= f["flops"] and g != f for g in finals.values())}
    assert set(listed(out)) == by_flops and "flops:max" in out.splitlines()[0]


def test_a_misspelt_objective_is_one_line_with_a_suggestion(records, capsys):
    assert cli.main(["top", "expa", "--objectives", "val_acc:max,parms:min"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'parms'" in err and "did you mean 'params'?" in err
    assert cli.main(["export", "expa", "--objectives", "val_acc:best,params:min"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "must be max or min" in err
