"""The Python API refuses bad data in one clear error before anything starts (no folder, no config, no nnictl)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nni_nas import ImageClassifier, TextClassifier
from nni_nas.errors import ConfigError, DataFormatError, NasError
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


# ------------------------------------------------------------------ budgets, folders and sizes (issue 23)
@pytest.fixture
def no_nnictl(monkeypatch):
    """fit up to the point where it would start nnictl: the start is recorded, not run."""
    from nni_nas.tasks.base import BaseClassifier

    started = []
    monkeypatch.setattr(BaseClassifier, "_run", lambda self, start: started.append(start))
    return started


@pytest.mark.parametrize(("max_trials", "tuner"), [
    (1, "strategies.random_search.RandomTuner"), (2, "strategies.random_search.RandomTuner"),
    (3, "strategies.random_search.RandomTuner"), (4, "strategies.evolution.RegularizedEvolutionTuner"),
])
def test_the_default_strategy_works_for_any_budget(tmp_path, no_nnictl, max_trials, tuner):
    import yaml

    from nni_nas.checks import check_config

    clf = ImageClassifier(max_trials=max_trials, epochs=1, directory=tmp_path / "project")
    clf.fit(X, Y)
    assert len(no_nnictl) == 1  # it got as far as starting the search
    config = tmp_path / "project" / "config.yml"
    assert yaml.safe_load(config.read_text())["tuner"]["className"] == tuner
    assert check_config(config) == []


def test_evolution_named_with_too_few_trials_is_one_line_before_anything_is_written(tmp_path, no_nnictl):
    with pytest.raises(ConfigError, match=r"strategy='evolution' needs max_trials >= 4 .* got 2: raise max_trials, "
                                          r"or leave strategy out \(random search below 4 trials\)"):
        ImageClassifier(strategy="evolution", max_trials=2, directory=tmp_path / "project")
    assert list(tmp_path.iterdir()) == []


def test_a_refused_search_leaves_the_folder_as_it_was(tmp_path, no_nnictl):
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("mine\n")
    clf = ImageClassifier(strategy="evolution", strategy_args={"population_size": 5}, max_trials=3, epochs=1,
                          directory=project)
    with pytest.raises(NasError, match="ImageClassifier cannot start this search: .*population_size: 5 >= "
                                       "maxTrialNumber 3"):
        clf.fit(X, Y)
    assert sorted(p.name for p in project.iterdir()) == ["notes.txt"]  # no data.npz, no config.yml
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]  # nor a scratch folder beside it
    assert not no_nnictl


@pytest.mark.parametrize(("x", "y", "split", "message"), [
    (X[:3], Y[:3], 0.2, "class 1 has only 1 sample: a stratified validation_split needs at least 2 of each class"),
    (X[:9], np.r_[Y[:8], 7], 0.2, "class 7 has only 1 sample"),  # one class with one image
    (X, Y, 0.001, r"validation_split=0.001 of 20 samples holds out 1, fewer than the 2 classes \(each class is "
                  r"validated\): use validation_split >= 0.1"),
    (X, Y, 0.97, "leaves 0 to train on, fewer than the 2 classes: use validation_split <= 0.9"),
])
def test_data_too_small_for_a_validation_split_is_one_line(tmp_path, x, y, split, message):
    clf = ImageClassifier(max_trials=1, epochs=1, directory=tmp_path / "project")
    with pytest.raises(DataFormatError, match=message) as raised:
        clf.fit(x, y, validation_split=split)
    assert str(raised.value).endswith("; or pass validation_data=(x_val, y_val)")
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "project").exists()


def test_texts_too_few_for_a_validation_split_are_one_line(tmp_path):
    with pytest.raises(DataFormatError, match="class 'b' has only 1 sample"):
        TextClassifier(max_trials=1, directory=tmp_path / "project").fit(["x", "y", "z"], ["a", "a", "b"])
    assert not (tmp_path / "project").exists()


def test_a_file_as_the_project_directory_is_one_line(tmp_path):
    file = tmp_path / "results.txt"
    file.write_text("not a folder\n")
    with pytest.raises(ConfigError, match="directory '.*results.txt' is a file, not a folder: pass the path of a "
                                          "folder"):
        ImageClassifier(directory=file)
    with pytest.raises(ConfigError, match=r"is under .*results.txt, which is a file"):
        TextClassifier(directory=file / "project")
    assert file.read_text() == "not a folder\n"


def test_data_above_the_size_limit_is_refused_before_it_is_copied(tmp_path, monkeypatch):
    assert inputs.MAX_ARRAY_BYTES == 1 << 30
    # the rule at a small limit first: refused before fit writes anything
    with monkeypatch.context() as patched:
        patched.setattr(inputs, "MAX_ARRAY_BYTES", X.nbytes - 1)
        with pytest.raises(DataFormatError, match="above the Python API's limit"):
            ImageClassifier(max_trials=1, directory=tmp_path / "project").fit(X, Y)
        with pytest.raises(DataFormatError, match="above the Python API's limit"):  # a list of images: before asarray
            ImageClassifier(max_trials=1, directory=tmp_path / "project").fit(list(X), Y)
    # four 20000x20000 images (a zero-stride view: no memory behind it) are 6 GiB as float32
    huge = np.broadcast_to(np.zeros(1, dtype=np.uint8), (4, 20000, 20000))
    with pytest.raises(DataFormatError, match=r"x holds 4 images of shape \(20000, 20000\): 6.0 GiB as the "
                                              r"float32 array fit writes, above the Python API's limit of 1 GiB; put "
                                              r"them in class sub-folders and pass the folder"):
        ImageClassifier(max_trials=1, directory=tmp_path / "project").fit(huge, [0, 1, 0, 1])
    assert not (tmp_path / "project").exists()
