"""``image_folder``: real PNG files in class folders (written here from scikit-learn's digits), split and scaled;
``nni-nas check`` names each kind of broken folder in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from nni_nas import data
from nni_nas.checks import check_config
from nni_nas.errors import DataFormatError, DataNotFoundError

REPO = Path(__file__).resolve().parents[2]


def write_digits_folder(root: Path, per_class: int = 20, classes: int = 3, layout: tuple[str, ...] = ("",)) -> Path:
    """``root/<split>/<digit>/<i>.png`` from the first images of each digit (8x8, 0..16 scaled to 0..255)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for label in range(classes):
        images = digits.images[digits.target == label][: per_class * len(layout)]
        for i, image in enumerate(images):
            folder = root / layout[i % len(layout)] / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray((image * 255 / 16).astype(np.uint8), mode="L").save(folder / f"{i}.png")
    return root


def test_class_folders_are_split_stratified_and_standardised_with_the_training_statistics(tmp_path):
    root = write_digits_folder(tmp_path / "digits")
    bundle = data.load_data("image_folder", root=str(root), image_size=[8, 8])
    assert bundle.input_shape == (1, 8, 8) and bundle.num_classes == 3
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (38, 10, 12)  # 60 images: 0.2 test, 0.2 of rest
    for split in (bundle.train, bundle.val, bundle.test):
        counts = np.bincount(split.tensors[1].numpy(), minlength=3)
        assert counts.max() - counts.min() <= 1  # stratified
    x = bundle.train.tensors[0]
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 0.02  # standardised by the train split
    pre = bundle.preprocessing
    assert pre["classes"] == ["0", "1", "2"] and pre["scale"] == pytest.approx(1 / 255)
    # the recorded statistics map raw pixels to exactly what the network trained on
    from PIL import Image

    train_again = data.load_data("image_folder", root=str(root), image_size=[8, 8])
    assert np.array_equal(train_again.train.tensors[0].numpy(), x.numpy())  # seeded split
    raw = np.asarray(Image.open(root / "0" / "0.png"), dtype=np.float32)
    scaled = (raw * pre["scale"] - pre["mean"][0]) / pre["std"][0]
    rows = x[:, 0].numpy().reshape(len(x), -1)
    held = np.concatenate([bundle.val.tensors[0][:, 0].numpy(), bundle.test.tensors[0][:, 0].numpy()])
    candidates = np.concatenate([rows, held.reshape(len(held), -1)])
    assert np.abs(candidates - scaled.reshape(1, -1)).max(axis=1).min() < 1e-5


def test_test_fraction_0_holds_no_test_split_out_unless_the_folder_has_one(tmp_path):
    from nni_nas.errors import ConfigError

    root = write_digits_folder(tmp_path / "digits")
    bundle = data.load_data("image_folder", root=str(root), image_size=[8, 8], test_fraction=0)
    assert bundle.test is None and (len(bundle.train), len(bundle.val)) == (48, 12)  # every image trains or validates
    split = write_digits_folder(tmp_path / "split", per_class=5, layout=("train", "val", "test"))
    assert len(data.load_data("image_folder", root=str(split), image_size=[8, 8], test_fraction=0).test) == 15
    for bad in (-0.1, 1, True):
        with pytest.raises(ConfigError, match=r"test_fraction must be a number from 0 \(no test split\) to below 1"):
            data.load_data("image_folder", root=str(root), test_fraction=bad)
    with pytest.raises(ConfigError, match="val_fraction must be a number between 0 and 1, got 0"):
        data.load_data("image_folder", root=str(root), val_fraction=0)


def test_train_val_test_folders_are_used_as_given_and_images_resized(tmp_path):
    root = write_digits_folder(tmp_path / "digits", per_class=5, layout=("train", "val", "test"))
    bundle = data.load_data("image_folder", root=str(root), image_size=[16, 12])
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (15, 15, 15)
    assert tuple(bundle.train.tensors[0].shape[1:]) == (1, 16, 12) == bundle.input_shape
    assert data.load_data("image_folder", root=str(root), channels=3).input_shape == (3, 32, 32)


