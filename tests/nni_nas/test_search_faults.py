"""The rules behind a search's faults, without nnictl (the real ones are in tests/e2e/test_disk_full_nnictl.py and
test_manager_lost_nnictl.py): a full disk is recognised and named; a failed start on a full disk is not retried and
leaves no empty experiment folder; a dead manager is noticed instead of waited for; a trial interrupted by either
says so in one line; ``nni-nas resume`` refuses what it cannot resume and counts the interrupted trials."""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from nni_nas import disk
from nni_nas.errors import DiskFullError, ManagerLostError
from nni_nas.manager import nnictl
from nni_nas.runtime.interruptions import interruption_line, is_interrupted


def test_full_disk_errors_are_recognised():
    assert disk.is_disk_full(OSError(errno.ENOSPC, "write failed"))  # by its errno, whatever the words
    assert disk.is_disk_full(OSError(errno.EFBIG, "write failed"))
    assert disk.is_disk_full("Job metrics error: Datastore errorSQLITE_FULL: database or disk is full")
    assert not disk.is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not disk.is_disk_full(ValueError("lr must be positive"))


def test_the_probe_meets_a_file_size_limit_and_names_it(tmp_path):
    """A real write under a 64 KiB RLIMIT_FSIZE (statvfs would say the disk has room): named as the limit."""
    assert disk.disk_problem(tmp_path) is None
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))
    try:
        problem = disk.disk_problem(tmp_path / "experiments")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    assert problem and "file-size limit" in problem and "ulimit -f" in problem, problem
    assert list((tmp_path / "experiments").iterdir()) == []  # the probe file is removed


def test_the_probe_meets_a_full_filesystem(tmp_path):
    folder = tmp_path / "small"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)],
                      capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    try:
        problem = disk.disk_problem(folder)
        assert problem and f"the disk holding {folder} is full" in problem and "free space there" in problem
        assert list(folder.iterdir()) == []
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_an_unstarted_experiment_folder_is_removed_and_one_with_records_kept(tmp_path):
    empty = tmp_path / "abc123"
    (empty / "log").mkdir(parents=True)
    (empty / "db").mkdir()
    (empty / "log" / "nnimanager.log").write_text("")
    (tmp_path / "_latest").symlink_to("abc123")
    kept = tmp_path / "def456"
    (kept / "db").mkdir(parents=True)
    (kept / "db" / "nni.sqlite").write_bytes(b"SQLite format 3\0")
    nnictl.remove_unstarted(tmp_path, "abc123")
    nnictl.remove_unstarted(tmp_path, "def456")
    assert not empty.exists() and not (tmp_path / "_latest").is_symlink()
    assert (kept / "db" / "nni.sqlite").is_file()


def test_a_start_that_fails_on_a_full_disk_is_not_retried(tmp_path, monkeypatch):
    """nnictl reports only that the manager did not answer; the disk probed after the failed start says why, and
    that ends the start (before, three attempts of a minute each, each leaving an empty folder)."""
    config = tmp_path / "x.yml"
    config.write_text("experimentWorkingDirectory: exps\n")
    root = tmp_path / "exps"
    calls = []

    def fake_nnictl(command, **kwargs):
        calls.append(command)
        (root / f"exp{len(calls)}" / "log").mkdir(parents=True)
        (root / f"exp{len(calls)}" / "log" / "nnictl_stderr.log").write_text("")
        return SimpleNamespace(returncode=1, stdout=f"Experiment ID: exp{len(calls)}\n",
                               stderr="requests ... /api/v1/nni/check-status ... Connection refused")

    probes = iter([None, "the disk holding exps is full (0 bytes free): ..."])
    monkeypatch.setattr(nnictl.subprocess, "run", fake_nnictl)
    monkeypatch.setattr(disk, "disk_problem", lambda folder, need=disk.PROBE_BYTES: next(probes))
    with pytest.raises(DiskFullError, match="the NNI manager could not start: the disk holding exps is full"):
        nnictl.create_experiment(config, 1234, env={"HOME": str(tmp_path)})
    assert len(calls) == 1 and list(root.iterdir()) == []


def test_a_manager_whose_process_died_is_lost_at_once_and_a_silent_one_after_the_limit(tmp_path):
    # a killed manager nobody has reaped yet is a zombie (its parent, nnictl, has exited): dead all the same
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    stat = Path(f"/proc/{dead.pid}/stat")
    while stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.05)
    try:
        watch = nnictl.ManagerWatch(nnictl.free_port(), lost_after=3600)
        watch.experiment_id, watch.pid, watch.folder = "k7x2mq9d", dead.pid, tmp_path / "k7x2mq9d"
        with pytest.raises(ManagerLostError, match=r"the NNI manager of experiment k7x2mq9d \(pid \d+\) is gone .*"
                                                   r"resume the search with: \S*nni-nas resume k7x2mq9d"):
            watch.unanswered()
    finally:
        dead.wait()
    alive = nnictl.ManagerWatch(nnictl.free_port(), lost_after=3600)
    alive.experiment_id, alive.pid = "k7x2mq9d", os.getpid()
    alive.unanswered()  # its process runs: one unanswered poll is not a lost manager
    silent = nnictl.ManagerWatch(nnictl.free_port(), lost_after=0.0)
    with pytest.raises(ManagerLostError, match="has not answered for 0 s"):
        silent.unanswered()


