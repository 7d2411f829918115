"""Text classification data: ``pydocs`` (embedded, no download) and ``text_csv`` (your own file).

Texts become fixed-length sequences of UTF-8 bytes, the input of a character-level network (Zhang, Zhao, LeCun,
"Character-level Convolutional Networks for Text Classification", NeurIPS 2015): byte ``b`` is token ``b + 1``,
0 pads. No tokenizer and no vocabulary file, so an exported model needs nothing but torch and the same
:func:`encode`, which its README shows. ``input_shape`` is ``(max_len,)``.

``pydocs`` is a real, embedded text set: the docstrings of the public functions, classes and methods of 79
standard-library modules, labelled by the family of the module they document (files, text, numbers, network,
concurrency, data formats, time, language). Written by CPython's authors, it ships with every Python; on
Python 3.11 / Linux it has 2,209 docstrings (median 137 bytes), split 1,325 / 442 / 442. The largest class is
18.6 % of them; a TF-IDF character 2-4-gram logistic regression fitted on the training split scores 0.85 on the
test split, a reference point for the searched networks (``benchmarks/shipped_configs.py --pydocs-reference``).
The texts are collected in a fresh interpreter (:mod:`nni_nas.data.pydocs_corpus`), so every process gets the
same ones.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import nni
import numpy as np
import torch
from torch.utils.data import TensorDataset

from nni_nas.data import splits
from nni_nas.data.pydocs_corpus import PYDOCS_FAMILIES
from nni_nas.data.registry import DataBundle, register_data
from nni_nas.errors import ConfigError, DataFormatError, DataNotFoundError

VOCAB_SIZE = 257  # 256 byte values + padding
PAD = 0
PYDOCS_FRACTIONS = (0.6, 0.2, 0.2)  # train / val / test, stratified by class

def encode(texts: list[str], max_len: int) -> torch.Tensor:
    """``(len(texts), max_len)`` int64 tokens: UTF-8 bytes + 1, cut at ``max_len``, padded with 0."""
    out = np.zeros((len(texts), max_len), dtype=np.int64)
    for row, text in enumerate(texts):
        data = np.frombuffer(text.encode("utf-8")[:max_len], dtype=np.uint8)
        out[row, : len(data)] = data.astype(np.int64) + 1
    return torch.from_numpy(out)


def decode(tokens: torch.Tensor) -> str:
    """The text of one encoded row (padding dropped; a byte sequence cut mid-character is replaced)."""
    values = [int(t) - 1 for t in tokens.tolist() if int(t) != PAD]
    return bytes(values).decode("utf-8", errors="replace")


@functools.lru_cache(maxsize=1)
def _pydocs_raw() -> tuple[tuple[str, ...], tuple[int, ...]]:
    script = Path(__file__).with_name("pydocs_corpus.py")
    # -I: a fresh, isolated interpreter, so that nothing this process imported or patched (pytest swaps
    # threading.excepthook, for one) and no module in the working directory changes what is collected.
    proc = subprocess.run([sys.executable, "-I", str(script)], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"collecting the pydocs texts failed: {proc.stderr[-2000:]}")
    texts, labels = json.loads(proc.stdout)
    return tuple(texts), tuple(labels)


def pydocs_corpus() -> tuple[list[str], np.ndarray]:
    """The ``pydocs`` texts and labels (:mod:`nni_nas.data.pydocs_corpus`), collected once per process in a clean
    interpreter, identical in every process."""
    texts, labels = _pydocs_raw()
    return list(texts), np.asarray(labels, dtype=np.int64)


def _check_max_len(max_len: Any) -> None:
    if isinstance(max_len, bool) or not isinstance(max_len, int) or not 8 <= max_len <= 65_536:
        raise ConfigError(f"max_len must be an integer from 8 to 65536 (bytes per text), got {max_len!r}")


# -------------------------------------------------------------------------------------------- pydocs
@nni.trace
class PydocsDataset(TensorDataset):
    """One split of ``pydocs``: stratified and seeded (``split_seed``, default 0), 60 / 20 / 20 %."""

    def __init__(self, split: str, max_len: int = 256, split_seed: int = 0):
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be train, val or test, got {split!r}")
        _check_max_len(max_len)
        texts, y = pydocs_corpus()
        chosen = splits.three_way(y, PYDOCS_FRACTIONS, split_seed)[split]
        super().__init__(encode([texts[i] for i in chosen], max_len), torch.from_numpy(y[chosen]))


def _pydocs_info(max_len: int = 256, **_: Any):
    _check_max_len(max_len)
    return (max_len,), len(PYDOCS_FAMILIES)


@register_data("pydocs", info=_pydocs_info)
def load_pydocs(max_len: int = 256, split_seed: int = 0) -> DataBundle:
    """Python standard-library docstrings by module family (8 classes); embedded, no download."""
    input_shape, num_classes = _pydocs_info(max_len)
    make = lambda split: PydocsDataset(split, max_len, split_seed)  # noqa: E731
    return DataBundle("pydocs", make("train"), make("val"), make("test"), input_shape, num_classes)


# ------------------------------------------------------------------------------------------ text_csv
def _read_text_csv(path: str, text_column: str, label_column: str) -> tuple[list[str], list[str]]:
    path = os.path.expanduser(path)
    if not Path(path).is_file():
        raise DataNotFoundError(f"text file not found: {path!r}; set data_args.path (and test_path) to a CSV or "
                                "TSV file with a header row")
    with open(path, newline="", encoding="utf-8") as fh:
        header = fh.readline()
        fh.seek(0)
        delimiter = "\t" if "\t" in header else ","  # the header row's separator: tab (TSV) or comma (CSV)
        reader = csv.DictReader(fh, delimiter=delimiter)
        missing = [c for c in (text_column, label_column) if c not in (reader.fieldnames or [])]
        if missing:
            raise DataFormatError(f"{path} has no column(s) {missing}; its header is {reader.fieldnames} "
                             "(set data_args.text_column / label_column)")
        rows = [(row[text_column] or "", row[label_column]) for row in reader]
    if not rows:
        raise DataFormatError(f"{path} has a header but no rows")
    return [text for text, _ in rows], [label for _, label in rows]


def _label_ids(path: str, test_path: str | None, label_column: str, text_column: str,
               val_path: str | None = None) -> list[str]:
    labels = set(_read_text_csv(path, text_column, label_column)[1])
    for other in (test_path, val_path):
        if other:
            labels |= set(_read_text_csv(other, text_column, label_column)[1])
    return sorted(labels)


@nni.trace
class TextCsvDataset(TensorDataset):
    """One split of a user's CSV / TSV file (header row; columns ``text_column`` and ``label_column``).

    Labels may be any strings; they are numbered in sorted order (``metrics.json`` of a trial does not
    depend on it). Without ``test_path``, ``test_fraction`` of the rows is held out (0: none, and there is no test
    split); without ``val_path``,
    ``val_fraction`` of the rest validates. Splits are stratified and seeded.
    """

    def __init__(self, path: str, split: str, test_path: str | None = None, text_column: str = "text",
                 label_column: str = "label", max_len: int = 256, val_fraction: float = 0.2,
                 test_fraction: float = 0.2, split_seed: int = 0, val_path: str | None = None):
        _check_max_len(max_len)
        ids = {label: i for i, label in enumerate(_label_ids(path, test_path, label_column, text_column, val_path))}
        texts, labels = _read_text_csv(path, text_column, label_column)
        y = np.asarray([ids[label] for label in labels], dtype=np.int64)
        idx = np.arange(len(y))
        if test_path:
            test_texts, test_labels = _read_text_csv(test_path, text_column, label_column)
            test = (test_texts, np.asarray([ids[label] for label in test_labels], dtype=np.int64))
        elif test_fraction > 0:
            idx, test_idx = splits.holdout(idx, y, test_fraction, split_seed, "test_fraction")
            test = ([texts[i] for i in test_idx], y[test_idx])
        else:
            test = None
        if val_path:
            val_texts, val_labels = _read_text_csv(val_path, text_column, label_column)
            val = (val_texts, np.asarray([ids[label] for label in val_labels], dtype=np.int64))
        else:
            idx, val_idx = splits.holdout(idx, y, val_fraction, split_seed, "val_fraction")
            val = ([texts[i] for i in val_idx], y[val_idx])
        chosen = {"train": ([texts[i] for i in idx], y[idx]), "val": val, "test": test}[split]
        if chosen is None:
            raise ValueError(f"{path} has no test split (no test_path, test_fraction 0)")
        super().__init__(encode(chosen[0], max_len), torch.from_numpy(chosen[1]))


def _text_csv_info(path: str, test_path: str | None = None, text_column: str = "text", label_column: str = "label",
                   max_len: int = 256, val_path: str | None = None, **_: Any):
    _check_max_len(max_len)
    return (max_len,), len(_label_ids(path, test_path, label_column, text_column, val_path))


@register_data("text_csv", info=_text_csv_info)
def load_text_csv(path: str, test_path: str | None = None, text_column: str = "text", label_column: str = "label",
                  max_len: int = 256, val_fraction: float = 0.2, test_fraction: float = 0.2,
                  split_seed: int = 0, val_path: str | None = None) -> DataBundle:
    """Your own labelled texts from a local CSV / TSV file (see :class:`TextCsvDataset`)."""
    input_shape, num_classes = _text_csv_info(path, test_path, text_column, label_column, max_len, val_path)
    make = lambda split: TextCsvDataset(path, split, test_path, text_column, label_column,  # noqa: E731
                                        max_len, val_fraction, test_fraction, split_seed, val_path)
    test = make("test") if test_path or test_fraction > 0 else None  # no test split: validation values only
    return DataBundle("text_csv", make("train"), make("val"), test, input_shape, num_classes)