def _config(tmp_path: Path, root: Path) -> Path:
    raw = yaml.safe_load((REPO / "configs" / "digits_evolution.yml").read_text())
    raw["tuner"]["classArgs"].update(data="image_folder", data_args={"root": str(root), "image_size": [8, 8]})
    path = tmp_path / "digits_evolution.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _one_class(tmp_path: Path) -> Path:
    return write_digits_folder(tmp_path / "one", per_class=3, classes=1)


def _unreadable(tmp_path: Path) -> Path:
    root = write_digits_folder(tmp_path / "bad", per_class=3)
    (root / "1" / "broken.png").write_bytes(b"not a png")
    return root


def _empty(tmp_path: Path) -> Path:
    (tmp_path / "empty" / "cats").mkdir(parents=True)
    (tmp_path / "empty" / "cats" / "notes.txt").write_text("no images here")
    return tmp_path / "empty"


@pytest.mark.parametrize(("make", "expected", "error"), [
    (lambda tmp: tmp / "missing", "image folder not found: '{tmp}/missing'", DataNotFoundError),
    (_empty, "{tmp}/empty holds no images", DataFormatError),
    (_one_class, "{tmp}/one holds a single class ('0')", DataFormatError),
    (_unreadable, "1 file(s) cannot be read as images: {tmp}/bad/1/broken.png", DataFormatError),
])
def test_check_names_each_broken_folder_in_one_line(tmp_path, make, expected, error):
    root = make(tmp_path)
    problems = check_config(_config(tmp_path, root))
    expected = expected.format(tmp=tmp_path)
    assert len(problems) == 1 and expected in problems[0] and "\n" not in problems[0], problems
    with pytest.raises(error):
        data.load_data("image_folder", root=str(root), image_size=[8, 8])


def test_a_good_folder_passes_the_check(tmp_path):
    assert check_config(_config(tmp_path, write_digits_folder(tmp_path / "digits", per_class=3))) == []


def test_bad_arguments_are_named(tmp_path):
    root = write_digits_folder(tmp_path / "digits", per_class=3)
    with pytest.raises(Exception, match=r"image_size must be \[height, width\]"):
        data.data_info("image_folder", root=str(root), image_size=[0, 8])
    with pytest.raises(Exception, match="channels must be 1"):
        data.data_info("image_folder", root=str(root), channels=2)


def test_a_folder_of_pngs_trains_through_the_trial_entry_point(tmp_path):
    # The trial entry point nnictl runs, in process: the nnictl route itself is the same for every data set and the
    # Python API's end-to-end test covers it; what is specific to a folder (reading, splitting, scaling, recording
    # the scaling beside the weights) is all here, in seconds instead of an experiment's start-up.
    import json

    from nni_nas.export.readme import _scaling_lines
    from nni_nas.runtime.trial import main

    root = write_digits_folder(tmp_path / "digits", per_class=180, classes=10)
    config = _config(tmp_path, root)
    arch = {"width": 32, "depth": 2, "op0": "conv3x3", "activation": "relu", "op1": "conv3x3", "op2": "identity",
            "op3": "identity", "skip": [1]}
    assert main(["--config", str(config), "--arch", json.dumps(arch), "--out", str(tmp_path / "trial"),
                 "--epochs", "2"]) == 0
    metrics = json.loads((tmp_path / "trial" / "metrics.json").read_text())
    assert metrics["val_acc"] > 0.5 and metrics["test_acc"] > 0.5  # 10 classes: chance is 0.1
    settings = json.loads((tmp_path / "trial" / "settings.json").read_text())
    pre = settings["preprocessing"]
    assert settings["input_shape"] == [1, 8, 8] and pre["classes"] == [str(i) for i in range(10)]
    assert len(pre["mean"]) == len(pre["std"]) == 1 and 0 < pre["mean"][0] < 1
    line = _scaling_lines(type("Loaded", (), {"preprocessing": pre})())[0]
    assert f"minus mean {pre['mean']}" in line and f"divided by std {pre['std']}" in line
