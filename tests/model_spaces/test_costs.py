"""The cost module: exact per-architecture counts, the additive cost table of a tabular space and its cache."""

from __future__ import annotations

import json
import random

import pytest

import model_spaces
from model_spaces import costs
from nni_nas.arch import search_choices
from tests.conftest import TABLES

TINY_NB201 = {"channels": 2, "cells_per_stage": 1}


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NNI_NAS_CACHE", str(tmp_path))
    return tmp_path / "costs"


def test_table_equals_exact_counts_and_is_cached(cache):
    space = model_spaces.build_space("nasbench201", (1, 8, 8), 10, **TINY_NB201)
    table = costs.cost_table(space, TINY_NB201)
    assert len(table) == 5 ** 6
    choices = search_choices(space)
    rng = random.Random(1)
    for _ in range(2):  # other archs than the build's own check (seed 0)
        arch = {label: rng.choice(values) for label, values in choices.items()}
        assert table[space.to_benchmark_key(arch)] == costs.arch_cost(space, arch)
    files = list(cache.iterdir())
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    assert costs.cost_table(space, TINY_NB201) == table and files[0].stat().st_mtime_ns == stamp  # read, not rebuilt
    other_args = {"channels": 3, "cells_per_stage": 1}
    other = model_spaces.build_space("nasbench201", (1, 8, 8), 10, **other_args)
    assert costs._digest(other, other_args) != costs._digest(space, TINY_NB201)  # other arguments, another key


def test_macro_params_match_the_published_table():
    # The published NAS-Bench-Macro table lists params (and MACs) of its networks: ours must be the same networks.
    published = json.loads((TABLES / "nas_bench_macro_cifar10.json").read_text())
    space = costs.benchmark_network("nas_bench_macro")
    for key in ("02012100",):
        cost = costs.arch_cost(space, space.from_benchmark_key(key))
        assert cost["params"] == published[key]["params"]
        assert cost["flops"] == 2 * published[key]["flops"]  # the table counts multiply-adds once
