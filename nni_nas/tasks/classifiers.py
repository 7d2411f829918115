"""``ImageClassifier`` and ``TextClassifier``: AutoKeras's interface on NNI's engine.

::

    from nni_nas import ImageClassifier
    clf = ImageClassifier(strategy="evolution", max_trials=12, epochs=4, directory="runs/digits")
    clf.fit(x_train, y_train, validation_data=(x_val, y_val))
    clf.evaluate(x_test, y_test); clf.predict(x_test); clf.top(5)
    model = clf.export_model()          # a plain torch.nn.Module with the trained weights

``fit`` writes the data into ``directory`` in a format nni-nas's data sets read (``data.npz`` for images,
``train.csv`` / ``val.csv`` for texts), writes an ordinary NNI config (``config.yml``) and runs it with the real
``nnictl`` (:mod:`nni_nas.api`), printing the web portal's address. ``max_trials`` is the project's total, as in
AutoKeras: ``overwrite=False`` on a folder that holds a search continues it up to ``max_trials``
(:mod:`nni_nas.tasks.project`); ``overwrite=True`` starts a new one.
"""


from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from nni_nas.errors import ConfigError, DataFormatError
from nni_nas.tasks import inputs
from nni_nas.tasks.base import BaseClassifier, check_fraction, listed, write_csv
from nni_nas.tasks.project import fingerprint

INPUTS_FILE = "inputs.py"
INPUTS_SOURCE = '''"""Images as ImageClassifier.fit took them, as the exported network's (N, C, H, W) float input:
(N, H, W), (N, C, H, W) with C of 1 or 3, or channels-last (N, H, W, C) with C of 1, 3 or 4 (the rule of
nni-nas's tasks/inputs.py). Needs torch only."""

import torch
from torch import nn


class AsImages(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels

    def forward(self, x):
        x = torch.as_tensor(x)
        if x.dim() == 3:
            x = x.unsqueeze(1)
        elif x.dim() == 4 and x.shape[1] not in (1, 3) and x.shape[-1] in (1, 3, 4):
            x = x.permute(0, 3, 1, 2)
        return x.float()
'''


