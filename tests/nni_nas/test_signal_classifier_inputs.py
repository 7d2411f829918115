"""``SignalClassifier`` refuses bad signals in one clear error before anything starts (no folder, no config, no
nnictl), and the module ``export_model`` returns takes signals exactly as ``fit`` took them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nni_nas import ImageClassifier, SignalClassifier
from nni_nas.errors import DataFormatError
from nni_nas.tasks import inputs
from nni_nas.tasks.project import Project

RNG = np.random.default_rng(0)
X = RNG.normal(size=(20, 3, 16)).astype(np.float32)
Y = np.arange(20) % 2


def _with(array, index, value):
    array = array.copy()
    array[index] = value
    return array


@pytest.mark.parametrize(("x", "y", "validation_data", "message"), [
    (X, Y[:19], None, "x has 20 samples but y has 19 labels"),
    (X, np.zeros(20, dtype=int), None, "y holds a single class"),
    (_with(X, (3, 2, 2), np.nan), Y, None, r"x holds NaN or infinite values \(1 of them\)"),
    (_with(X, (0, 0, 0), -np.inf), Y, None, "x holds NaN or infinite values"),
    (X[:, :, :5], Y, None, r"x: signals are 5 steps long \(shape \(20, 3, 5\), read as \(N, C, L\)\); at least 8"),
    (X.transpose(0, 2, 1)[:, :, :3], Y, None, r"pass x.transpose\(0, 2, 1\)"),  # (N, L, C) channels last
    (X[0, 0], Y, None, r"x must have shape \(N, L\) \(sequences\) or \(N, C, L\)"),  # one sequence, no N axis
    (X[:, :, :, None], Y, None, r"x must have shape \(N, L\) \(sequences\) or \(N, C, L\)"),
    ([np.zeros(16), np.zeros(17)], [0, 1], None, "x holds sequences of mixed sizes .* pad or cut them"),
    (np.array(["a"] * 20), Y, None, "x must hold real numbers"),
    (X.astype(np.complex64), Y, None, "x must hold real numbers, got dtype complex64"),
    (np.zeros((0, 16)), [], None, "x holds no signals"),
    (X, Y + 0.5, None, "fractions"),
    (X, Y, (X[:, :2], Y), r"validation signals are \(C, L\) = \(2, 16\) but training signals are \(3, 16\)"),
    (X, Y, (X, np.full(20, 7)), r"validation_data\[1\] holds labels the training labels lack: \[7\]"),
    (X, Y, (_with(X, (1, 1, 1), np.nan), Y), r"validation_data\[0\] holds NaN"),
])
def test_bad_signal_input_is_one_error_before_anything_starts(tmp_path, x, y, validation_data, message):
    clf = SignalClassifier(max_trials=1, epochs=1, directory=tmp_path / "project")
    with pytest.raises(DataFormatError, match=message):
        clf.fit(x, y, validation_data=validation_data)
    assert not (tmp_path / "project").exists()


def test_sequences_are_one_channel_and_images_point_sequences_to_signal_classifier(tmp_path):
    assert inputs.signals(np.zeros((4, 16))).shape == (4, 1, 16)
    assert inputs.signals(torch.zeros(4, 2, 16)).shape == (4, 2, 16)
    assert inputs.signals([[0.0] * 16, [1.0] * 16]).dtype == np.float32
    with pytest.raises(DataFormatError, match="go to SignalClassifier"):
        ImageClassifier(max_trials=1, epochs=1, directory=tmp_path / "p").fit(np.zeros((20, 64)), Y)


def _classifier(tmp_path, channels: int, length: int) -> SignalClassifier:
    clf = SignalClassifier(directory=tmp_path / "project")
    mean, std = [0.5 * c for c in range(channels)], [1.0 + c for c in range(channels)]
    clf.project = Project("signal", "exp", str(tmp_path), [0, 1], "print",
                          {"mean": mean, "std": std, "input_shape": [channels, length]})
    return clf


@pytest.mark.parametrize("channels", [1, 3])
def test_the_exported_module_takes_signals_as_fit_took_them_and_scales_like_fit(tmp_path, channels):
    clf = _classifier(tmp_path, channels, 16)
    model = clf._wrap(torch.nn.Identity(), {}, tmp_path)
    x = RNG.normal(size=(5, channels, 16)).astype(np.float32)
    mean, std = np.array(clf.project.preprocessing["mean"]), np.array(clf.project.preprocessing["std"])
    expected = torch.from_numpy(((x - mean[None, :, None]) / std[None, :, None]).astype(np.float32))
    with torch.no_grad():
        assert torch.allclose(model(x), expected, atol=1e-6)  # numpy (N, C, L)
        assert torch.allclose(model(torch.from_numpy(x).double()), expected, atol=1e-6)  # a float64 tensor
        if channels == 1:
            assert torch.allclose(model(x[:, 0]), expected, atol=1e-6)  # (N, L), as fit took it
    assert "import nni" not in (tmp_path / "inputs.py").read_text()


def test_predict_names_signals_of_another_shape_than_the_search(tmp_path):
    clf = _classifier(tmp_path, 2, 16)
    assert clf._inputs(np.zeros((3, 2, 16)), "x").shape == (3, 2, 16)
    with pytest.raises(DataFormatError, match=r"x: signals are \(C, L\) = \(2, 20\) but the model was searched on "
                                              r"\(2, 16\)"):
        clf._inputs(np.zeros((3, 2, 20)), "x")
