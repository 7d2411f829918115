"""NasParetoEvolution's rules, each on a tiny population: the tournament winner by front then crowding distance,
failed trials never parents, aging, the front file written and rebuilt on resume, objectives checked by value."""

from __future__ import annotations

import json
import random
import zlib

import pytest

from nni_nas.errors import ConfigError
from nni_nas.results.pareto import dominates
from strategies.base import Individual
from strategies.pareto_evolution import FRONT_FILE, ParetoEvolutionTuner

ARGS = {"space": "digits_cnn", "space_args": {"widths": [8, 16], "max_depth": 2}, "seed": 0}


def tuner(**kwargs) -> ParetoEvolutionTuner:
    return ParetoEvolutionTuner(**{**ARGS, "population_size": 6, "sample_size": 3, **kwargs})


def individual(name: str, acc: float | None, params: int | None) -> Individual:
    result = None if acc is None else {"default": acc, "val_acc": acc, "params": params}
    return Individual({"name": name}, acc if acc is not None else float("-inf"), result, name)


def winner(t: ParetoEvolutionTuner, population: list[Individual], sample: list[str]) -> str:
    t.population.clear()
    t.population.extend(population)
    by_name = {ind.trial_id: ind for ind in population}
    return t.tournament([by_name[name] for name in sample]).trial_id


def test_tournament_prefers_the_lower_front_then_the_less_crowded():
    t = tuner()
    # front 0: a (boundary), b (crowded middle), c (sparse middle), d (boundary); e is dominated by b; f failed
    population = [individual("a", 0.99, 1000), individual("b", 0.95, 480), individual("c", 0.80, 400),
                  individual("d", 0.50, 100), individual("e", 0.94, 500), individual("f", None, None)]
    for sample in (["e", "b"], ["b", "e"]):
        assert winner(t, population, sample) == "b"  # rank decides, whatever the order drawn
    assert winner(t, population, ["e", "f"]) == "e"  # a failed trial loses to any measured one
    for sample in (["b", "c"], ["c", "b"]):
        assert winner(t, population, sample) == "c"  # same front: the larger crowding distance
    assert winner(t, population, ["c", "a"]) == "a"  # a boundary point has infinite distance
    assert winner(t, population, ["e", "d"]) == "d"  # front 0 beats front 1 even with lower accuracy


def test_ranks_are_taken_over_the_population_not_the_sample():
    t = tuner()
    # x and y do not dominate each other, so within the sample {x, y} both are on front 0 at infinite distance (a
    # tie: the first drawn would win); in the population z dominates x (not y): y is on front 0, x on front 1
    population = [individual("x", 0.8, 300), individual("y", 0.7, 200), individual("z", 0.85, 250)]
    for sample in (["x", "y"], ["y", "x"]):
        assert winner(t, population, sample) == "y"
    order = t.crowded_order()
    assert order[id(population[2])][0] == order[id(population[1])][0] == 0 and order[id(population[0])][0] == 1
    # distances too: on the population's front p, x, q, y (accuracy rising with params), q's neighbours are further
    # apart than x's; within the sample {x, q} both would be boundary points (a tie)
    population = [individual("p", 0.99, 1000), individual("x", 0.95, 600), individual("q", 0.94, 590),
                  individual("y", 0.50, 100)]
    for sample in (["x", "q"], ["q", "x"]):
        assert winner(t, population, sample) == "q"


def reference_order(costs: list[tuple[float, ...]]) -> list[tuple[int, float]]:
    """NSGA-II's crowded-comparison key of each point, computed the slow way: fronts by peeling off the points no
    remaining point dominates; crowding distance per front as Deb et al. 2002 define it (per objective, sorted,
    boundary points infinite, inner ones the gap between their neighbours over the front's range)."""
    def dominated(a, b):  # b dominates a (all costs smaller is better)
        return all(y <= x for x, y in zip(a, b)) and any(y < x for x, y in zip(a, b))

    remaining, rank, number = set(range(len(costs))), {}, 0
    while remaining:
        front = {i for i in remaining if not any(dominated(costs[i], costs[j]) for j in remaining)}
        for i in front:
            rank[i] = number
        remaining -= front
        number += 1
    distance = dict.fromkeys(range(len(costs)), 0.0)
    for f in set(rank.values()):
        members = [i for i in rank if rank[i] == f]
        for m in range(len(costs[0])):
            ordered = sorted(members, key=lambda i: costs[i][m])
            low, high = costs[ordered[0]][m], costs[ordered[-1]][m]
            distance[ordered[0]] = distance[ordered[-1]] = float("inf")
            for before, i, after in zip(ordered, ordered[1:], ordered[2:]):
                if high > low:
                    distance[i] += (costs[after][m] - costs[before][m]) / (high - low)
    return [(rank[i], -distance[i]) for i in range(len(costs))]


