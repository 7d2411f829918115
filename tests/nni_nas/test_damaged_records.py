"""`top`, `report` and `export` on damaged records or with bad arguments: one line naming the problem and a
non-zero exit, never a traceback; the experiment's files are left as they were."""

from __future__ import annotations

import pytest

from nni_nas import cli
from tests.nni_nas.nni_records import FakeTrial, class_args, make_experiment

ARCH = {"width": 16, "depth": 1, "op0": "conv3x3", "activation": "relu", "op1": "conv3x3", "skip": [0]}
SPACE_ARGS = {"widths": [16], "max_depth": 2}
FINAL = {"default": 0.9, "val_acc": 0.9, "test_acc": 0.88, "params": 1000, "flops": 9000, "latency_ms": 0.1}


@pytest.fixture
def records(tmp_path, monkeypatch):
    root = tmp_path / "nni-experiments"
    make_experiment(root, "good", [FakeTrial("t1", arch=ARCH, final=FINAL)], class_args(space_args=SPACE_ARGS))
    monkeypatch.setenv("NNI_EXPERIMENTS_DIR", str(root))
    monkeypatch.chdir(tmp_path)
    return root


def one_line_error(capsys, *argv: str) -> str:
    code = cli.main(list(argv))
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def trial_folder(root):
    return root / "good" / "environments" / "local-env" / "trials" / "t1"


def test_truncated_weights_are_named(records, capsys):
    weights = trial_folder(records) / "model.pt"
    weights.write_bytes(weights.read_bytes()[:100])
    err = one_line_error(capsys, "export", "good", "--out", "out")
    assert "model.pt cannot be read as trained weights" in err and "damaged or truncated" in err
    assert not (records.parent / "out").exists() or not any((records.parent / "out").iterdir())


def test_an_arch_file_that_is_not_an_object_is_named(records, capsys):
    (trial_folder(records) / "arch.json").write_text("[1, 2]")
    err = one_line_error(capsys, "top", "good")
    assert "arch.json holds list [1, 2], not an architecture" in err


@pytest.mark.parametrize("damage", [b"", b"SQLite format 3\x00 but not really a database"], ids=["empty", "corrupt"])
def test_a_damaged_database_is_named(records, capsys, damage):
    (records / "good" / "db" / "nni.sqlite").write_bytes(damage)
    for verb in ("top", "report", "export"):
        err = one_line_error(capsys, verb, "good")
        assert "the records of experiment good" in err and "cannot be read" in err


def test_an_experiment_id_is_an_id_not_a_path(records, capsys):
    err = one_line_error(capsys, "top", "../good")
    assert "'../good' is not an experiment id" in err


def test_a_misspelt_metric_is_an_error_not_a_fallback(records, capsys):
    err = one_line_error(capsys, "report", "good", "--metric", "val_accc")
    assert "reports 'val_accc'; their final results have: default, flops, latency_ms, params, test_acc" in err


@pytest.mark.parametrize("argv", [["top", "good", "--top", "-1"], ["top", "good", "--k", "0"],
                                  ["export", "good", "--top", "0"], ["report", "good", "--top", "x"]])
def test_counts_below_one_are_usage_errors(records, capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2 and "expected a whole number >= 1" in capsys.readouterr().err


def test_an_unwritable_output_folder_is_one_line(records, capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    err = one_line_error(capsys, "export", "good", "--out", str(blocker / "sub"), "--format", "source")
    assert str(blocker) in err


def test_a_ranked_trial_whose_weights_were_deleted_is_marked_and_does_not_export(tmp_path, monkeypatch, capsys):
    root = tmp_path / "nni-experiments"
    make_experiment(root, "gone", [FakeTrial("best", arch=ARCH, final={**FINAL, "default": 0.95}),
                                   FakeTrial("second", arch=ARCH, final=FINAL)], class_args(space_args=SPACE_ARGS))
    weights = root / "gone" / "environments" / "local-env" / "trials" / "best" / "model.pt"
    weights.unlink()
    monkeypatch.setenv("NNI_EXPERIMENTS_DIR", str(root))
    assert cli.main(["top", "gone"]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert rows[0].split()[:2] == ["1", "best"] and rows[0].endswith(
        "<- no model.pt in its folder (deleted?): export gives its architecture only")
    assert "<-" not in rows[1]
    monkeypatch.chdir(tmp_path)
    assert cli.main(["export", "gone", "--trial", "best", "--out", "out"]) != 0
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"no model.pt in {weights.parent}" in err, err