class ImageClassifier(BaseClassifier):
    """Search an image classifier (default space ``digits_cnn``, sized to the images) through nnictl.

    Parameters
    ----------
    strategy
        A shipped strategy (``evolution``, ``random``, ``pnas``, ...; ``nni-nas`` lists them) or a tuner class path.
    max_trials
        Architectures in the project in total; a resumed project (``overwrite=False``) searches on up to it.
    epochs
        Training epochs of each trial.
    directory
        The project folder (default ``runs/image_classifier``): data, config and ``project.json``.
    overwrite
        Start a new search even if ``directory`` holds one.
    space, space_args, train, strategy_args
        Override the defaults (a ``digits_cnn`` of widths 16/32/64 and depth up to 4; SGD, lr 0.05, batch 64).
    seed, port, timeout
        Seed of training and strategy; the web portal's port (default: a free one); seconds to wait.
    """

    task = "image"
    default_space = "digits_cnn"

    def fit(self, x: Any, y: Any = None, validation_data: tuple[Any, Any] | None = None,
            validation_split: float = 0.2, image_size: tuple[int, int] = (32, 32)) -> ImageClassifier:
        """Search on images ``x`` with labels ``y`` (arrays or tensors), or on a folder of class sub-folders
        (``x`` a path, ``y`` None; resized to ``image_size``). Without ``validation_data``, ``validation_split`` of
        the data validates (stratified, seeded). Arrays have no test split: the trials report validation accuracy
        only (``evaluate`` measures your own test data); a folder's ``test`` sub-folder, or 20 % of its training
        images held out, is a test split, and the trials report ``test_acc`` on it."""
        if isinstance(x, str | Path):
            return self._fit_folder(Path(x), y, validation_data, validation_split, image_size)
        images = inputs.images(x, "x")
        ids, classes = self._labels(y, "y", x=images)
        if validation_data is not None:
            x_val = inputs.images(validation_data[0], "validation_data[0]")
            y_val, _ = self._labels(validation_data[1], "validation_data[1]", classes, x_val, "validation_data[0]")
            if x_val.shape[1:] != images.shape[1:]:
                raise DataFormatError(f"validation images are {x_val.shape[1:]} but training images are "
                                      f"{images.shape[1:]}; both must have the same (C, H, W)")
        else:
            kept, held = self._holdout(ids, classes, validation_split)
            images, x_val, ids, y_val = images[kept], images[held], ids[kept], ids[held]
        mean = images.mean(axis=(0, 2, 3))
        std = np.maximum(images.std(axis=(0, 2, 3)), 1e-6)
        scale = lambda a: ((a - mean[None, :, None, None]) / std[None, :, None, None]).astype(np.float32)  # noqa: E731
        write = lambda folder: np.savez(folder / "data.npz", x=scale(images), y=ids, x_val=scale(x_val),  # noqa: E731
                                        y_val=y_val)
        preprocessing = {"scale": 1.0, "mean": mean.tolist(), "std": std.tolist()}
        # no test split (test_fraction 0): the trials report the validation accuracy under its own name only
        self._search("npz", lambda folder: {"path": str((folder / "data.npz").resolve()), "test_fraction": 0},
                     listed(classes),
                     fingerprint(images, ids, x_val, y_val), preprocessing, images.shape[1:], write)
        return self

    def _fit_folder(self, root: Path, y: Any, validation_data: Any, validation_split: float,
                    image_size: tuple[int, int]) -> ImageClassifier:
        from nni_nas.data import data_info
        from nni_nas.data.image_folder import scan

        if y is not None or validation_data is not None:
            raise DataFormatError("with a folder, labels are its class sub-folders (y=None) and validation is its "
                                  "val sub-folder or validation_split of train (validation_data=None)")
        check_fraction(validation_split)
        data_args = {"root": str(root.resolve()), "image_size": list(image_size), "val_fraction": validation_split,
                     "split_seed": self.seed}
        input_shape, _ = data_info("image_folder", **data_args)
        layout = scan(str(root))
        files = sorted(str(path) for part in layout.values() for path, _ in part)
        train = layout.get("train", layout.get(None))
        classes = sorted({label for _, label in train})
        data_print = fingerprint(files, [p.stat().st_mtime_ns for p in map(Path, files)], data_args)
        self._search("image_folder", data_args, classes, data_print, {}, input_shape)
        self.folder_image_size = tuple(image_size)
        return self

    def _space_args(self, input_shape: tuple[int, ...]) -> dict:
        if self.space_args is not None or self.space != "digits_cnn":
            return dict(self.space_args or {})
        return {"widths": [16, 32, 64], "max_depth": 4}

    def _train(self) -> dict:
        return {"batch_size": 64, "lr": 0.05, "optimizer": "sgd", "weight_decay": 0.0005, "latency_runs": 5,
                **super()._train()}

    def _preprocessing(self) -> dict:
        """How raw images become the network's input: ``(x * scale - mean) / std`` per channel."""
        project = self._need_project()
        if project.preprocessing:
            return project.preprocessing
        best = self._record().ranked()[0]
        settings = json.loads((best.trial_dir / "settings.json").read_text())
        return settings.get("preprocessing") or {}

    def _wrap(self, network, preprocessing: dict, folder: Path):
        """``network`` behind the input scaling of ``fit`` and the image layouts ``fit`` accepts: the returned module
        takes images exactly as ``fit`` took them. The layout module is written into ``folder`` (``inputs.py``), so
        the exported folder stays usable without nni-nas."""
        from torch import nn

        pre = self._preprocessing()
        if not pre:
            return network
        import torch

        from nni_nas.export import formats as fmt

        channels = len(pre["mean"])
        (folder / INPUTS_FILE).write_text(INPUTS_SOURCE)
        layout = fmt.import_source(folder / INPUTS_FILE)  # (kept imported: the returned model's class lives there)
        scaler = nn.Conv2d(channels, channels, 1, groups=channels)
        with torch.no_grad():
            std = torch.tensor(pre["std"], dtype=torch.float32)
            scaler.weight.copy_((pre.get("scale", 1.0) / std).view(channels, 1, 1, 1))
            scaler.bias.copy_(-torch.tensor(pre["mean"], dtype=torch.float32) / std)
        scaler.requires_grad_(False)
        return nn.Sequential(layout.AsImages(channels), scaler, network)

    def _inputs(self, x: Any, name: str):
        import torch

        if isinstance(x, str | Path):  # a folder: every image under it, sorted, as the training folder was read
            return torch.from_numpy(self._folder(Path(x))[0])
        return torch.from_numpy(inputs.images(x, name))

    def _folder(self, root: Path) -> tuple[np.ndarray, list[str]]:
        """Raw pixels (0..255) of every image under ``root`` (sorted), resized to the network's input, and the
        name of the folder each is in (its class, in an image-folder layout)."""
        from nni_nas.data.image_folder import IMAGE_EXTENSIONS, _read_images

        if not root.is_dir():
            raise DataFormatError(f"{root} is not a folder of images")
        files = [(p, p.parent.name) for p in sorted(root.rglob("*")) if p.suffix.lower() in IMAGE_EXTENSIONS]
        if not files:
            raise DataFormatError(f"{root} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        shape = self._input_shape()
        return _read_images(files, tuple(shape[1:]), shape[0]) * 255.0, [label for _, label in files]

    def _input_shape(self) -> tuple[int, ...]:
        best = self._record().ranked()[0]
        return tuple(json.loads((best.trial_dir / "settings.json").read_text())["input_shape"])

    def evaluate(self, x: Any, y: Any = None) -> dict[str, float]:
        """As for any classifier; ``x`` may be a folder of class sub-folders (``y`` None: the folder names)."""
        if isinstance(x, str | Path) and y is None:
            images, labels = self._folder(Path(x))
            return super().evaluate(images, labels)
        return super().evaluate(x, y)


class TextClassifier(BaseClassifier):
    """Search a character-level text classifier (default space ``text_cnn``) through nnictl; the same parameters
    as :class:`ImageClassifier` (``directory`` defaults to ``runs/text_classifier``; training: Adam, lr 0.003)."""

    task = "text"
    default_space = "text_cnn"

    def fit(self, x: Any, y: Any, validation_data: tuple[Any, Any] | None = None, validation_split: float = 0.2,
            max_len: int = 256) -> TextClassifier:
        """Search on texts ``x`` (a list of strings) with labels ``y``; texts become ``max_len`` UTF-8 bytes. There is
        no test split: the trials report validation accuracy only (``evaluate`` measures your own test data)."""
        texts = inputs.texts(x, "x")
        ids, classes = self._labels(y, "y", x=texts)
        if validation_data is not None:
            val_texts = inputs.texts(validation_data[0], "validation_data[0]")
            val_ids, _ = self._labels(validation_data[1], "validation_data[1]", classes, val_texts,
                                      "validation_data[0]")
        else:
            kept, held = self._holdout(ids, classes, validation_split)
            texts, val_texts, ids, val_ids = [texts[i] for i in kept], [texts[i] for i in held], ids[kept], ids[held]
        if isinstance(max_len, bool) or not isinstance(max_len, int) or not 8 <= max_len <= 65_536:
            raise ConfigError(f"max_len must be an integer from 8 to 65536, got {max_len!r}")
        width = len(str(len(classes) - 1))  # text_csv numbers labels in sorted order: zero-padded ids keep it

        def write(folder: Path) -> None:
            for name, part_texts, part_ids in (("train", texts, ids), ("val", val_texts, val_ids)):
                write_csv(folder / f"{name}.csv", part_texts, [f"{i:0{width}d}" for i in part_ids])

        def data_args(folder: Path) -> dict:
            csv = lambda name: str((folder / f"{name}.csv").resolve())  # noqa: E731
            # no test split (test_fraction 0): the trials report the validation accuracy under its own name only
            return {"path": csv("train"), "val_path": csv("val"), "test_fraction": 0, "max_len": max_len}

        self._search("text_csv", data_args, listed(classes), fingerprint(texts, ids, val_texts, val_ids, max_len),
                     {"max_len": max_len}, (max_len,), write)
        return self

    def _space_args(self, input_shape: tuple[int, ...]) -> dict:
        if self.space_args is not None or self.space != "text_cnn":
            return dict(self.space_args or {})
        return {"widths": [32, 64, 128], "max_depth": 4, "embed_dim": 32}

    def _train(self) -> dict:
        return {"batch_size": 64, "lr": 0.003, "optimizer": "adam", "weight_decay": 0.0001, "latency_runs": 5,
                **super()._train()}

    def _inputs(self, x: Any, name: str):
        from nni_nas.data.text import encode

        return encode(inputs.texts(x, name), self._need_project().preprocessing["max_len"])