def test_following_a_port_nobody_answers_ends_with_the_lost_manager_not_the_timeout(monkeypatch):
    monkeypatch.setattr(nnictl, "MANAGER_LOST_AFTER_S", 1.0)
    with pytest.raises(ManagerLostError):
        nnictl.wait_until_finished(nnictl.free_port(), timeout=3600, poll=0.1)


def test_an_interrupted_trial_says_so_in_one_line(monkeypatch):
    import requests

    monkeypatch.setenv("NNI_TRIAL_COMMAND_CHANNEL", "http://localhost:18432/env/local-env/BJ2jz")
    monkeypatch.setenv("NNI_EXP_ID", "mkc23jw7")
    lost = requests.exceptions.ConnectionError(
        "HTTPConnectionPool(host='localhost', port=18432): Max retries exceeded with url: /env/local-env/BJ2jz "
        "(Caused by NewConnectionError(... [Errno 111] Connection refused))")
    line = interruption_line(lost)
    assert line.startswith("interrupted: this trial lost its NNI manager (localhost:18432 does not answer")
    assert "`nni-nas resume mkc23jw7` runs this trial's architecture again" in line and "\n" not in line
    full = interruption_line(OSError(errno.ENOSPC, "No space left on device", "/x/model.pt.tmp"))
    assert full.startswith("interrupted: the disk is full (No space left on device: /x/model.pt.tmp)")
    assert is_interrupted(line) and is_interrupted(full)
    other = requests.exceptions.ConnectionError("HTTPConnectionPool(host='example.org', port=443): refused")
    assert interruption_line(other) is None and interruption_line(ValueError("bad")) is None
    assert not is_interrupted("training loss became nan in epoch 0") and not is_interrupted(None)


def test_resume_refuses_an_unknown_and_a_running_experiment_in_one_line(tmp_path, monkeypatch, capsys):
    from nni_nas.cli import main
    from tests.nni_nas.nni_records import FakeTrial, class_args, make_experiment

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NNI_EXPERIMENTS_DIR", raising=False)
    root = tmp_path / "nni-experiments"
    make_experiment(root, "running1", [FakeTrial("t1", final={"default": 0.5}, save_weights=False)],
                    class_args(space_args={"widths": [8], "max_depth": 1}))
    (root / ".experiment").write_text(json.dumps({"running1": {"id": "running1", "port": 18999, "status": "RUNNING",
                                                               "pid": os.getpid()}}))
    assert main(["resume", "nosuchid"]) == 2
    err = capsys.readouterr().err
    assert "unknown experiment 'nosuchid'" in err and len(err.strip().splitlines()) == 1, err
    assert main(["resume", "running1"]) == 2
    err = capsys.readouterr().err
    assert "experiment running1 is running" in err and "nni-nas stop running1" in err, err
    assert len(err.strip().splitlines()) == 1


def test_resume_counts_interrupted_trials_not_run_since(tmp_path):
    from nni_nas.commands.resume import interrupted_trials
    from nni_nas.results.records import load_experiment
    from tests.nni_nas.nni_records import FakeTrial, class_args, make_experiment

    a, b, c = ({"width": w, "depth": 1, "op0": "conv3x3", "activation": "relu"} for w in (8, 16, 32))
    trials = [FakeTrial("lost", status="FAILED", arch=a, save_weights=False),
              FakeTrial("again", status="FAILED", arch=b, save_weights=False),
              FakeTrial("rerun", arch=b, final={"default": 0.5}, save_weights=False),
              FakeTrial("nan", status="FAILED", arch=c, save_weights=False)]
    folder = make_experiment(tmp_path, "exp1", trials, class_args(space_args={"widths": [8, 16, 32],
                                                                               "max_depth": 1}))
    for trial_id in ("lost", "again"):
        (folder / "environments" / "local-env" / "trials" / trial_id / "error.txt").write_text(
            "interrupted: the disk is full (No space left on device); free space there, then ...\n")
    (folder / "environments" / "local-env" / "trials" / "nan" / "error.txt").write_text("training loss became nan\n")
    assert [t.trial_id for t in interrupted_trials(load_experiment("exp1", tmp_path))] == ["lost"]


def test_the_cli_knows_resume():
    from nni_nas.cli import build_parser

    args = build_parser().parse_args(["resume", "k7x2mq9d", "--port", "8081", "--no-export"])
    assert args.experiment_id == "k7x2mq9d" and args.port == 8081 and args.no_export
    assert Path(args.handler.__code__.co_filename).name == "resume.py"


