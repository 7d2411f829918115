"""The tabular benchmark evaluator: reading both table formats, settings and their errors, the trial's result
dict, and the in-process query loop with the real tuners."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model_spaces import nas_bench_macro as macro
from model_spaces import nasbench201 as nb201
from nni_nas.arch import InvalidArchError
from nni_nas.config import ConfigError, NasSettings
from nni_nas.evaluation.tabular import (
    BenchmarkQuery,
    BenchmarkTable,
    EvaluatorSettings,
    best_so_far,
    evaluator_problems,
    picked,
    query_search,
    run_benchmark_trial,
)
from strategies.evolution import RegularizedEvolutionTuner
from strategies.random_search import RandomTuner
from tests.conftest import TABLES

TABLES = TABLES
BEST_NB201 = "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"


@pytest.fixture
def nb201_csv(tmp_path) -> Path:
    """A 3-row table in the NB201 CSV format."""
    rows = ["arch,arch_str,cifar10-test,cifar10-val"]
    for index, ops in enumerate([("nor_conv_3x3",) * 6, ("none",) * 6, ("skip_connect",) * 6]):
        text = nb201.arch_to_string(dict(zip(nb201.EDGE_LABELS, ops)))
        rows.append(f"{index},{text},{90 - 30 * index},{85 - 30 * index}")
    path = tmp_path / "tiny.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture
def macro_json(tmp_path) -> Path:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({"22212220": {"test_acc": [93.0, 93.5, 92.5], "mean_acc": 93.0, "params": 5,
                                            "flops": 7},
                                "00000000": {"test_acc": [45.0, 46.0, 47.0], "mean_acc": 46.0, "params": 1,
                                             "flops": 2}}))
    return path


def settings_for(space: str, table: Path, **evaluator) -> NasSettings:
    settings = NasSettings.from_class_args({"space": space, "evaluator": {"kind": "benchmark", "table": str(table),
                                                                          **evaluator}})
    return settings


def test_nb201_csv_lookup_and_result_dict(nb201_csv):
    arch = dict(zip(nb201.EDGE_LABELS, ("nor_conv_3x3",) * 6))
    result = run_benchmark_trial(settings_for("nasbench201", nb201_csv), arch)
    assert result == {"default": 85.0, "val_acc": 85.0, "test_acc": 90.0,
                      "benchmark_key": nb201.arch_to_string(arch)}
    other = run_benchmark_trial(settings_for("nasbench201", nb201_csv, metric="cifar10-test"),
                                dict(zip(nb201.EDGE_LABELS, ("none",) * 6)))
    assert other["default"] == 60.0


def test_macro_json_lists_are_averaged_or_indexed(macro_json):
    table = BenchmarkTable(macro_json)
    assert table.value("22212220", "test_acc") == pytest.approx(93.0)
    assert table.value("22212220", "test_acc.1") == 93.5
    result = run_benchmark_trial(settings_for("nas_bench_macro", macro_json, metric="test_acc.0"),
                                 macro.key_to_arch("22212220"))
    assert result["default"] == 93.0 and result["test_acc"] == 93.0
    assert result["params"] == 5 and result["flops"] == 7
    assert table.optimum("mean_acc") == ("22212220", 93.0)


def test_relative_table_is_resolved_against_the_config_folder(nb201_csv, tmp_path):
    settings = EvaluatorSettings.from_dict({"kind": "benchmark", "table": "tiny.csv"}, config_dir=tmp_path)
    assert settings.table == nb201_csv.resolve()


@pytest.mark.parametrize("evaluator,message", [
    ({"kind": "benchmark"}, "evaluator.table is missing"),
    ({"kind": "lookup", "table": "x.csv"}, "must be train or benchmark"),
    ({"kind": "benchmark", "table": "x.csv", "column": 1}, "unknown evaluator settings"),
    ({"kind": "benchmark", "table": "missing.csv"}, "benchmark table not found"),
    ({"kind": "benchmark", "table": "TINY", "metric": "cifar10-valid"}, "has no column 'cifar10-valid'"),
])
def test_evaluator_mistakes_are_named(evaluator, message, nb201_csv):
    if evaluator.get("table") == "TINY":
        evaluator = {**evaluator, "table": str(nb201_csv)}
    settings = NasSettings.from_class_args({"space": "nasbench201", "evaluator": evaluator})
    problems = evaluator_problems(settings)
    assert len(problems) == 1 and message in problems[0]


def test_space_must_match_the_table(nb201_csv):
    with pytest.raises(ConfigError, match="set classArgs.space: nasbench201"):
        run_benchmark_trial(settings_for("nas_bench_macro", nb201_csv), macro.key_to_arch("22212220"))


def test_bad_architectures_raise_invalid_arch(nb201_csv):
    settings = settings_for("nasbench201", nb201_csv)
    arch = dict(zip(nb201.EDGE_LABELS, ("avg_pool_3x3",) * 6))
    with pytest.raises(InvalidArchError, match="not in tiny.csv"):
        run_benchmark_trial(settings, arch)
    with pytest.raises(InvalidArchError, match="lacks labels"):
        run_benchmark_trial(settings, {"edge_1_0": "none"})
    with pytest.raises(InvalidArchError, match="unknown labels"):
        run_benchmark_trial(settings, {**dict(zip(nb201.EDGE_LABELS, ("none",) * 6)), "width": 3})


def test_train_evaluator_is_the_default():
    assert evaluator_problems(NasSettings.from_class_args({"space": "digits_cnn"})) == []
    assert not EvaluatorSettings.from_dict(None).is_benchmark


def need_tables():
    assert TABLES.is_dir(), f"the benchmark table the repository ships is missing: {TABLES}"


def test_shared_tables_read_with_their_defaults():
    need_tables()
    nb = BenchmarkTable(TABLES / "nb201_cifar_12epoch.csv")
    assert len(nb) == 15625 and nb.space == "nasbench201"
    assert nb.optimum("cifar10-test") == (BEST_NB201, 89.16)
    mc = BenchmarkTable(TABLES / "nas_bench_macro_cifar10.json")
    assert len(mc) == 6561 and mc.space == "nas_bench_macro"
    assert mc.optimum("mean_acc")[0] == "22212220"


def test_query_loop_drives_real_tuners_on_the_table():
    need_tables()
    query = BenchmarkQuery.from_evaluator(
        EvaluatorSettings.from_dict({"kind": "benchmark", "table": str(TABLES / "nb201_cifar_12epoch.csv")}),
        "nasbench201")
    space = {"space": "nasbench201", "space_args": {"channels": 4, "cells_per_stage": 1}}
    random_records = query_search(RandomTuner(seed=0, **space), query, 40)
    evolution = RegularizedEvolutionTuner(population_size=10, sample_size=3, seed=0, **space)
    evolution_records = query_search(evolution, query, 40)
    for records in (random_records, evolution_records):
        assert len(records) == 40 and len({r.key for r in records}) == 40
        curve = best_so_far(records)
        assert curve[-1] == picked(records).test and len(curve) == 40
    assert len(evolution.history) == 40  # every query reached the tuner as a result
    assert {r.value for r in evolution_records} == {ind.fitness for ind in evolution.history}
