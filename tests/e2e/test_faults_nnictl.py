"""Faults injected into one real search through the real nnictl, NNI manager and warm worker: kill -9 of a trial's
training process, kill -9 of the warm worker, a corrupt weights file, a full disk during export, a corrupt
``nni.sqlite``. Each is named in one line where it hurts, the search goes on, and the figures are printed:
finished trials lost, failed architectures proposed again, stale files (all 0)."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nni_nas import cli
from nni_nas.manager.nnictl import stop_experiment, trial_jobs, wait_until_finished
from nni_nas.runtime import worker_client
from tests.e2e.portal import trial_folder

pytestmark = pytest.mark.slow

CONFIG = """
trialCommand: python -m nni_nas.trial --config faults.yml
trialCodeDirectory: .
trialConcurrency: 1
searchSpace: {}
maxTrialNumber: 3
tuner:
  className: strategies.evolution.RegularizedEvolutionTuner
  codeDirectory: .
  classArgs:
    space: digits_cnn
    space_args: {widths: [16, 32], max_depth: 3}
    train: {epochs: 2, batch_size: 64, lr: 0.05, latency_runs: 2, threads: 1}
    population_size: 2
    sample_size: 2
trainingService:
  platform: local
"""
STALE_PATTERNS = ("*.tmp", ".*.partial-*", ".*.old-*")


def training_process(port: int, skip: set[str], timeout: float = 600.0) -> tuple[str, int, int]:
    """(trial id, pid, parent pid) of the training process of the next running trial not in ``skip``: the process
    forked from the warm worker whose stderr is that trial's ``trial.stderr`` (only this experiment's files)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for job in trial_jobs(port):
            if job["trialJobId"] in skip or job["status"] != "RUNNING":
                continue
            stderr = str(trial_folder(job["logPath"]) / "trial.stderr")
            for pid in _pids_writing(stderr):
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if b"nni_nas.runtime.worker" in cmdline:
                    ppid = int(next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                                    if line.startswith("PPid:")))
                    return job["trialJobId"], pid, ppid
        time.sleep(0.1)
    raise AssertionError("no running trial's training process was found")


