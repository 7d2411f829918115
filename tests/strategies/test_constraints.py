"""Constraints (``classArgs.constraints``) honoured by every strategy: no architecture over budget is proposed
(evolution, random, PNAS), derived (DARTS, ENAS) or trained; a limit no architecture meets is refused by the check.

The multi-trial tuners search a tiny NAS-Bench-201 network (2 channels, 1 cell per stage, 8x8 digits) whose
``max_params`` is its smallest network's count: only the 729 cells without a convolution (4.7%) fit."""

from __future__ import annotations

import math
import sys

import pytest
import torch

import model_spaces
from model_spaces.costs import CostModel
from nni_nas.arch import arch_key
from nni_nas.config import NasSettings, TrainSettings
from nni_nas.constraints import ConstraintSettings
from nni_nas.errors import ConfigError
from nni_nas.evaluation.tabular import load_table
from strategies.bananas import BananasTuner
from strategies.darts.supernet import DartsSupernet, derive_architecture, ranked_derivations
from strategies.enas import EnasTuner
from strategies.evolution import RegularizedEvolutionTuner
from strategies.pnas import PnasTuner
from strategies.random_search import RandomTuner
from tests.conftest import TABLES

TINY = {"channels": 2, "cells_per_stage": 1}
NB201_TABLE = TABLES / "nb201_cifar_12epoch.csv"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One cost cache for the module (the tiny space's table is built once)."""
    folder = tmp_path_factory.mktemp("nni-nas-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NNI_NAS_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="module")
def tiny_costs(cache):
    space = model_spaces.build_space("nasbench201", (1, 8, 8), 10, **TINY)
    model = CostModel(space, TINY)
    limit = min(cost["params"] for cost in model.table.values())
    feasible = {key for key, cost in model.table.items() if cost["params"] <= limit}
    assert 0 < len(feasible) < 0.05 * len(model.table)
    return model, limit, feasible


TUNERS = {
    "evolution": (RegularizedEvolutionTuner, {"population_size": 6, "sample_size": 3}),
    "random": (RandomTuner, {}),
    "pnas": (PnasTuner, {"beam_size": 4, "predictor_epochs": 30, "ensemble_size": 2}),
    "bananas": (BananasTuner, {"initial": 4, "batch_size": 4, "predictor_epochs": 30, "ensemble_size": 2}),
}


@pytest.mark.parametrize("name", list(TUNERS))
def test_multi_trial_tuner_never_proposes_an_architecture_over_budget(name, tiny_costs):
    model, limit, feasible = tiny_costs
    cls, args = TUNERS[name]
    tuner = cls("nasbench201", space_args=TINY, data="digits", seed=3, constraints={"max_params": limit}, **args)
    table = load_table(NB201_TABLE)
    budget = 16
    proposed = []
    for parameter_id in range(budget):
        arch = tuner.generate_parameters(parameter_id)
        key = model.space.to_benchmark_key(arch)
        proposed.append(key)
        tuner.receive_trial_result(parameter_id, arch, {"default": table.value(key, "cifar10-val")})
        tuner.trial_end(parameter_id, True)
    assert len(set(proposed)) == budget  # the search still evaluates its whole budget, all distinct
    assert set(proposed) <= feasible, [model(model.space.from_benchmark_key(k)) for k in set(proposed) - feasible]
    assert tuner.infeasible  # it did meet architectures over budget, and skipped them


def test_over_budget_trial_result_is_infeasible_and_never_proposed_again(tiny_costs):
    model, limit, _ = tiny_costs
    tuner = RegularizedEvolutionTuner("nasbench201", space_args=TINY, data="digits", population_size=4,
                                      sample_size=2, constraints={"max_latency_ms": 0.5})
    arch = tuner.generate_parameters(0)
    tuner.receive_trial_result(0, arch, {"default": 0.0, "over_budget": True, "violations": ["latency_ms 9 > 0.5"]})
    tuner.trial_end(0, True)
    assert arch_key(arch) in tuner.infeasible and tuner.history[-1].fitness == -math.inf
    assert all(tuner.generate_parameters(i) != arch for i in range(1, 30))


def test_tuner_start_up_imports_no_torch():
    import subprocess

    code = ("import sys; from strategies.evolution import RegularizedEvolutionTuner as T; "
            "T('nasbench201', constraints={'max_params': 1000, 'max_flops': 5e5}); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# -------------------------------------------------------------------------------------------------- DARTS
DARTS_ARGS = {"width": 4, "num_cells": 3, "num_nodes": 2}


def tiny_darts():
    space = model_spaces.build_space("darts", (1, 8, 8), 10, **DARTS_ARGS)
    torch.manual_seed(0)
    supernet = DartsSupernet(space)
    with torch.no_grad():
        for alpha in supernet.arch_parameters():
            alpha.normal_(0, 1)
    return supernet


def test_darts_ranked_derivations_start_with_the_argmax_and_weaken():
    supernet = tiny_darts()
    weights = supernet.alpha_softmax()
    edges = supernet.space.cell_edges()
    ranked = list(zip(range(40), ranked_derivations(weights, edges, supernet.input_choices)))
    assert ranked[0][1] == derive_architecture(weights, edges, supernet.input_choices)

    def score(arch):
        kept = [edges[inputs][source] for inputs in edges for source in arch[inputs]]
        return sum(math.log(weights[label][arch[label]]) for label in kept)

    scores = [score(arch) for _, arch in ranked]
    assert all(a >= b - 1e-9 for a, b in zip(scores, scores[1:]))
    assert len({arch_key(arch) for _, arch in ranked}) == len(ranked)


def test_darts_derives_the_strongest_architecture_within_budget(capfd):
    from model_spaces.costs import arch_cost
    from strategies.darts.search import derive_in_budget
    from strategies.darts.settings import DartsSettings

    supernet = tiny_darts()  # random alphas: the derivation does not depend on how they were learnt
    argmax = supernet.derive_architecture()
    space = model_spaces.build_space("darts", (1, 8, 8), 10, **DARTS_ARGS)
    limit = arch_cost(space, argmax)["params"] - 1  # the unconstrained argmax is over it
    settings = NasSettings.from_class_args({"space": "darts", "space_args": DARTS_ARGS,
                                            "constraints": {"max_params": limit}}, "strategies.darts.DartsTuner")
    budget = derive_in_budget(settings, DartsSettings(), supernet, argmax)
    assert arch_cost(space, budget["arch"])["params"] <= limit  # counted exactly, on the frozen network
    assert budget["argmax_over_budget"] is True and budget["budget_rank"] > 1
    ranked = list(zip(range(budget["budget_rank"]), ranked_derivations(
        supernet.alpha_softmax(), supernet.space.cell_edges(), supernet.input_choices)))
    assert ranked[-1][1] == budget["arch"]  # the strongest within budget: every stronger one is over it
    costs = CostModel(space, DARTS_ARGS)  # parameters summed per chosen edge, checked against frozen networks
    assert all(costs.params_of(arch) > limit for _, arch in ranked[:-1])
    assert "derived instead the strongest within" in capfd.readouterr().err


# --------------------------------------------------------------------------------------------------- ENAS
def test_enas_gives_children_over_budget_the_worst_reward_and_derives_within_it(tmp_path, tiny_costs):
    model, _, _ = tiny_costs
    limit = sorted(cost["params"] for cost in model.table.values())[len(model.table) // 10]  # 10% fit
    args = {"space": "nasbench201", "space_args": TINY, "data": "digits",
            "train": {"epochs": 1, "batch_size": 128, "latency_runs": 2},
            "controller_steps": 3, "controller_batch": 4, "controller_hidden": 16, "derive_samples": 16,
            "retrain": False, "constraints": {"max_params": limit}}
    settings = NasSettings.from_class_args(args, "strategies.enas.EnasTuner")
    result = EnasTuner.run_trial(settings, {"seed": 0}, tmp_path, progress_bar=False)
    assert result["params"] <= limit
    assert model(result["arch"])["params"] == result["params"]  # the cost model counts what the trial reports
    # During the search itself (not only at derivation) the controller's children over budget got the worst
    # reward: with 90% of the space over budget most of the 12 children are, and their -1 pulls the mean below 0
    # (a child within budget earns its accuracy, >= 0).
    import json

    epochs = [json.loads(line) for line in (tmp_path / "search_history.jsonl").read_text().splitlines()]
    assert epochs[-1]["children_over_budget"] >= 6, epochs[-1]
    assert epochs[-1]["mean_reward"] < 0, epochs[-1]


def test_enas_reward_of_a_child_over_budget_is_below_every_child_within_it():
    from strategies.enas.controller import EnasController
    from strategies.enas.search import EnasSearch
    from strategies.enas.settings import EnasSettings
    from strategies.enas.supernet import SharedWeightSupernet

    supernet = SharedWeightSupernet(model_spaces.build_space("nasbench201", (1, 8, 8), 10, **TINY))
    search = EnasSearch(supernet, EnasController(supernet.choices, hidden_size=8), EnasSettings(param_penalty=1.0),
                        TrainSettings(), epochs=1)
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    arch = {label: values[-1] for label, values in supernet.choices.items()}
    search.over_budget = lambda candidate: ["params too many"]
    assert search.child_reward(arch, x, y) < -1.0 and search.stats.over_budget == 1
    search.over_budget = lambda candidate: []
    assert search.child_reward(arch, x, y) > -1.0


def test_enas_derives_only_children_within_budget(tiny_costs):
    """Derivation scores only children within the budget: an untrained controller's samples are mostly over it
    (10% of the space fits), yet every scored candidate fits, and there is at least one."""
    from torch.utils.data import DataLoader, TensorDataset

    from strategies.enas.controller import EnasController
    from strategies.enas.search import EnasSearch, derive_architecture
    from strategies.enas.settings import EnasSettings
    from strategies.enas.supernet import SharedWeightSupernet

    model, _, _ = tiny_costs
    limit = sorted(cost["params"] for cost in model.table.values())[len(model.table) // 10]
    torch.manual_seed(0)
    supernet = SharedWeightSupernet(model_spaces.build_space("nasbench201", (1, 8, 8), 10, **TINY))
    search = EnasSearch(supernet, EnasController(supernet.choices, hidden_size=8), EnasSettings(), TrainSettings(),
                        epochs=1)
    search.over_budget = lambda arch: ["over"] if model(arch)["params"] > limit else []
    sampled = search.controller.sample(16).archs
    assert sum(model(arch)["params"] > limit for arch in sampled) >= 8  # the controller alone would derive over it
    loader = DataLoader(TensorDataset(torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))), batch_size=8)
    candidates = derive_architecture(search, loader, samples=16)
    assert candidates and all(model(entry["arch"])["params"] <= limit for entry in candidates)


# -------------------------------------------------------------------------------------------------- check
def constrained_config(path, max_params: int, class_args: str) -> None:
    """A random-search config on nasbench201 with ``max_params`` and the extra ``classArgs`` lines given."""
    path.write_text(f"""
trialCommand: python -m nni_nas.trial --config {path.name}
trialCodeDirectory: .
trialConcurrency: 1
maxTrialNumber: 2
searchSpace: {{}}
tuner:
  className: strategies.random_search.RandomTuner
  codeDirectory: .
  classArgs:
    space: nasbench201
{class_args}
    constraints: {{max_params: {max_params}}}
trainingService: {{platform: local}}
""")


def test_check_refuses_a_limit_below_the_smallest_network(tmp_path, tiny_costs):
    from nni_nas.checks import check_config

    _, smallest, _ = tiny_costs
    config = tmp_path / "c.yml"
    constrained_config(config, smallest - 1, "    space_args: {channels: 2, cells_per_stage: 1}")
    problems = check_config(config)
    assert problems == [f"constraints.max_params: {smallest - 1:,} cannot be met: space 'nasbench201' has at least "
                        f"{smallest:,} params (its smallest network with these space_args and data); set max_params "
                        f">= {smallest:,}"]
    config.write_text(config.read_text().replace(f"max_params: {smallest - 1}", f"max_params: {smallest}"))
    assert check_config(config) == []


def test_smallest_network_of_a_space_without_a_table_beats_every_sampled_one():
    """``nni-nas check``'s smallest reachable value on a space without a cost table (coordinate descent over the
    labels): the first value of each label is not the cheapest here (width 16 before 8, a convolution first), so
    the descent must move; its result is an architecture's real cost and no sampled architecture is cheaper."""
    import random

    from nni_nas.arch import search_choices

    args = {"widths": [16, 8], "max_depth": 1}
    model = CostModel(model_spaces.build_space("digits_cnn", (1, 8, 8), 10, **args), args)
    choices = search_choices(model.space)
    smallest = model.smallest()
    first = model({label: values[0] for label, values in choices.items()})
    assert smallest["params"] < first["params"] and smallest["flops"] < first["flops"]
    rng = random.Random(0)
    sampled = [model({label: rng.choice(values) for label, values in choices.items()}) for _ in range(8)]
    assert all(smallest[key] <= cost[key] for cost in sampled for key in ("params", "flops"))
    cheapest = {"width": 8, "depth": 1, "op0": "identity", "activation": "relu", "skip": [0]}
    assert smallest == model(cheapest)  # reached: no convolution, the narrower stem


@pytest.mark.parametrize("values, message", [
    ({"max_param": 5}, "did you mean 'max_params'"),
    ({"max_flops": -1}, "constraints.max_flops: must be a positive finite number"),
    ({"max_latency_ms": float("nan")}, "constraints.max_latency_ms: must be a positive finite number"),
    ({"max_params": "big"}, "constraints.max_params: must be a number or null"),
])
def test_bad_constraints_are_one_line(values, message):
    with pytest.raises(ConfigError, match=message):
        NasSettings.from_class_args({"space": "digits_cnn", "constraints": values})
    assert ConstraintSettings.from_args({"max_params": 10}).violations({"params": 11}) == ["params 11 > max_params 10"]


def test_check_with_a_benchmark_evaluator_counts_the_network_the_table_was_measured_on(tmp_path, tiny_costs,
                                                                                       monkeypatch):
    # A table-evaluated trial trains nothing: the smallest reachable value is the table network's, whatever the
    # config's space_args. The table's network is stood in for by the tiny one (costing every cell of the real
    # NAS-Bench-201 network takes 1.5-4 minutes); the space_args below are far larger, so counting them (the
    # trained path) would name another number.
    import model_spaces.costs as costs
    from nni_nas.checks import check_config

    assert NB201_TABLE.is_file(), f"the benchmark table the repository ships is missing: {NB201_TABLE}"
    _, smallest, _ = tiny_costs
    monkeypatch.setattr(costs, "benchmark_network",
                        lambda name: model_spaces.build_space(name, (1, 8, 8), 10, **TINY))
    config = tmp_path / "c.yml"
    evaluator = f"{{kind: benchmark, table: {NB201_TABLE}, metric: cifar10-val}}"
    constrained_config(config, smallest - 1,
                       f"    space_args: {{channels: 16, cells_per_stage: 5}}\n    evaluator: {evaluator}")
    assert check_config(config) == [
        f"constraints.max_params: {smallest - 1:,} cannot be met: space 'nasbench201' has at least {smallest:,} "
        f"params (the benchmark table's network); set max_params >= {smallest:,}"]
    config.write_text(config.read_text().replace(f"max_params: {smallest - 1}", f"max_params: {smallest}"))
    assert check_config(config) == []
