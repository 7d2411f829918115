"""Benchmark-evaluated searches through the real nnictl: the shipped NB201 configs, shortened, look each trial's
cell up in the shared tables (NAS-Bench-201 and NAS-Bench-Macro) instead of training it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from model_spaces import nas_bench_macro as macro
from model_spaces import nasbench201 as nb201
from nni_nas.checks import check_config
from nni_nas.evaluation.tabular import BenchmarkTable
from nni_nas.manager.nnictl import trial_jobs, wait_until_finished
from tests.conftest import REPO, TABLES
from tests.e2e.portal import trial_folder

pytestmark = pytest.mark.slow

TABLE = TABLES / "nb201_cifar_12epoch.csv"
MACRO_TABLE = TABLES / "nas_bench_macro_cifar10.json"
CONFIGS = ("digits_pnas.yml", "nb201_pnas.yml", "nb201_evolution.yml", "nb201_bananas.yml", "digits_bananas.yml",
           "nb201_local_search.yml")


def need_table():
    assert TABLE.is_file(), f"the benchmark table the repository ships is missing: {TABLE}"


def shortened(config: str, directory: Path, trials: int) -> Path:
    """The repo's config with fewer trials, written into ``directory`` (the table path made absolute)."""
    raw = yaml.safe_load((REPO / "configs" / config).read_text())
    raw["trialCommand"] = f"python -m nni_nas.trial --config {config}"
    raw["maxTrialNumber"] = trials
    raw["tuner"]["codeDirectory"] = str(REPO)
    evaluator = raw["tuner"]["classArgs"]["evaluator"]
    evaluator["table"] = str((REPO / "configs" / evaluator["table"]).resolve())
    path = directory / config
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.mark.parametrize("config", CONFIGS)
def test_shipped_configs_pass_the_check(config):
    need_table()
    assert check_config(REPO / "configs" / config) == []


def test_pnas_on_nb201_through_nnictl_queries_the_table(tmp_path, nni_experiment):
    need_table()
    config = shortened("nb201_pnas.yml", tmp_path, trials=12)
    _, port = nni_experiment(config)
    wait_until_finished(port, timeout=600)

    jobs = sorted(trial_jobs(port), key=lambda job: job["sequenceId"])
    assert len(jobs) == 12 and all(job["status"] == "SUCCEEDED" for job in jobs), [j["status"] for j in jobs]
    table = BenchmarkTable(TABLE)
    keys = []
    for job in jobs:
        key = nb201.arch_to_string(job["parameters"])
        final = job["final"][0]
        assert final["default"] == table.value(key, "cifar10-val")  # looked up, not trained
        assert final["test_acc"] == table.value(key, "cifar10-test") and final["benchmark_key"] == key
        keys.append(key)
    assert len(set(keys)) == 12
    # PNAS's first step: the five 1-block cells (nodes 2 and 3 copy node 1)
    first = [nb201.string_to_arch(key) for key in keys[:5]]
    assert {arch["edge_1_0"] for arch in first} == set(nb201.OPS)
    assert all(arch["edge_2_1"] == "skip_connect" and arch["edge_3_2"] == "skip_connect" for arch in first)
    # every trial folder keeps the arch and the result, like trained trials
    for job in jobs:
        trial_dir = trial_folder(job["logPath"])
        assert json.loads((trial_dir / "arch.json").read_text()) == job["parameters"]
        assert json.loads((trial_dir / "metrics.json").read_text())["benchmark_key"] == nb201.arch_to_string(
            job["parameters"])


def test_bananas_on_nb201_through_nnictl_runs_rounds_of_mutations(tmp_path, nni_experiment):
    """NNI's dispatcher starts the BANANAS tuner (no torch before it connects), two trials at a time: 4 random cells,
    then rounds of 3 chosen by the predictor, each a one-edge mutation of one of the best cells known then."""
    need_table()
    config = shortened("nb201_bananas.yml", tmp_path, trials=13)
    raw = yaml.safe_load(config.read_text())
    raw["trialConcurrency"] = 2
    raw["tuner"]["classArgs"].update(initial=4, batch_size=3, parents=3, predictor_epochs=30)
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    _, port = nni_experiment(config)
    wait_until_finished(port, timeout=600)
    jobs = sorted(trial_jobs(port), key=lambda job: job["sequenceId"])
    assert len(jobs) == 13 and all(job["status"] == "SUCCEEDED" for job in jobs), [j["status"] for j in jobs]
    archs = [{**dict.fromkeys(nb201.EDGE_LABELS, "none"), **job["parameters"]} for job in jobs]
    assert len({nb201.arch_to_string(arch) for arch in archs}) == 13
    # after the random start every cell is one edge away from an earlier one (handed out before it)
    for i, arch in enumerate(archs[4:], start=4):
        assert min(sum(arch[k] != earlier[k] for k in arch) for earlier in archs[:i]) == 1


