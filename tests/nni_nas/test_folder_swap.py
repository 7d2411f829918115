"""Replacing an export folder: never a moment without the target, never the old export lost on failure."""

from __future__ import annotations

import errno
import multiprocessing
import os
from pathlib import Path

import pytest

from nni_nas.export import swap


def folder(path: Path, text: str) -> Path:
    path.mkdir()
    (path / "model.py").write_text(text)
    return path


def _watch(target: str, stop, missing) -> None:
    while not stop.is_set():
        if not os.path.exists(target):
            missing.value += 1


def test_a_reader_never_finds_the_target_missing(tmp_path):
    # (with the exchange switched off, renaming aside, the reader found no target 22,100 times in 2,000 swaps:
    # benchmarks/folder_swap.py)
    if swap._renameat2() is None:
        pytest.skip("no renameat2 in this C library")
    target = folder(tmp_path / "rank1", "v0")
    stop, missing = multiprocessing.Event(), multiprocessing.Value("i", 0)
    reader = multiprocessing.get_context("fork").Process(target=_watch, args=(str(target), stop, missing))
    reader.start()
    try:
        for i in range(1, 151):
            swap.replace_folder(folder(tmp_path / f".new{i}", f"v{i}"), target)
    finally:
        stop.set()
        reader.join()
    assert (target / "model.py").read_text() == "v150"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rank1"]  # every old folder was deleted
    assert missing.value == 0


def test_a_failed_exchange_keeps_the_old_export(tmp_path, monkeypatch):
    target = folder(tmp_path / "rank1", "old")
    new = folder(tmp_path / ".new", "new")
    monkeypatch.setattr(swap, "_renameat2", lambda: lambda *args: _fail(errno.EIO))
    with pytest.raises(OSError, match="Input/output error"):
        swap.replace_folder(new, target)
    assert (target / "model.py").read_text() == "old" and (new / "model.py").read_text() == "new"


def test_without_exchange_a_failure_between_the_renames_puts_the_old_export_back(tmp_path, monkeypatch):
    target = folder(tmp_path / "rank1", "old")
    new = folder(tmp_path / ".new", "new")
    monkeypatch.setattr(swap, "exchange", lambda a, b: False)  # a file system without RENAME_EXCHANGE
    real_rename = Path.rename

    def rename(self, destination):
        if self == new:  # the second step: the old folder is aside, the new one fails to move in
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_rename(self, destination)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(OSError, match="No space"):
        swap.replace_folder(new, target)
    assert (target / "model.py").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".new", "rank1"]  # nothing left aside


def test_without_exchange_the_new_folder_replaces_the_old(tmp_path, monkeypatch):
    target = folder(tmp_path / "rank1", "old")
    monkeypatch.setattr(swap, "exchange", lambda a, b: False)
    swap.replace_folder(folder(tmp_path / ".new", "new"), target)
    assert (target / "model.py").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["rank1"]


def _fail(code: int) -> int:
    import ctypes

    ctypes.set_errno(code)
    return -1
