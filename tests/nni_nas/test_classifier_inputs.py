"""The Python API refuses bad data in one clear error before anything starts (no folder, no config, no nnictl)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nni_nas import ImageClassifier, TextClassifier
from nni_nas.errors import ConfigError, DataFormatError
from nni_nas.tasks import inputs

RNG = np.random.default_rng(0)
X = RNG.normal(size=(20, 8, 8)).astype(np.float32)
Y = np.arange(20) % 2


def _with(array, index, value):
    array = array.copy()
    array[index] = value
    return array


@pytest.mark.parametrize(("x", "y", "validation_data", "message"), [
    (X, Y[:19], None, "x has 20 samples but y has 19 labels"),
    (X, np.zeros(20, dtype=int), None, "y holds a single class"),
    (_with(X, (3, 2, 2), np.nan), Y, None, r"x holds NaN or infinite values \(1 of them\)"),
    (_with(X, (0, 0, 0), np.inf), Y, None, "x holds NaN or infinite values"),
    ([np.zeros((8, 8)), np.zeros((9, 9))], [0, 1], None, "x holds images of mixed sizes"),
    (X, Y + 0.5, None, "fractions"),
    (X, _with(Y.astype(float), 4, np.nan), None, "y holds NaN or infinite labels"),
    (X, [object()] * 20, None, "y must hold integers or strings, got object"),
    (X, np.ones(20, dtype=bool), None, "y must hold integer class ids or strings, got dtype bool"),
    (X, np.eye(2)[Y], None, "one-hot labels: pass y.argmax"),
    (X, Y, (X[:, :4, :4], Y), "validation images are"),
    (X, Y, (X, np.full(20, 7)), "validation_data\\[1\\] holds labels the training labels lack: \\[7\\]"),
    (X, Y, (X[:5], Y), "validation_data\\[0\\] has 5 samples but validation_data\\[1\\] has 20"),
    (np.zeros((20, 2, 2)), Y, None, "at least 4x4"),
    (np.array(["a"] * 20), Y, None, "must hold real numbers"),
])
def test_bad_image_input_is_one_error_before_anything_starts(tmp_path, x, y, validation_data, message):
    clf = ImageClassifier(max_trials=1, epochs=1, directory=tmp_path / "project")
    with pytest.raises(DataFormatError, match=message):
        clf.fit(x, y, validation_data=validation_data)
    assert not (tmp_path / "project").exists()


@pytest.mark.parametrize(("x", "y", "message"), [
    (["a text", "another"], [0], "x has 2 samples but y has 1 labels"),
    (["a text", "another"], ["x", "x"], "y holds a single class \\('x'\\)"),
    (["a text", 3], [0, 1], r"x\[1\] is int 3, not a text"),
    ("one string", [0], "got one string"),
    (["a", "b"], [0.5, 1.0], "fractions"),
])
def test_bad_text_input_is_one_error_before_anything_starts(tmp_path, x, y, message):
    clf = TextClassifier(max_trials=1, epochs=1, directory=tmp_path / "project")
    with pytest.raises(DataFormatError, match=message):
        clf.fit(x, y)
    assert not (tmp_path / "project").exists()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"max_trials": 0}, "max_trials must be an integer"),
    ({"epochs": 2.5}, "epochs must be an integer"),
    ({"max_trials": True}, "max_trials must be an integer"),
])
def test_bad_settings(tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ImageClassifier(directory=tmp_path, **kwargs)


def test_inputs_accept_tensors_channels_last_and_string_labels():
    assert inputs.images(torch.zeros(3, 1, 8, 8)).shape == (3, 1, 8, 8)
    assert inputs.images(np.zeros((3, 8, 8, 3))).shape == (3, 3, 8, 8)  # channels last
    assert inputs.images(np.zeros((3, 8, 8))).shape == (3, 1, 8, 8)
    labels = inputs.labels(np.array(["cat", "dog", "cat"], dtype=object))
    classes = inputs.classes_of(labels)
    assert classes.tolist() == ["cat", "dog"] and inputs.class_ids(labels, classes).tolist() == [0, 1, 0]
    assert inputs.labels(torch.tensor([[1.0], [2.0]])).tolist() == [1, 2]  # a column of whole floats
