"""Surrogate accuracy predictors for PNAS (Liu et al., "Progressive Neural Architecture Search", ECCV 2018,
Sec. 3.3 "Performance prediction with surrogate model").

The paper predicts a cell's accuracy from its encoding with an LSTM over the cell's tokens or with an MLP,
and uses an ensemble of 5 predictors, each trained on a different part of the data, to rank the candidate
cells. Both are here, trained on all evaluated architectures and refit after each step. A predictor only
needs to *rank* well, so targets are standardised and the ensemble's mean prediction is the score.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import numpy as np
import torch
from torch import nn

from nni_nas.arch import Choices

_ABSENT = "<not grown>"  # never equal to a JSON-encoded value


class ArchEncoder:
    """Turns ``arch`` dicts into two token ids per label, for the predictors.

    - a *position* token, unique per (label, value): the same op on two edges is two tokens;
    - a *value* token shared by every label with that value: what the paper's predictors get by embedding the
      ops of every block with one table, so that what is learnt about an op in small cells carries over to the
      blocks grown later.

    A label missing from the dict is a block **not grown yet** (PNAS encodes a b-block cell by its b blocks);
    it gets its own position token and the padding value token.
    """

    def __init__(self, choices: Choices):
        self.labels = list(choices)
        self.position: dict[str, dict[str, int]] = {}
        self.value: dict[str, int] = {}
        offset = 0
        for label, values in choices.items():
            keys = [self._value_key(value) for value in values]
            self.position[label] = {key: offset + i for i, key in enumerate(keys)}
            self.position[label][_ABSENT] = offset + len(keys)
            offset += len(keys) + 1
            for key in keys:
                self.value.setdefault(key, len(self.value))
        self.num_positions = offset
        self.num_values = len(self.value)  # id num_values pads a label that is not grown

    @staticmethod
    def _value_key(value: Any) -> str:
        return json.dumps(list(value) if isinstance(value, tuple) else value, sort_keys=True)

    def encode(self, archs: list[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
        """(position ids, value ids), each an (N, labels) long tensor."""
        positions, values = [], []
        try:
            for arch in archs:
                keys = [self._value_key(arch[label]) if label in arch else _ABSENT for label in self.labels]
                positions.append([self.position[label][key] for label, key in zip(self.labels, keys)])
                values.append([self.value[key] if key != _ABSENT else self.num_values for key in keys])
        except KeyError as err:
            raise ValueError(f"cannot encode architecture: value {err} is not in the space") from None
        shape = (len(archs), len(self.labels))
        return (torch.tensor(positions, dtype=torch.long).reshape(shape),
                torch.tensor(values, dtype=torch.long).reshape(shape))


@contextlib.contextmanager
def single_thread():
    """Run torch on one thread: these predictors are tiny, and on a busy machine a second thread makes each
    step many times slower (measured: 48 points, 5 members, 300 steps: 1.3 s on one thread, 52 s on two
    under load)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class MlpPredictor(nn.Module):
    """The paper's MLP predictor: one-hot position tokens, concatenated with the value tokens averaged over the
    grown labels (the paper averages its block embeddings), two hidden ReLU layers, one output."""

    def __init__(self, encoder: ArchEncoder, hidden: int = 64):
        super().__init__()
        self.num_positions, self.num_values = encoder.num_positions, encoder.num_values
        self.net = nn.Sequential(nn.Linear(self.num_positions + self.num_values, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, positions: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        one_hot = torch.zeros(positions.shape[0], self.num_positions).scatter_(1, positions, 1.0)
        counts = torch.zeros(values.shape[0], self.num_values + 1).scatter_add_(1, values, torch.ones_like(
            values, dtype=torch.float32))[:, : self.num_values]
        mean = counts / counts.sum(1, keepdim=True).clamp(min=1.0)
        return self.net(torch.cat([one_hot, mean], 1)).squeeze(1)


class LstmPredictor(nn.Module):
    """The paper's RNN predictor: per label the sum of a position and a value embedding, an LSTM over the labels
    in order (the blocks of the cell, as they are grown), a linear layer on the final hidden state."""

    def __init__(self, encoder: ArchEncoder, hidden: int = 64):
        super().__init__()
        self.embed_position = nn.Embedding(encoder.num_positions, hidden)
        self.embed_value = nn.Embedding(encoder.num_values + 1, hidden, padding_idx=encoder.num_values)
        self.lstm = nn.LSTM(hidden, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, positions: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        _, (h_n, _) = self.lstm(self.embed_position(positions) + self.embed_value(values))
        return self.out(h_n[-1]).squeeze(1)


PREDICTORS = {"mlp": MlpPredictor, "lstm": LstmPredictor}


class SurrogateEnsemble:
    """An ensemble of ``members`` predictors, each fit on a different random ``1 - 1/members`` share of the
    evaluated architectures (the paper's 5 folds), by Adam on the squared error of standardised accuracies.

    Parameters
    ----------
    encoder
        The space's :class:`ArchEncoder`.
    kind
        ``mlp`` or ``lstm``.
    members
        Ensemble size (paper: 5).
    hidden
        Width of the hidden layers / LSTM state.
    epochs
        Full-batch training steps per fit.
    lr, weight_decay
        Adam settings.
    seed
        Seed of the initialisation and the folds; each fit uses the next seed.
    """

    def __init__(self, encoder: ArchEncoder, kind: str = "mlp", members: int = 5, hidden: int = 64,
                 epochs: int = 300, lr: float = 0.01, weight_decay: float = 1e-4, seed: int = 0):
        if kind not in PREDICTORS:
            raise ValueError(f"unknown predictor {kind!r}; choose one of {sorted(PREDICTORS)}")
        if members < 1 or epochs < 1:
            raise ValueError(f"members and epochs must be >= 1, got {members} and {epochs}")
        self.encoder, self.kind, self.members, self.hidden = encoder, kind, members, hidden
        self.epochs, self.lr, self.weight_decay = epochs, lr, weight_decay
        self.seed = seed
        self.models: list[nn.Module] = []
        self.fits = 0

    @property
    def fitted(self) -> bool:
        return bool(self.models)

    def fit(self, archs: list[dict[str, Any]], accuracies: list[float]) -> None:
        """Fit every member on its share of ``archs`` (needs at least 2 architectures)."""
        with single_thread():
            self._fit(archs, accuracies)

    def _fit(self, archs: list[dict[str, Any]], accuracies: list[float]) -> None:
        if len(archs) < 2:
            raise ValueError(f"the surrogate needs at least 2 evaluated architectures, got {len(archs)}")
        generator = torch.Generator().manual_seed(self.seed + self.fits)
        self.fits += 1
        positions, values = self.encoder.encode(archs)
        y = torch.tensor(accuracies, dtype=torch.float32)
        y = (y - y.mean()) / (y.std() if y.std() > 0 else torch.tensor(1.0))
        self.models = []
        for member in range(self.members):
            keep = torch.ones(len(archs), dtype=torch.bool)
            if self.members > 1:  # leave out one fold, as in k-fold training of the paper's ensemble
                fold = torch.randperm(len(archs), generator=generator) % self.members == member
                keep = ~fold if (~fold).sum() >= 2 else keep
            self.models.append(self._train_one(positions[keep], values[keep], y[keep], generator))

    def _train_one(self, positions: torch.Tensor, values: torch.Tensor, y: torch.Tensor,
                   generator: torch.Generator) -> nn.Module:
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        model = PREDICTORS[self.kind](self.encoder, self.hidden)
        optimiser = torch.optim.Adam(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        model.train()
        for _ in range(self.epochs):
            optimiser.zero_grad()
            loss = torch.mean((model(positions, values) - y) ** 2)
            loss.backward()
            optimiser.step()
        model.eval()
        return model

    @torch.no_grad()
    def predict(self, archs: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation over the members of the predicted (standardised) accuracy."""
        if not self.models:
            raise RuntimeError("the surrogate is not fitted yet; call fit() with evaluated architectures first")
        positions, values = self.encoder.encode(archs)
        with single_thread():
            predictions = torch.stack([model(positions, values) for model in self.models])
        return predictions.mean(0).numpy(), predictions.std(0, unbiased=False).numpy()
