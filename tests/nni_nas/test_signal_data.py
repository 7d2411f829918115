"""Signals in the npz data set: (N, L) and (N, C, L) arrays, the rank-3 rule (images unless ``kind: signal``), and
every mistake one data error naming the array and the fix; the toy waveforms file."""

from __future__ import annotations

import re

import numpy as np
import pytest

from nni_nas import data, errors
from nni_nas.data.signals import main as write_waveforms
from nni_nas.data.signals import waveforms


def save(tmp_path, **arrays) -> str:
    path = tmp_path / "signals.npz"
    np.savez(path, **arrays)
    return str(path)


def labels(n: int) -> np.ndarray:
    return np.arange(n) % 4


def test_sequences_n_by_l_are_one_channel_signals(tmp_path):
    x = np.random.default_rng(0).normal(size=(80, 30))
    bundle = data.load_data("npz", path=save(tmp_path, x=x, y=labels(80)))
    assert bundle.input_shape == (1, 30) and bundle.num_classes == 4
    sample, _ = bundle.train[0]
    assert sample.shape == (1, 30) and sample.dtype.is_floating_point
    assert len(bundle.train) + len(bundle.val) + len(bundle.test) == 80


def test_rank_three_is_signals_only_with_kind_signal(tmp_path):
    x = np.random.default_rng(0).normal(size=(80, 6, 30)).astype(np.float32)
    path = save(tmp_path, x=x, y=labels(80), x_test=x[:8], y_test=labels(8))
    assert data.data_info("npz", path=path, kind="signal") == ((6, 30), 4)
    assert data.data_info("npz", path=path) == ((1, 6, 30), 4)  # the documented default: (N, H, W) images
    assert data.data_info("npz", path=path, kind="image") == ((1, 6, 30), 4)
    bundle = data.load_data("npz", path=path, kind="signal")
    assert bundle.test.tensors[0].shape == (8, 6, 30)


SIGNAL_MISTAKES = {
    "too short": ({"x": np.zeros((40, 2, 5))}, "x: signals are 5 steps long (shape (40, 2, 5), read as (N, C, L)); "
                                               "at least 8 steps are needed"),
    "channels last": ({"x": np.zeros((40, 100, 3))}, "pass x.transpose(0, 2, 1)"),
    "NaN": ({"x": np.full((40, 2, 16), np.nan)}, "x holds NaN or infinite values (1280 of them)"),
    "complex": ({"x": np.zeros((40, 2, 16), dtype=np.complex64)}, "x must hold real numbers, got dtype complex64"),
    "test of another length": ({"x_test": np.zeros((8, 2, 20)), "y_test": labels(8)},
                               "x_test signals are (2, 20) but x signals are (2, 16); both must have the same (C, L)"),
    "images with kind signal": ({"x": np.zeros((40, 1, 8, 8))}, "images (N, C, H, W), but data_args.kind is signal"),
}


@pytest.mark.parametrize("name", SIGNAL_MISTAKES)
def test_signal_mistakes_are_one_data_error_naming_the_array(tmp_path, name):
    change, expected = SIGNAL_MISTAKES[name]
    arrays = {"x": np.random.default_rng(0).normal(size=(40, 2, 16)), "y": labels(40), **change}
    with pytest.raises(errors.DataFormatError, match=re.escape(expected)):
        data.data_info("npz", path=save(tmp_path, **arrays), kind="signal")


def test_a_contradicting_or_unknown_kind_is_named(tmp_path):
    path = save(tmp_path, x=np.zeros((40, 16)), y=labels(40))
    with pytest.raises(errors.DataFormatError, match=re.escape("sequences (N, L), but data_args.kind is image")):
        data.data_info("npz", path=path, kind="image")
    with pytest.raises(errors.ConfigError, match="data_args.kind must be image or signal .* got 'audio'"):
        data.data_info("npz", path=path, kind="audio")
    # 1xL "images" say where signals go
    with pytest.raises(errors.DataFormatError, match=re.escape("set data_args.kind: signal")):
        data.data_info("npz", path=save(tmp_path, x=np.zeros((40, 1, 64)), y=labels(40)))


def test_a_signal_space_on_image_data_is_one_problem_naming_kind_signal(tmp_path):
    from nni_nas.api import write_config
    from nni_nas.checks import check_config

    path = save(tmp_path, x=np.zeros((40, 6, 64)), y=labels(40))  # (N, C, L) read as 6x64 one-channel images
    config = write_config(tmp_path / "c.yml", "signal_cnn", "evolution", data="npz", data_args={"path": path})
    [problem] = check_config(config)
    assert "space 'signal_cnn' takes signals" in problem and "data_args.kind: signal" in problem
    np.savez(path, x=np.zeros((40, 3, 64)), y=labels(40))  # too small as images: the data's own error, alone
    [problem] = check_config(config)
    assert "x images are 3x64" in problem and "set data_args.kind: signal" in problem
    config = write_config(tmp_path / "c.yml", "signal_cnn", "evolution", data="npz",
                          data_args={"path": path, "kind": "signal"})
    assert check_config(config) == []


def test_waveforms_are_seeded_balanced_and_written_by_the_module(tmp_path, capsys):
    x, y = waveforms(samples_per_class=10, length=32, channels=2, seed=3)
    again, _ = waveforms(samples_per_class=10, length=32, channels=2, seed=3)
    assert x.shape == (40, 2, 32) and x.dtype == np.float32 and np.array_equal(x, again)
    assert np.bincount(y).tolist() == [10, 10, 10, 10]
    out = tmp_path / "sub" / "waves.npz"
    assert write_waveforms([str(out), "--samples-per-class", "5", "--length", "16"]) == 0
    assert data.data_info("npz", path=str(out)) == ((1, 16), 4)
    assert "x (20, 16)" in capsys.readouterr().out


def test_a_relative_data_path_is_read_from_trial_code_directory_wherever_check_starts(tmp_path, monkeypatch):
    """A trial runs in trialCodeDirectory, so a relative data_args.path means a file there; check and the tuner
    read that same file whatever their own working directory is."""
    from nni_nas import components
    from nni_nas.api import write_config
    from nni_nas.checks import check_config
    from nni_nas.config import load_settings

    project = tmp_path / "project"
    project.mkdir()
    write_waveforms([str(project / "w.npz")])
    config = write_config(project / "c.yml", "signal_cnn", "evolution", data="npz",
                          data_args={"path": "w.npz", "kind": "signal"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert check_config(config) == []
    settings = load_settings(config)
    assert components.data_args(settings)["path"] == str(project / "w.npz")
    assert components.load_bundle(settings).input_shape == components.data_shape(settings)[0]
