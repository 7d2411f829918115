"""Data registry: the embedded digits split, CIFAR-10 from a folder, user npz arrays."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from nni_nas import data, errors


def test_digits_split_is_fixed_stratified_and_disjoint():
    bundle = data.load_data("digits")
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (1078, 359, 360)
    assert bundle.input_shape == (1, 8, 8) and bundle.num_classes == 10
    again = data.load_data("digits")
    assert torch.equal(bundle.val.tensors[0], again.val.tensors[0])
    for split in (bundle.train, bundle.val, bundle.test):
        counts = np.bincount(split.tensors[1].numpy(), minlength=10)
        assert counts.min() >= 0.8 * counts.mean()  # stratified: every class present in proportion
    rows = {tuple(x.flatten().tolist()) for x in bundle.train.tensors[0]}
    overlap = sum(tuple(x.flatten().tolist()) in rows for x in bundle.test.tensors[0])
    assert overlap < 10  # a few digits images are exact duplicates in the source data; splits are disjoint by index


def test_digits_is_traced_for_nni():
    bundle = data.load_data("digits")
    assert hasattr(bundle.train, "trace_kwargs") or hasattr(bundle.train, "trace_args")


def test_unknown_data_names_the_known_ones():
    with pytest.raises(data.UnknownDataError, match="known data sets: cifar10, digits, image_folder, npz"):
        data.load_data("mnist")


def test_missing_cifar_folder_names_the_option(tmp_path):
    with pytest.raises(data.DataNotFoundError, match="data_args.root"):
        data.load_data("cifar10", root=str(tmp_path / "nope"))


def test_cifar_from_local_folder(tmp_path, monkeypatch):
    # A real CIFAR-10 folder layout (pickled batches), written here with random pixels: no download.
    import pickle

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 255, (20, 3072), dtype=np.uint8), "labels": list(range(10)) * 2}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [str(i) for i in range(10)]}))
    import torchvision.datasets.cifar

    # torchvision checks each file's md5 against the official release; these stand-in files differ
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args, **kwargs: True)
    bundle = data.load_data("cifar10", root=str(tmp_path), val_size=10)
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (90, 10, 20)
    x, y = bundle.train[0]
    assert x.shape == (3, 32, 32) and 0 <= y < 10


def test_npz_with_and_without_test_arrays(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 12, 12)).astype(np.float32)
    y = np.repeat(np.arange(4), 25)
    path = tmp_path / "arrays.npz"
    np.savez(path, x=x, y=y)
    bundle = data.load_data("npz", path=str(path))
    assert bundle.input_shape == (1, 12, 12) and bundle.num_classes == 4
    assert len(bundle.train) + len(bundle.val) + len(bundle.test) == 100
    np.savez(path, x=x, y=y, x_test=x[:10], y_test=y[:10])
    bundle = data.load_data("npz", path=str(path))
    assert len(bundle.test) == 10 and len(bundle.train) + len(bundle.val) == 100


def test_npz_errors(tmp_path):
    with pytest.raises(data.DataNotFoundError, match="data_args.path"):
        data.load_data("npz", path=str(tmp_path / "missing.npz"))
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match=r"lacks arrays \['x', 'y'\]"):
        data.load_data("npz", path=str(bad))


NPZ_MISTAKES = {
    "negative labels": ({"y": np.arange(40) % 4 - 1}, "y class ids must be in 0..9999, got -1..2"),
    "2-d labels": ({"y": np.zeros((40, 2))}, "y must be one label per row, shape (N,), got (40, 2)"),
    "fractional labels": ({"y": np.arange(40) % 4 + 0.5}, "y must hold integer class ids 0..K-1, got dtype float64"),
    "huge label": ({"y": np.full(40, 10**9)}, "y class ids must be in 0..9999"),
    "one class": ({"y": np.zeros(40, dtype=np.int64)}, "y holds a single class"),
    "test images of another size": ({"x_test": np.zeros((10, 16, 16)), "y_test": np.arange(10) % 4},
                                    "x_test images are (1, 16, 16) but x images are (1, 8, 8)"),
    "1x1 images": ({"x": np.zeros((40, 1, 1))}, "x images are 1x1; at least 4x4 pixels are needed"),
    "NaN pixels": ({"x": np.full((40, 8, 8), np.nan)}, "x holds NaN or infinite values (2560 of them)"),
    "rows differ": ({"y": np.arange(39) % 4}, "x has 40 rows but y has 39"),
}


@pytest.mark.parametrize("name", NPZ_MISTAKES)
def test_npz_mistakes_are_one_data_error_naming_the_array(tmp_path, name):
    change, expected = NPZ_MISTAKES[name]
    arrays = {"x": np.random.default_rng(0).normal(size=(40, 8, 8)).astype(np.float32), "y": np.arange(40) % 4}
    arrays.update(change)
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(errors.DataFormatError, match=re.escape(expected)):
        data.data_info("npz", path=str(tmp_path / "d.npz"))


def test_whole_float_labels_are_accepted_and_a_corrupt_file_is_named(tmp_path):
    np.savez(tmp_path / "ok.npz", x=np.zeros((40, 8, 8)), y=(np.arange(40) % 4).astype(np.float32))
    assert data.data_info("npz", path=str(tmp_path / "ok.npz")) == ((1, 8, 8), 4)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(errors.DataFormatError, match="is not a readable .npz of plain arrays"):
        data.data_info("npz", path=str(tmp_path / "bad.npz"))


def test_npz_too_small_for_its_stratified_splits_names_the_fraction(tmp_path):
    """Six samples of three classes cannot give a stratified test split of 0.2 (2 held out, 3 classes): one line
    naming test_fraction and the value that works, not scikit-learn's traceback."""
    path = tmp_path / "tiny.npz"
    np.savez(path, x=np.zeros((6, 8, 8), dtype=np.float32), y=np.arange(6) % 3)
    with pytest.raises(errors.DataFormatError, match=r"^test_fraction=0.2 of 6 samples holds out 2, fewer than the 3 "
                                                     r"classes \(each class is validated\): use test_fraction >= 0.5$"):
        data.load_data("npz", path=str(path))
    np.savez(path, x=np.zeros((6, 8, 8), dtype=np.float32), y=np.arange(6) % 3, x_test=np.zeros((3, 8, 8)),
             y_test=np.arange(3))
    with pytest.raises(errors.DataFormatError, match="^val_fraction=0.2 of 6 samples holds out 2"):
        data.load_data("npz", path=str(path))