def test_model_ordered_local_search_on_nb201_through_nnictl(tmp_path, nni_experiment):
    """NNI's dispatcher runs the shipped local search (a synflow warm start, first improvement, the model's
    neighbour order), its pool cut to 30 and its start to 3: the 3 cells synflow ranks best of the pool on the
    benchmark's network, then each trial a one-label neighbour of the best cell so far (9 trials leave no room for a
    restart)."""
    import strategies
    from strategies.warm_start import scored_pool

    need_table()
    config = shortened("nb201_local_search.yml", tmp_path, trials=12)
    raw = yaml.safe_load(config.read_text())
    args = raw["tuner"]["classArgs"]
    args["initial"] = 3
    args["warm_start"] = {**args["warm_start"], "pool": 30, "seeds": 3}
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    tuner = strategies.get_strategy("local_search").tuner_class()(**args)
    best3 = [nb201.arch_to_string(arch) for _, arch in scored_pool(tuner, tuner.warm_start)[:3]]
    _, port = nni_experiment(config)
    wait_until_finished(port, timeout=600)
    jobs = sorted(trial_jobs(port), key=lambda job: job["sequenceId"])
    assert len(jobs) == 12 and all(job["status"] == "SUCCEEDED" for job in jobs), [j["status"] for j in jobs]
    table = BenchmarkTable(TABLE)
    archs = [{**dict.fromkeys(nb201.EDGE_LABELS, "none"), **job["parameters"]} for job in jobs]
    keys = [nb201.arch_to_string(arch) for arch in archs]
    assert len(set(keys)) == 12 and keys[:3] == best3
    values = [table.value(key, "cifar10-val") for key in keys]
    assert [job["final"][0]["default"] for job in jobs] == values
    # each later trial is a one-label neighbour of a cell that was the best so far when it, or the trial before it,
    # was handed out (a result may reach the tuner after NNI asked for the next trial); no restart fits in 9 trials
    for i in range(3, 12):
        incumbents = {max(range(j), key=values.__getitem__) for j in (i - 1, i)}
        assert any(sum(archs[i][k] != archs[j][k] for k in archs[i]) == 1 for j in incumbents), \
            f"trial {i} ({keys[i]}) is no neighbour of the incumbent {[keys[j] for j in incumbents]}"


def test_evolution_on_nas_bench_macro_through_nnictl(tmp_path, nni_experiment):
    # nb201_evolution.yml turned to the NAS-Bench-Macro JSON (the NB201 CSV goes through nnictl above): search on
    # one training seed's accuracy, report another's
    assert MACRO_TABLE.is_file(), f"the benchmark table the repository ships is missing: {MACRO_TABLE}"
    config = shortened("nb201_evolution.yml", tmp_path, trials=8)
    raw = yaml.safe_load(config.read_text())
    args = raw["tuner"]["classArgs"]
    args["space"], args["space_args"] = "nas_bench_macro", {"init_channels": 4, "head_channels": 8}
    args["evaluator"] = {"kind": "benchmark", "table": str(MACRO_TABLE), "metric": "test_acc.0",
                         "test_metric": "test_acc.1"}
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    _, port = nni_experiment(config)
    wait_until_finished(port, timeout=600)
    jobs = trial_jobs(port)
    assert len(jobs) == 8 and all(job["status"] == "SUCCEEDED" for job in jobs), [j["status"] for j in jobs]
    table = BenchmarkTable(MACRO_TABLE)
    for job in jobs:
        key = macro.arch_to_key(job["parameters"])
        final = job["final"][0]
        assert final["benchmark_key"] == key and final["default"] == table.rows[key]["test_acc"][0]
        assert final["test_acc"] == table.rows[key]["test_acc"][1]
