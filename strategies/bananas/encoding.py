"""How BANANAS's predictor sees an architecture (White, Neiswanger, Savani, AAAI 2021, Sec. 4 "path encoding").

- **path**: one feature per possible operation sequence of an input-to-output path of the cell (``4 + 4^2 + 4^3 =
  84`` on NAS-Bench-201, whose ``none`` carries no signal), 1 when the cell has such a path. The paper's encoding:
  it does not depend on how the cell's nodes are numbered, and it is what made the predictor accurate enough to
  beat Bayesian optimisation with a Gaussian process. Needs a space that declares its paths
  (:class:`model_spaces.contract.PathSpace`).
- **one_hot**: one feature per (label, value) of the flat ``arch`` dict, for any NNI space (the paper's
  "adjacency" encoding, in the form every space of ours can give).
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np

from nni_nas.arch import Choices

ENCODINGS = ("auto", "path", "one_hot")


class OneHotEncoding:
    """One column per (label, value) of the space's choices."""

    def __init__(self, choices: Choices):
        self.column: dict[tuple[str, str], int] = {}
        for label, values in choices.items():
            for value in values:
                self.column.setdefault((label, _value_key(value)), len(self.column))
        self.width = len(self.column)

    def encode(self, archs: list[dict[str, Any]]) -> np.ndarray:
        out = np.zeros((len(archs), self.width))
        for row, arch in enumerate(archs):
            for label, value in arch.items():
                column = self.column.get((label, _value_key(value)))
                if column is None:
                    raise ValueError(f"cannot encode architecture: {label}={value!r} is not in the space")
                out[row, column] = 1.0
        return out


class PathEncoding:
    """One column per operation sequence of length 1 to ``max_path_length`` over the space's ``path_ops``."""

    def __init__(self, space: Any):
        self.space = space
        sequences = (seq for length in range(1, space.max_path_length + 1)
                     for seq in itertools.product(space.path_ops, repeat=length))
        self.column = {seq: i for i, seq in enumerate(sequences)}
        self.width = len(self.column)

    def encode(self, archs: list[dict[str, Any]]) -> np.ndarray:
        out = np.zeros((len(archs), self.width))
        for row, arch in enumerate(archs):
            for path in self.space.cell_paths(arch):
                out[row, self.column[tuple(path)]] = 1.0
        return out


def _value_key(value: Any) -> str:
    return json.dumps(list(value) if isinstance(value, tuple) else value, sort_keys=True)


def make_encoding(kind: str, space: Any, choices: Choices) -> OneHotEncoding | PathEncoding:
    """The encoding called ``kind`` (``auto``: path where the space declares its paths, one-hot elsewhere)."""
    from model_spaces.contract import PathSpace  # torch: on first use, not at the tuner's start

    if kind == "path" or (kind == "auto" and isinstance(space, PathSpace)):
        return PathEncoding(space)
    return OneHotEncoding(choices)
