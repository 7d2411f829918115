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