def _pids_writing(path: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(entry / "fd" / "2") == path:
                    pids.append(int(entry.name))
    return pids


def run_cli(capsys, *argv: str, limit_file_size=None) -> tuple[int, str, str]:
    """``nni-nas ARGV`` in this process (the verbs import torch once, not once per call); in a subprocess only when a
    file-size limit must apply to the writer alone."""
    if limit_file_size is None:
        code = cli.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err
    proc = subprocess.run([sys.executable, "-m", "nni_nas.cli", *argv], capture_output=True, text=True, timeout=300,
                          preexec_fn=limit_file_size)
    return proc.returncode, proc.stdout, proc.stderr


def one_line_error(result: tuple[int, str, str]) -> str:
    code, _, err = result
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@contextlib.contextmanager
def full_disk(folder: Path, size_kib: int):
    """A folder on a ``size_kib`` tmpfs (a real full disk: ENOSPC); where mounting is not allowed (not root), a
    process limit on file size instead (EFBIG from the kernel). Yields the ``preexec_fn`` for the writer."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(folder)],
                             capture_output=True).returncode == 0

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (size_kib * 1024, size_kib * 1024))

    try:
        yield None if mounted else limit_file_size
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=True)


def stale_files(*folders: Path) -> list[Path]:
    return [path for folder in folders for pattern in STALE_PATTERNS for path in folder.rglob(pattern)]


def test_faults_lose_nothing_and_are_named(tmp_path, nni_experiment, nni_home, capsys, monkeypatch):
    home, env = nni_home
    (tmp_path / "faults.yml").write_text(CONFIG)
    experiment_id, port = nni_experiment(tmp_path / "faults.yml")

    # 1. kill -9 of the first trial's training process; 2. kill -9 of the warm worker during the second trial
    killed_trial, child, worker = training_process(port, skip=set())
    os.kill(child, signal.SIGKILL)
    survivor_trial, _, worker_of_second = training_process(port, skip={killed_trial})
    assert worker_of_second == worker
    os.kill(worker, signal.SIGKILL)
    status = wait_until_finished(port, timeout=600)
    assert status["status"] in ("DONE", "NO_MORE_TRIAL")

    jobs = sorted(trial_jobs(port), key=lambda job: job["sequenceId"])
    by_id = {job["trialJobId"]: job for job in jobs}
    assert [job["status"] for job in jobs] == ["FAILED", "SUCCEEDED", "SUCCEEDED"], jobs
    killed_dir = trial_folder(by_id[killed_trial]["logPath"])
    reason = (killed_dir / "error.txt").read_text()
    assert f"training process (pid {child}, forked from the warm worker (pid {worker}))" in reason
    assert "is still running" in reason  # it lived: the message must not say the worker died
    assert reason.strip() in (killed_dir / "trial.stderr").read_text()
    # the second trial's process is a fork that outlives the worker; the third trial started a new worker
    assert by_id[survivor_trial]["status"] == "SUCCEEDED"
    workers = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _is_worker(p, experiment_id)]
    assert workers and worker not in workers

    succeeded = [job["trialJobId"] for job in jobs if job["status"] == "SUCCEEDED"]
    # 3 trials in a space of hundreds cannot show a repeat by chance; the rule is tested where it can fail by
    # tests/strategies/test_resume_failed.py (every tuner exhausts a space of 8 with every other trial failed)
    failed_archs = [json.dumps(job["parameters"], sort_keys=True) for job in jobs if job["status"] == "FAILED"]
    proposed_again = sum(json.dumps(job["parameters"], sort_keys=True) in failed_archs
                         for job in jobs if job["status"] != "FAILED")

    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "top", experiment_id, "--top", "10")
    assert code == 0, err
    lost = [trial for trial in succeeded if trial not in out]
    assert run_cli(capsys, "report", experiment_id)[0] == 0
    code, _, err = run_cli(capsys, "export", experiment_id, "--top", "3", "--out", "out", "--format", "source,weights")
    assert code == 0 and len([p for p in (tmp_path / "out").iterdir() if p.is_dir()]) == len(succeeded), err

    # 4. a full disk during export: the export that does not fit is one line, and the old export stays whole
    with full_disk(tmp_path / "full", 64) as limit:
        code, _, err = run_cli(capsys, "export", experiment_id, "--out", "full", "--format", "source",
                               limit_file_size=limit)
        assert code == 0, err
        [old] = [p for p in (tmp_path / "full").iterdir() if p.is_dir()]
        before = {p.name: p.read_bytes() for p in old.iterdir()}
        err = one_line_error(run_cli(capsys, "export", experiment_id, "--out", "full", "--force",
                                     limit_file_size=limit))
        assert "No space left on device" in err or "File too large" in err, err
        assert {p.name: p.read_bytes() for p in old.iterdir()} == before
        stale = stale_files(tmp_path / "full")

    # 3. a corrupt weights file: that trial's export is one line; the others still export
    best = trial_folder(by_id[succeeded[0]]["logPath"])
    (best / "model.pt").write_bytes(b"PK\x03\x04 not a state dict")
    err = one_line_error(run_cli(capsys, "export", experiment_id, "--trial", succeeded[0], "--out", "bad"))
    assert "model.pt cannot be read as trained weights" in err
    code, _, err = run_cli(capsys, "export", experiment_id, "--trial", succeeded[1], "--out", "good", "--format",
                           "source")
    assert code == 0, err

    experiment_dir = home / "nni-experiments" / experiment_id
    stale += stale_files(experiment_dir, tmp_path / "out", tmp_path / "good")
    stale += [trial_folder(by_id[t]["logPath"]) / "error.txt" for t in succeeded
              if (trial_folder(by_id[t]["logPath"]) / "error.txt").exists()]

    # 5. a corrupt nni.sqlite (after the run): every verb says so in one line; the trials' own files are untouched
    stop_experiment(experiment_id, env=env)
    (experiment_dir / "db" / "nni.sqlite").write_bytes(b"SQLite format 3\x00" + b"\xff" * 2000)
    for verb in ("top", "report", "export"):
        assert "cannot be read" in one_line_error(run_cli(capsys, verb, experiment_id))
    lost += [t for t in succeeded if not (trial_folder(by_id[t]["logPath"]) / "metrics.json").is_file()]

    with capsys.disabled():
        print(f"\nfaults: finished trials lost {len(lost)}, failed architectures proposed again {proposed_again}, "
              f"stale files {len(stale)} ({len(succeeded)} succeeded, {len(jobs) - len(succeeded)} failed)")
    assert (len(lost), proposed_again, stale) == (0, 0, [])


def _is_worker(proc: Path, experiment_id: str) -> bool:
    with contextlib.suppress(OSError):
        cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        return "nni_nas.runtime.worker" in cmdline and str(worker_client.socket_path(experiment_id)) in cmdline
    return False
