"""``SignalClassifier``: time series, sensor channels and sequences of numbers, on NNI's engine.

::

    from nni_nas import SignalClassifier
    clf = SignalClassifier(max_trials=12, epochs=20, directory="runs/gunpoint")
    clf.fit(x_train, y_train)            # x: (N, L) sequences or (N, C, L) signals, channels first
    clf.evaluate(x_test, y_test); clf.predict(x_test)
    model = clf.export_model()           # takes (N, L) or (N, C, L) exactly as fit did

The shape rule is the ``npz`` data set's (:mod:`nni_nas.data.signals`): ``(N, L)`` is one channel, ``(N, C, L)`` is
``C`` channels of ``L`` steps; channels-last ``(N, L, C)`` arrays must be transposed first (nothing is guessed from
the sizes). ``fit`` scales each channel by the training split's mean and standard deviation, writes ``data.npz``
(``kind: signal``) and an ordinary NNI config into ``directory``, and searches ``signal_cnn`` with the real nnictl.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nni_nas.errors import DataFormatError
from nni_nas.tasks import inputs
from nni_nas.tasks.base import BaseClassifier, listed
from nni_nas.tasks.project import fingerprint

INPUTS_FILE = "inputs.py"
INPUTS_SOURCE = '''"""Signals as SignalClassifier.fit took them, as the exported network's (N, C, L) float input:
(N, L) sequences get a channel axis, (N, C, L) pass as they are (the rule of nni-nas's data/signals.py).
Needs torch only."""

import torch
from torch import nn


class AsSignals(nn.Module):
    def forward(self, x):
        x = torch.as_tensor(x)
        if x.dim() == 2:
            x = x.unsqueeze(1)
        return x.float()
'''


class SignalClassifier(BaseClassifier):
    """Search a 1-D CNN classifier for signals (default space ``signal_cnn``) through nnictl; the same parameters as
    :class:`~nni_nas.tasks.classifiers.ImageClassifier` (``directory`` defaults to ``runs/signal_classifier``;
    training: Adam, lr 0.003, batch 32; the space: widths 16/32/64, depth up to 4)."""

    task = "signal"
    default_space = "signal_cnn"

    def fit(self, x: Any, y: Any, validation_data: tuple[Any, Any] | None = None,
            validation_split: float = 0.2) -> SignalClassifier:
        """Search on signals ``x`` (``(N, L)`` or ``(N, C, L)``; arrays, tensors or lists) with labels ``y``. Without
        ``validation_data``, ``validation_split`` of the data validates (stratified, seeded). There is no test
        split: the trials report validation accuracy only (``evaluate`` measures your own test data)."""
        signals = inputs.signals(x, "x")
        ids, classes = self._labels(y, "y", x=signals)
        if validation_data is not None:
            x_val = inputs.signals(validation_data[0], "validation_data[0]")
            y_val, _ = self._labels(validation_data[1], "validation_data[1]", classes, x_val, "validation_data[0]")
            if x_val.shape[1:] != signals.shape[1:]:
                raise DataFormatError(f"validation signals are (C, L) = {x_val.shape[1:]} but training signals are "
                                      f"{signals.shape[1:]}; both must have the same channels and length")
        else:
            kept, held = self._holdout(ids, classes, validation_split)
            signals, x_val, ids, y_val = signals[kept], signals[held], ids[kept], ids[held]
        mean = signals.mean(axis=(0, 2))
        std = np.maximum(signals.std(axis=(0, 2)), 1e-6)
        scale = lambda a: ((a - mean[None, :, None]) / std[None, :, None]).astype(np.float32)  # noqa: E731
        write = lambda folder: np.savez(folder / "data.npz", x=scale(signals), y=ids, x_val=scale(x_val),  # noqa: E731
                                        y_val=y_val)
        preprocessing = {"mean": mean.tolist(), "std": std.tolist(), "input_shape": list(signals.shape[1:])}
        # no test split (test_fraction 0): the trials report the validation accuracy under its own name only
        self._search("npz", lambda folder: {"path": str((folder / "data.npz").resolve()), "kind": "signal",
                                            "test_fraction": 0},
                     listed(classes), fingerprint(signals, ids, x_val, y_val), preprocessing, signals.shape[1:], write)
        return self

    def _space_args(self, input_shape: tuple[int, ...]) -> dict:
        if self.space_args is not None or self.space != "signal_cnn":
            return dict(self.space_args or {})
        return {"widths": [16, 32, 64], "max_depth": 4}

    def _train(self) -> dict:
        return {"batch_size": 32, "lr": 0.003, "optimizer": "adam", "weight_decay": 0.0001, "latency_runs": 5,
                **super()._train()}

    def _wrap(self, network, preprocessing: dict, folder: Path):
        """``network`` behind the per-channel scaling of ``fit`` and the shapes ``fit`` accepts, so the returned
        module takes signals exactly as ``fit`` took them. The shape adapter is written into ``folder``
        (``inputs.py``), so the exported folder stays usable without nni-nas."""
        import torch
        from torch import nn

        from nni_nas.export import formats as fmt

        pre = self._preprocessing()
        channels = len(pre["mean"])
        (folder / INPUTS_FILE).write_text(INPUTS_SOURCE)
        layout = fmt.import_source(folder / INPUTS_FILE)  # (kept imported: the returned model's class lives there)
        scaler = nn.Conv1d(channels, channels, 1, groups=channels)
        with torch.no_grad():
            std = torch.tensor(pre["std"], dtype=torch.float32)
            scaler.weight.copy_((1.0 / std).view(channels, 1, 1))
            scaler.bias.copy_(-torch.tensor(pre["mean"], dtype=torch.float32) / std)
        scaler.requires_grad_(False)
        return nn.Sequential(layout.AsSignals(), scaler, network)

    def _inputs(self, x: Any, name: str):
        import torch

        signals = inputs.signals(x, name)
        trained = tuple(self._need_project().preprocessing["input_shape"])
        if signals.shape[1:] != trained:
            raise DataFormatError(f"{name}: signals are (C, L) = {signals.shape[1:]} but the model was searched on "
                                  f"{trained}; give the same channels and length as fit")
        return torch.from_numpy(signals)
