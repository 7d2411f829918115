"""Text data: the embedded ``pydocs`` set (real CPython docstrings by module family), byte encoding, and users'
own CSV / TSV files; bad input is one clear error."""

from __future__ import annotations

import csv

import pytest
import torch

from model_spaces import text_cnn
from nni_nas.checks import check_config
from nni_nas.data import DataNotFoundError, data_info, load_data
from nni_nas.data.text import PYDOCS_FAMILIES, VOCAB_SIZE, _pydocs_raw, decode, encode, pydocs_corpus
from tests.nni_nas.test_config_check import REPO, edited


def test_encoding_is_utf8_bytes_plus_one_cut_and_padded():
    tokens = encode(["abc", "é" * 10], max_len=8)
    assert tokens.dtype == torch.int64 and tokens.shape == (2, 8)
    assert tokens[0].tolist() == [98, 99, 100, 0, 0, 0, 0, 0]  # ord("a") + 1, ...; 0 pads
    assert decode(tokens[0]) == "abc" and decode(tokens[1]) == "é" * 4  # 2 bytes per "é", cut at 8 bytes
    assert VOCAB_SIZE == text_cnn.VOCAB_SIZE == 257


def test_pydocs_is_real_fixed_and_split_without_overlap():
    texts, labels = pydocs_corpus()
    assert len(texts) > 2000 and len(set(texts)) == len(texts)
    assert sorted(set(labels.tolist())) == list(range(len(PYDOCS_FAMILIES)))
    # a real docstring, under its module's family
    isclose = next(t for t in texts if t.startswith("Determine whether two floating point numbers are close"))
    assert labels[texts.index(isclose)] == list(PYDOCS_FAMILIES).index("numbers")

    bundle = load_data("pydocs", max_len=128)
    assert bundle.input_shape == (128,) and bundle.num_classes == 8 and data_info("pydocs", max_len=128) == ((128,), 8)
    sizes = [len(split) for split in (bundle.train, bundle.val, bundle.test)]
    assert sum(sizes) == len(texts) and sizes[0] == pytest.approx(0.6 * len(texts), abs=2)
    rows = {split: {decode(x) for x in getattr(bundle, split).tensors[0]} for split in ("train", "val", "test")}
    assert not rows["train"] & rows["test"] and not rows["val"] & rows["test"]
    again = load_data("pydocs", max_len=128)
    assert torch.equal(again.test.tensors[0], bundle.test.tensors[0])  # fixed split, same in every trial
    x = bundle.train.tensors[0]
    assert int(x.min()) == 0 and int(x.max()) < VOCAB_SIZE


def test_corpus_does_not_depend_on_what_this_process_patched(monkeypatch):
    # pytest itself swaps threading.excepthook; texts are collected in a fresh interpreter, the same everywhere
    import threading

    before = pydocs_corpus()
    monkeypatch.setattr(threading, "excepthook", lambda args: None)
    _pydocs_raw.cache_clear()
    after = pydocs_corpus()
    assert after[0] == before[0] and (after[1] == before[1]).all()
    assert any(text.startswith("excepthook(exc_type, exc_value, exc_traceback, thread)") for text in after[0])


def write_csv(path, rows, delimiter=","):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        writer.writerow(["label", "body"])
        writer.writerows(rows)


def real_rows(count: int) -> list[tuple[str, str]]:
    texts, labels = pydocs_corpus()
    names = list(PYDOCS_FAMILIES)
    return [(names[int(labels[i])], texts[i]) for i in range(0, len(texts), max(1, len(texts) // count))][:count]


@pytest.mark.parametrize("delimiter", [",", "\t"])
def test_text_csv_reads_named_columns_and_string_labels(tmp_path, delimiter):
    rows = real_rows(200)
    write_csv(tmp_path / "train.csv", rows[:150], delimiter)
    write_csv(tmp_path / "test.csv", rows[150:], delimiter)
    args = {"path": str(tmp_path / "train.csv"), "test_path": str(tmp_path / "test.csv"), "text_column": "body",
            "max_len": 64}
    bundle = load_data("text_csv", **args)
    classes = sorted({label for label, _ in rows})
    assert bundle.num_classes == len(classes) and bundle.input_shape == (64,)
    assert len(bundle.train) + len(bundle.val) == 150 and len(bundle.test) == 50
    first_test_label, first_test_text = rows[150]
    x, y = bundle.test.tensors
    assert decode(x[0]) == first_test_text.encode()[:64].decode("utf-8", "replace")
    assert int(y[0]) == classes.index(first_test_label)


def test_text_csv_errors_name_the_fix(tmp_path):
    with pytest.raises(DataNotFoundError, match="data_args.path"):
        load_data("text_csv", path=str(tmp_path / "none.csv"))
    write_csv(tmp_path / "t.csv", real_rows(20))
    with pytest.raises(ValueError, match=r"no column\(s\) \['text'\].*text_column"):
        load_data("text_csv", path=str(tmp_path / "t.csv"))
    with pytest.raises(ValueError, match="max_len must be an integer from 8 to 65536"):
        load_data("pydocs", max_len=4)


def test_an_image_space_on_text_data_is_named_by_check(tmp_path):
    config = edited(tmp_path, lambda r: r["tuner"]["classArgs"].update(data="pydocs"))
    assert any("space 'digits_cnn' takes images" in problem for problem in check_config(config))
    text_config = edited(tmp_path, lambda r: r["tuner"]["classArgs"].update(data="digits"), "pydocs_evolution.yml")
    assert any("space 'text_cnn' takes byte-encoded texts" in problem for problem in check_config(text_config))
    assert check_config(REPO / "configs" / "pydocs_evolution.yml") == []
