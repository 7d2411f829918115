"""The Python entry point runs the same nnictl search as the CLI."""

from __future__ import annotations

import pytest

from nni_nas.api import search, write_config
from nni_nas.checks import check_config

pytestmark = pytest.mark.slow


def test_written_configs_pass_the_check(tmp_path):
    for strategy in ("evolution", "random"):
        path = write_config(tmp_path / f"{strategy}.yml", "digits_cnn", strategy, trials=3, epochs=1)
        assert check_config(path) == []


def test_search_from_python_through_nnictl(tmp_path, nni_home):
    record = search("digits_cnn", "random", trials=2, epochs=3, workdir=tmp_path,
                    space_args={"widths": [32], "max_depth": 2, "ops": ["conv3x3"]},
                    train={"latency_runs": 3})
    assert [t.status for t in record.trials] == ["SUCCEEDED", "SUCCEEDED"]
    best = record.ranked()[0]
    assert best.final["default"] > 0.5 and len(best.intermediate) == 3


def test_search_from_python_with_your_own_classes_and_function(tmp_path, nni_home, monkeypatch):
    import shutil
    from pathlib import Path

    own = tmp_path / "own"
    shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "own_space", own)
    monkeypatch.syspath_prepend(str(own))
    from my_data import load
    from my_module import MyModule
    from my_space import MySpace

    record = search(MySpace, "random", data=load, module=MyModule, module_args={"lr": 0.02}, trials=2, epochs=2,
                    workdir=tmp_path / "runs", space_args={"channels": 8}, train={"latency_runs": 3})
    assert [t.status for t in record.trials] == ["SUCCEEDED", "SUCCEEDED"]
    assert record.class_args["space"] == f"{own.resolve() / 'my_space.py'}:MySpace"
    best = record.ranked()[0]
    assert best.final["default"] == best.final["val_acc"] > 0.3 and len(best.intermediate) == 2
    assert set(best.arch) == {"conv2", "dropout", "feature"}
