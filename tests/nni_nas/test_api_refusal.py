"""A search the check refuses leaves nothing behind: no config, no folder made for it, and what was there stays."""

from __future__ import annotations

import pytest

from nni_nas.api import search
from nni_nas.errors import NasError


def test_a_refused_search_writes_nothing(tmp_path):
    workdir = tmp_path / "runs" / "today"
    with pytest.raises(NasError) as caught:
        search("digits_cnn", "evolution", trials=2, workdir=workdir)
    assert "refused, nothing written" in str(caught.value)
    assert "tuner.classArgs" in str(caught.value)  # the check's own line names the field
    assert list(tmp_path.iterdir()) == []  # runs/today and runs, made for the search, are gone


def test_a_refused_search_keeps_what_its_folder_held(tmp_path):
    kept = tmp_path / "earlier.yml"
    kept.write_text("experimentName: earlier\n")
    with pytest.raises(NasError):
        search("digits_cnn", "evolution", trials=2, workdir=tmp_path)
    assert list(tmp_path.iterdir()) == [kept] and kept.read_text() == "experimentName: earlier\n"
