"""Trials log to TensorBoard where NNI 3.0's portal looks, and to CSV only without tensorboard."""

from __future__ import annotations

import importlib.util

import pytest

from nni_nas.evaluation import training

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="the tensorboard extra")


def _as_trial(monkeypatch, tmp_path):
    experiment = tmp_path / "nni-experiments" / "abcd1234"
    out = experiment / "environments" / "local-env" / "trials" / "Tr1al"
    out.mkdir(parents=True)
    for key, value in {"NNI_OUTPUT_DIR": str(out), "NNI_TRIAL_JOB_ID": "Tr1al", "NNI_EXP_ID": "abcd1234"}.items():
        monkeypatch.setenv(key, value)
    return experiment, out


def test_a_trial_logs_to_tensorboard_where_the_portal_looks(monkeypatch, tmp_path):
    experiment, out = _as_trial(monkeypatch, tmp_path)
    (experiment / "trials" / "Tr1al" / "output" / "tensorboard").mkdir(parents=True)  # the button was pressed early
    loggers = training.loggers(out)
    assert [type(lg).__name__ for lg in loggers] == ["CSVLogger", "TensorBoardLogger"]
    assert loggers[1].log_dir.rstrip("/") == str(out / "tensorboard")
    portal = experiment / "trials" / "Tr1al" / "output" / "tensorboard"  # nniTensorboardManager.js + v3/compat.js
    assert portal.is_symlink() and portal.resolve() == (out / "tensorboard").resolve()
    assert training.link_for_portal(out / "tensorboard") == portal  # again: kept


def test_outside_a_trial_nothing_is_linked_and_without_tensorboard_csv_only(monkeypatch, tmp_path):
    assert training.link_for_portal(tmp_path / "tensorboard") is None
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorboard" else real_find_spec(name, *a))
    assert [type(lg).__name__ for lg in training.loggers(tmp_path)] == ["CSVLogger"]