def test_the_tournament_winner_is_the_samples_best_by_the_crowded_comparison():
    """Over random populations and samples, the winner is the sample's best under NSGA-II's crowded comparison
    (lower front over the population, then larger crowding distance; ties to the first drawn), as a brute-force
    reference computes it; a failed individual wins only a sample of failed ones."""
    t = tuner()
    rng = random.Random(7)
    checked = 0
    for _ in range(300):
        size = rng.randint(2, 9)
        population = [individual(f"i{n}", None, None) if rng.random() < 0.15 else
                      individual(f"i{n}", rng.choice([0.5, 0.6, 0.7, 0.8, 0.9]), rng.choice([100, 200, 300, 400]))
                      for n in range(size)]
        sample = rng.sample([ind.trial_id for ind in population], rng.randint(1, size))
        measured = [ind for ind in population if ind.result is not None]
        keys = dict(zip([ind.trial_id for ind in measured],
                        reference_order([(-ind.result["val_acc"], ind.result["params"]) for ind in measured])))
        worst = (len(population) + 1, 0.0)
        best = min(sample, key=lambda name: keys.get(name, worst))  # min keeps the first drawn of equal keys
        assert winner(t, population, sample) == best, (population, sample)
        checked += len(sample) > 1
    assert checked > 200


def run_search(t: ParetoEvolutionTuner, steps: int, score) -> list[dict]:
    results = []
    for i in range(steps):
        arch = t.generate_parameters(i)
        result = score(arch)
        t.receive_trial_result(i, arch, result, trial_job_id=f"trial{i}")
        t.trial_end(i, True)
        results.append({"parameter": arch, "value": result, "trialJobId": f"trial{i}"})
    return results


def toy_score(arch: dict) -> dict:
    """A fixed pseudo-random trade-off: accuracy grows with params, plus noise, so the front has many points."""
    digest = zlib.crc32(json.dumps(arch, sort_keys=True).encode())
    params = 100 + digest % 1000
    acc = round(0.5 + params / 2400 + (digest >> 12) % 100 / 1000, 4)
    return {"default": acc, "val_acc": acc, "params": params}


def test_front_file_is_the_archive_front_and_resume_rebuilds_it(tmp_path, monkeypatch):
    monkeypatch.setenv("NNI_LOG_DIRECTORY", str(tmp_path / "log"))
    first = tuner()
    finished = run_search(first, 14, toy_score)
    written = json.loads((tmp_path / FRONT_FILE).read_text())
    assert written["evaluated"] == 14
    assert written["objectives"] == [{"metric": "val_acc", "mode": "max"}, {"metric": "params", "mode": "min"}]
    costs = {entry["trialJobId"]: (-entry["value"]["val_acc"], entry["value"]["params"]) for entry in finished}
    brute = {i for i, c in costs.items() if not any(dominates(d, c) for d in costs.values())}
    assert {entry["trial_id"] for entry in written["front"]} == brute
    assert not list(tmp_path.glob(".*partial*"))
    # aging: the population is the newest six, the oldest left whatever their front
    assert [ind.trial_id for ind in first.population] == [f"trial{i}" for i in range(8, 14)]

    (tmp_path / FRONT_FILE).unlink()
    resumed = tuner()
    resumed.import_data(json.loads(json.dumps(finished)))
    assert json.loads((tmp_path / FRONT_FILE).read_text()) == written
    assert [ind.arch for ind in resumed.population] == [ind.arch for ind in first.population]
    assert resumed.generate_parameters(14) not in [entry["parameter"] for entry in finished]


def test_search_steps_toward_the_front():
    """Children are one-label mutations of tournament winners: after the random start, parents are on a low
    front far more often than a uniform draw from the population would be."""
    t = tuner(population_size=8, sample_size=4, seed=1)
    rng = random.Random(0)
    parents_rank, uniform_rank = [], []
    mutate = t.mutate

    def spy(arch):
        order = t.crowded_order()
        parent = next(ind for ind in t.population if ind.arch == arch)
        parents_rank.append(order[id(parent)][0])
        uniform_rank.append(order[id(rng.choice(list(t.population)))][0])
        return mutate(arch)

    t.mutate = spy
    run_search(t, 40, toy_score)
    assert len(parents_rank) >= 25
    assert sum(parents_rank) < 0.5 * sum(uniform_rank)


def test_objectives_are_checked_by_value():
    with pytest.raises(ConfigError, match="did you mean 'latency_ms'"):
        tuner(objectives=[{"metric": "val_acc", "mode": "max"}, {"metric": "latency", "mode": "min"}])
    assert tuner(objectives=[{"metric": "val_acc", "mode": "max"}, {"metric": "latency_ms", "mode": "min"}])
    with pytest.raises(ConfigError, match="table lookup"):  # tables report no latency
        tuner(objectives=[{"metric": "val_acc", "mode": "max"}, {"metric": "latency_ms", "mode": "min"}],
              evaluator={"kind": "benchmark", "table": "x.csv"})
    with pytest.raises(ConfigError, match="at least 2"):
        tuner(objectives=[{"metric": "val_acc", "mode": "max"}])
    with pytest.raises(ConfigError, match="must be max or min"):
        tuner(objectives=[{"metric": "val_acc", "mode": "maximize"}, {"metric": "params", "mode": "min"}])
    with pytest.raises(ConfigError, match="single-objective"):
        tuner(metric="val_acc")
    with pytest.raises(ConfigError, match="sample_size"):
        tuner(sample_size=1)
