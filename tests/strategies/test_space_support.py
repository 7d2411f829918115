"""Every registered space with every registered strategy: the pair either runs (check passes, the tuner proposes, a
trial trains or searches) or is refused by ``nni-nas check`` with one line, and the trial refuses it the same way.
The space/strategy table of docs/strategies.md is the one :func:`strategies.unsupported_reason` gives."""

from __future__ import annotations

import atexit
import json
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

import model_spaces
import strategies
from nni_nas import api, cli
from nni_nas.arch import freeze, split_fidelity, validate_arch
from nni_nas.checks import check_config
from nni_nas.config import load_settings
from nni_nas.data import data_info
from nni_nas.data.signals import waveforms
from nni_nas.runtime.trial import main as trial_main
from nni_nas.runtime.trial import parse_args, run

REPO = Path(__file__).resolve().parents[2]

# Small but complete versions of each space, so that every pair trains in seconds on two cores.
SMALL = {
    "darts": {"width": 4, "num_cells": 3, "num_nodes": 2},
    "digits_cnn": {"widths": [8, 16], "max_depth": 2},
    "enas_macro": {"num_layers": 3, "channels": 8, "pool_after": [1]},
    "enas_micro": {"num_nodes": 2, "cells_per_stage": 1, "channels": 4},
    "nas_bench_macro": {"init_channels": 8, "head_channels": 16},
    "nasbench201": {"channels": 8, "cells_per_stage": 1},
    "signal_cnn": {"widths": [8, 16], "max_depth": 2},
    "text_cnn": {"widths": [8, 16], "max_depth": 2, "embed_dim": 8},
}
QUICK = {
    "pnas": {"beam_size": 2, "candidate_pool": 8, "ensemble_size": 1, "predictor_epochs": 5},
    "darts": {"search_epochs": 1, "search_batch_size": 256, "order": 1, "retrain": False},
    "enas": {"controller_steps": 2, "controller_hidden": 8, "derive_samples": 2, "retrain": False},
    "grid": {"max_size": 10**15},  # a grid searches any space whose size it is allowed: darts's small one has 1e10
    "hyperband": {"eta": 2},  # two rungs within train.epochs 2 (EPOCHS)
    "spos": {"search_epochs": 1, "population_size": 4, "generations": 2, "parents": 2, "bn_batches": 2,
             "retrain": False},
}
# multi-trial tuners added after the trial path was covered by the evolution pairs (test time is scarce)
SAME_TRIAL_AS_EVOLUTION = ("pareto", "local_search", "tpe", "grid", "bananas", "hyperband")
EPOCHS = {"hyperband": 2}  # the full fidelity of a multi-fidelity tuner; its rung 0 trains 1 epoch
PAIRS = [(space, strategy) for space in model_spaces.space_names() for strategy in strategies.strategy_names()]


SIGNALS = Path(tempfile.mkdtemp(prefix="nni-nas-signals-")) / "waveforms.npz"
atexit.register(shutil.rmtree, SIGNALS.parent, True)


def data_of(space: str) -> tuple[str, dict]:
    """A data set of the space's kind: embedded images or texts, or a small npz of signals written once."""
    rank = model_spaces.get_space_class(space).input_rank
    if rank == 2:
        if not SIGNALS.is_file():
            x, y = waveforms(samples_per_class=20, length=32)
            np.savez(SIGNALS, x=x, y=y)
        return "npz", {"path": str(SIGNALS), "kind": "signal"}
    return ("pydocs" if rank == 1 else "digits"), {}


def reason_for(space: str, strategy: str, space_args: dict) -> str | None:
    data, data_args = data_of(space)
    input_shape, num_classes = data_info(data, **data_args)
    return strategies.unsupported_reason(strategy, model_spaces.build_space(space, input_shape, num_classes,
                                                                            **space_args))


def test_every_registered_space_has_small_arguments_here():
    assert sorted(SMALL) == model_spaces.space_names()


@pytest.mark.parametrize("space, strategy", PAIRS, ids=[f"{s}-{t}" for s, t in PAIRS])
def test_each_pair_runs_or_is_refused_in_one_line(tmp_path, capsys, space, strategy):
    data, data_args = data_of(space)
    config = api.write_config(tmp_path / "pair.yml", space, strategy, data=data, data_args=data_args, trials=50,
                              epochs=EPOCHS.get(strategy, 1),
                              space_args=SMALL[space], train={"batch_size": 256, "latency_runs": 1},
                              strategy_args=QUICK.get(strategy, {}))
    reason = reason_for(space, strategy, SMALL[space])
    # the small arguments do not change the answer the README gives for the space as registered
    assert (reason is None) == (reason_for(space, strategy, {}) is None)
    problems = check_config(config)
    if reason is not None:
        assert problems == [reason] and "\n" not in reason
        assert cli.main(["check", str(config)]) == 1
        assert capsys.readouterr().err.strip() == f"{config}: {reason}"
        # a trial started anyway (nnictl does not run `check`) refuses in one line too, no traceback
        code = trial_main(["--config", str(config), "--arch", "random", "--out", str(tmp_path / "trial")],
                          use_worker=False)
        err = capsys.readouterr().err
        assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
        return
    assert problems == []
    settings = load_settings(config)
    tuner_cls = strategies.resolve_class_path(settings.tuner_class)
    tuner = tuner_cls(**settings.class_args())
    [params] = tuner.generate_multiple_parameters([0])  # what NNI's dispatcher hands the trial
    if strategy in SAME_TRIAL_AS_EVOLUTION:
        # The trial nnictl runs does not depend on the multi-trial tuner (the evolution pair trains it): check that
        # this tuner's proposals are valid architectures of the space, and build one, instead of training again.
        more = [split_fidelity(tuner.generate_parameters(i))[0] for i in range(1, 4)]  # hyperband's epochs apart
        input_shape, num_classes = data_info(data, **data_args)
        for arch in more:  # (what NNI is handed, ``params``, leaves out inactive labels; the trial restores them)
            assert validate_arch(tuner.choices, arch) == arch
        model = freeze(lambda: model_spaces.build_space(space, input_shape, num_classes, **SMALL[space]), more[0])
        assert sum(p.numel() for p in model.parameters()) > 0
        return
    if getattr(tuner_cls, "one_shot", False):
        result = tuner_cls.run_trial(settings, params, tmp_path, progress_bar=False)
    else:
        result = run(parse_args(["--config", str(config), "--arch", json.dumps(params), "--out", str(tmp_path)]))
        assert json.loads((tmp_path / "arch.json").read_text()) == params
    assert math.isfinite(result["default"]) and result["params"] > 0


def support_table() -> list[str]:
    """The rows of docs/strategies.md's support table, from the registries and :func:`strategies.unsupported_reason`."""
    names = strategies.strategy_names()
    rows = ["| space | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for space in model_spaces.space_names():
        cells = ["yes" if reason_for(space, name, {}) is None else "no" for name in names]
        rows.append(f"| `{space}` | " + " | ".join(cells) + " |")
    return rows


def test_strategies_page_says_which_strategy_searches_which_space():
    page = (REPO / "docs" / "strategies.md").read_text().splitlines()
    missing = [row for row in support_table() if row not in page]
    assert not missing, "docs/strategies.md's space/strategy table should read:\n" + "\n".join(support_table())