def test_the_leftovers_of_a_dead_manager_are_found_by_their_environment_and_ended(tmp_path):
    """A dead manager's dispatcher retries its manager's port for ever and would join a resumed manager there: the
    processes NNI started for that experiment (and only those) are ended; one that ends on its own is let be."""
    from nni_nas.manager.orphans import end_leftovers, leftover_processes

    folder = tmp_path / "nni-experiments" / "k7x2mq9d"
    base = {k: v for k, v in os.environ.items() if k not in ("NNI_EXP_ID", "NNI_LOG_DIRECTORY")}
    sleep = [sys.executable, "-c", "import time; time.sleep(600)"]
    dispatcher = subprocess.Popen(sleep, env={**base, "NNI_LOG_DIRECTORY": str(folder / "log")})
    trial = subprocess.Popen(sleep, env={**base, "NNI_EXP_ID": "k7x2mq9d"})
    quick = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1)"],
                             env={**base, "NNI_EXP_ID": "k7x2mq9d"})
    other = subprocess.Popen(sleep, env={**base, "NNI_EXP_ID": "other123",
                                         "NNI_LOG_DIRECTORY": str(tmp_path / "nni-experiments" / "other123" / "log")})
    try:
        assert set(leftover_processes("k7x2mq9d", folder)) >= {dispatcher.pid, trial.pid}
        ended = end_leftovers("k7x2mq9d", folder, grace=5.0)
        assert sorted(ended) == sorted([dispatcher.pid, trial.pid])
        assert dispatcher.wait(timeout=30) != 0 and trial.wait(timeout=30) != 0 and quick.wait(timeout=30) == 0
        assert other.poll() is None  # another experiment's process is untouched
    finally:
        for proc in (dispatcher, trial, quick, other):
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_tuner_only_ends_the_dispatcher_and_lets_trials_end_themselves(tmp_path):
    from nni_nas.manager.orphans import end_leftovers

    folder = tmp_path / "nni-experiments" / "k7x2mq9d"
    base = {k: v for k, v in os.environ.items() if k not in ("NNI_EXP_ID", "NNI_LOG_DIRECTORY")}
    sleep = [sys.executable, "-c", "import time; time.sleep(600)"]
    dispatcher = subprocess.Popen(sleep, env={**base, "NNI_LOG_DIRECTORY": str(folder / "log")})
    trial = subprocess.Popen(sleep, env={**base, "NNI_EXP_ID": "k7x2mq9d"})
    try:
        assert end_leftovers("k7x2mq9d", folder, grace=0.0, tuner_only=True) == [dispatcher.pid]
        assert dispatcher.wait(timeout=30) != 0 and trial.poll() is None
    finally:
        for proc in (dispatcher, trial):
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_resume_adds_a_trial_to_the_budget_for_each_interrupted_failed_trial(tmp_path, monkeypatch, capsys):
    """nnictl resume, its follow and nnictl update are stood in for (their real runs: the e2e tests); what is checked
    is the budget resume asks for: maxTrialNumber plus one per interrupted trial not run since."""
    import sqlite3

    from nni_nas.cli import main
    from nni_nas.commands import resume, search
    from tests.nni_nas.nni_records import FakeTrial, class_args, make_experiment

    monkeypatch.setenv("HOME", str(tmp_path))
    root = tmp_path / "nni-experiments"
    arch = {"width": 8, "depth": 1, "op0": "conv3x3", "activation": "relu"}
    folder = make_experiment(root, "exp2", [FakeTrial("ok", arch={**arch, "width": 16}, final={"default": 0.5},
                                                      save_weights=False),
                                            FakeTrial("lost", status="FAILED", arch=arch, save_weights=False)],
                             class_args(space_args={"widths": [8, 16], "max_depth": 1}))
    (folder / "environments" / "local-env" / "trials" / "lost" / "error.txt").write_text(
        "interrupted: this trial lost its NNI manager (localhost:1 does not answer ...); ...\n")
    with sqlite3.connect(folder / "db" / "nni.sqlite") as conn:
        params = json.loads(conn.execute("SELECT params FROM ExperimentProfile").fetchone()[0])
        conn.execute("UPDATE ExperimentProfile SET params = ?", (json.dumps({**params, "maxTrialNumber": 2}),))
    (root / ".experiment").write_text(json.dumps({"exp2": {"id": "exp2", "port": nnictl.free_port(),
                                                           "status": "STOPPED"}}))
    budgets = []
    monkeypatch.setattr(nnictl, "resume_experiment", lambda *args, **kwargs: [])
    monkeypatch.setattr(resume, "_raise_budget", lambda experiment_id, total: budgets.append((experiment_id, total)))
    monkeypatch.setattr(search, "follow_to_the_end", lambda experiment_id, args: 0)
    assert main(["resume", "exp2", "--no-export"]) == 0
    assert budgets == [("exp2", 3)]
    assert "1 interrupted trial(s) run again" in capsys.readouterr().out
