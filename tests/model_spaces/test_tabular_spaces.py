"""NAS-Bench-201 and NAS-Bench-Macro spaces: key conversions over the whole spaces, the shared tables, and
real networks that run and train."""

from __future__ import annotations

import pytest
import torch

import model_spaces
from model_spaces import nas_bench_macro as macro
from model_spaces import nasbench201 as nb201
from nni_nas.arch import freeze, search_choices
from tests.conftest import TABLES

TABLES = TABLES
SMALL_ARGS = {"nasbench201": {"channels": 8, "cells_per_stage": 1},
              "nas_bench_macro": {"init_channels": 8, "head_channels": 32}}


def need_tables():
    assert TABLES.is_dir(), f"the benchmark table the repository ships is missing: {TABLES}"


def test_nb201_string_round_trips_for_all_15625_cells():
    archs = nb201.all_archs()
    strings = [nb201.arch_to_string(arch) for arch in archs]
    assert len(set(strings)) == 15625
    assert all(nb201.string_to_arch(text) == arch for text, arch in zip(strings, archs))


def test_nb201_string_format_is_the_benchmarks():
    arch = {"edge_1_0": "nor_conv_3x3", "edge_2_0": "none", "edge_2_1": "skip_connect", "edge_3_0": "none",
            "edge_3_1": "avg_pool_3x3", "edge_3_2": "nor_conv_1x1"}
    text = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|avg_pool_3x3~1|nor_conv_1x1~2|"
    assert nb201.arch_to_string(arch) == text
    assert nb201.string_to_arch(text) == arch


@pytest.mark.parametrize("bad", ["|nor_conv_3x3~0|+|none~0|", "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                                 "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|"])
def test_nb201_rejects_malformed_strings(bad):
    with pytest.raises(ValueError, match="NAS-Bench-201|op~"):
        nb201.string_to_arch(bad)


def test_nb201_table_strings_are_exactly_the_space():
    need_tables()
    import csv

    with (TABLES / "nb201_cifar_12epoch.csv").open() as handle:
        strings = {row["arch_str"] for row in csv.DictReader(handle)}
    assert strings == {nb201.arch_to_string(arch) for arch in nb201.all_archs()}
    assert all(nb201.arch_to_string(nb201.string_to_arch(text)) == text for text in strings)


def test_macro_key_round_trips_for_all_6561_keys():
    keys = macro.all_keys()
    assert len(set(keys)) == 6561
    archs = [macro.key_to_arch(key) for key in keys]
    assert [macro.arch_to_key(arch) for arch in archs] == keys
    assert len({tuple(arch.values()) for arch in archs}) == 6561


def test_macro_table_keys_are_exactly_the_space():
    need_tables()
    import json

    table = json.loads((TABLES / "nas_bench_macro_cifar10.json").read_text())
    assert set(table) == set(macro.all_keys())


@pytest.mark.parametrize("bad", ["2221222", "22212223", "abcdefgh"])
def test_macro_rejects_malformed_keys(bad):
    with pytest.raises(ValueError, match="not a NAS-Bench-Macro key"):
        macro.key_to_arch(bad)


def test_space_choices_match_the_conversions():
    nb = search_choices(model_spaces.build_space("nasbench201", (1, 8, 8), 10, **SMALL_ARGS["nasbench201"]))
    assert nb == {label: list(nb201.OPS) for label in nb201.EDGE_LABELS}
    mc = search_choices(model_spaces.build_space("nas_bench_macro", (1, 8, 8), 10, **SMALL_ARGS["nas_bench_macro"]))
    assert mc == {label: list(macro.LAYER_OPS) for label in macro.LAYER_LABELS}


@pytest.mark.parametrize("name,key", [
    ("nasbench201", "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"),
    ("nasbench201", "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"),
    ("nas_bench_macro", "22212220"),
    ("nas_bench_macro", "00000000"),
])
def test_frozen_networks_forward_and_backward(name, key):
    factory = lambda: model_spaces.build_space(name, (1, 8, 8), 10, **SMALL_ARGS[name])  # noqa: E731
    space_cls = model_spaces.get_space_class(name)
    model = freeze(factory, space_cls.from_benchmark_key(key))
    out = model(torch.randn(4, 1, 8, 8))
    assert out.shape == (4, 10)
    out.sum().backward()


def test_zero_cell_ignores_its_input():
    cell = freeze(lambda: model_spaces.build_space("nasbench201", (1, 8, 8), 10, **SMALL_ARGS["nasbench201"]),
                  nb201.string_to_arch("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")).cells[0]
    assert torch.count_nonzero(cell(torch.randn(2, 8, 8, 8))) == 0


def test_nb201_space_trains_on_digits():
    from nni_nas.config import TrainSettings
    from nni_nas.data import load_data
    from nni_nas.evaluation.training import train_and_evaluate

    bundle = load_data("digits")
    factory = lambda: model_spaces.build_space("nasbench201", (1, 8, 8), 10, **SMALL_ARGS["nasbench201"])  # noqa: E731
    arch = nb201.string_to_arch("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|skip_connect~0|none~1|"
                                "nor_conv_1x1~2|")
    train = TrainSettings(epochs=3, batch_size=64, lr=0.05, latency_runs=2, seed=0)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as out:
        result, _ = train_and_evaluate(freeze(factory, arch), bundle, train, Path(out), progress_bar=False,
                                       report=False)
    assert result["test_acc"] > 0.5  # chance is 0.1


def test_fill_ungrown_gives_real_partial_cells():
    space = model_spaces.build_space("nasbench201", (1, 8, 8), 10, **SMALL_ARGS["nasbench201"])
    blocks = space.progressive_blocks()
    assert blocks == [["edge_1_0"], ["edge_2_0", "edge_2_1"], ["edge_3_0", "edge_3_1", "edge_3_2"]]
    arch = nb201.string_to_arch("|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|none~0|none~1|none~2|")
    assert nb201.arch_to_string(space.fill_ungrown(arch, 1)) == \
        "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|"
    assert space.fill_ungrown(arch, 3) == arch
    m_space = model_spaces.build_space("nas_bench_macro", (1, 8, 8), 10, **SMALL_ARGS["nas_bench_macro"])
    assert macro.arch_to_key(m_space.fill_ungrown(macro.key_to_arch("22212220"), 3)) == "22200000"
