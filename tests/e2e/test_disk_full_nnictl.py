"""A full disk through the real ``nni-nas search``, nnictl and NNI manager: before the start (one line naming the full
disk at once, no manager started again and again, no empty experiment folders left) and during a search (the search
stops in one line naming the full disk, nothing keeps running, the finished trial is intact; once space is freed,
``nni-nas resume`` runs the interrupted trial's architecture again and finishes).

The disk is a real small filesystem: a tmpfs mounted on the private HOME's ``nni-experiments`` (the kernel answers
``ENOSPC`` as a full disk does; CI runs as root). Where mounting is not allowed, the start case runs under a file-size
limit instead (``RLIMIT_FSIZE``, inherited by nnictl and the manager: ``EFBIG``, which nni-nas names as the limit);
the mid-search case needs the filesystem to fill while the manager runs, which a per-process limit does not model
(every file would stop at the limit, not the disk at a total), and is skipped there."""

from __future__ import annotations

import contextlib
import errno
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nni_nas.manager.nnictl import free_port, nni_env, process_alive, stop_experiment, trial_jobs
from nni_nas.results.records import experiment_status
from tests.e2e.portal import trial_folder
from tests.e2e.test_portal_loopback import listening

pytestmark = pytest.mark.slow

CONFIG = """
trialCommand: python -m nni_nas.trial --config full.yml
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
    train: {epochs: 6, batch_size: 64, lr: 0.05, latency_runs: 2, threads: 1}
    population_size: 2
    sample_size: 2
trainingService:
  platform: local
"""
BOUND_S = 180  # wide: the loaded 2-core machine; the search notices at its next poll (3 s)


@contextlib.contextmanager
def small_filesystem(folder: Path, size_kib: int):
    """``folder`` on a tmpfs of ``size_kib``; yields True, or False where mounting is not allowed (not root)."""
    folder.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(folder)],
                             capture_output=True).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=True)


def fill(folder: Path) -> Path:
    """Write into ``folder`` until its filesystem is full; return the filler file."""
    filler = folder / "filler"
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError as err:
            assert err.errno == errno.ENOSPC, err
    return filler


def private_home(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    home = tmp_path / "home"
    (home / "nni-config").mkdir(parents=True)
    (home / "full.yml").write_text(CONFIG)
    return home, nni_env({"HOME": str(home), "NNI_CONFIG_DIR": str(home / "nni-config")})


def one_line(proc_err: str) -> str:
    assert "Traceback" not in proc_err and len(proc_err.strip().splitlines()) == 1, proc_err
    return proc_err.strip()


def test_a_full_disk_before_the_start_is_named_at_once(tmp_path):
    home, env = private_home(tmp_path)
    with small_filesystem(home / "nni-experiments", 64) as mounted:
        if mounted:
            fill(home / "nni-experiments")
            limit = None
        else:
            def limit():
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a killed process
                resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "nni_nas.cli", "search", "full.yml", "--port", str(free_port())],
                              cwd=home, env=env, capture_output=True, text=True, timeout=600, preexec_fn=limit)
        took = time.monotonic() - started
        left = sorted(p.name for p in (home / "nni-experiments").iterdir() if p.is_dir())
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = one_line(proc.stderr)
    expected = "is full" if mounted else "file-size limit"
    assert "cannot start the search" in line and expected in line and "experimentWorkingDirectory" in line, line
    assert "starting it again" not in proc.stdout + proc.stderr
    assert left == [], left  # no experiment folder from a start that could not work
    assert took < BOUND_S, took


def test_a_disk_that_fills_during_the_search_stops_it_and_resume_finishes_it(tmp_path, capsys):
    home, env = private_home(tmp_path)
    port = free_port()
    with small_filesystem(home / "nni-experiments", 40 * 1024) as mounted:
        if not mounted:
            pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
        search = subprocess.Popen([sys.executable, "-m", "nni_nas.cli", "search", "full.yml", "--port", str(port),
                                   "--no-export"], cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        experiment_id = None
        try:
            experiment_id = re.search(r"experiment (\w+) started", search.stdout.readline()).group(1)
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                jobs = sorted(trial_jobs(port), key=lambda job: job["sequenceId"])
                if [job["status"] for job in jobs] == ["SUCCEEDED", "RUNNING"]:
                    break
                time.sleep(0.5)
            finished, interrupted = jobs
            finished_dir = trial_folder(finished["logPath"])
            finished_files = {name: (finished_dir / name).read_bytes() for name in ("metrics.json", "model.pt")}
            manager = experiment_status(experiment_id, home / "nni-experiments")["pid"]

            filler = fill(home / "nni-experiments")
            filled_at = time.monotonic()
            out, err = search.communicate(timeout=600)
            stopped_after = time.monotonic() - filled_at

            assert search.returncode == 2, out + err
            line = one_line(err)
            assert "the disk holding" in line and "filled up during the search" in line and "stopped" in line, line
            assert re.search(rf"resume the search with: \S*nni-nas resume {experiment_id}", line), line
            assert stopped_after < BOUND_S, stopped_after
            time.sleep(5)
            assert not process_alive(manager), "the manager kept running on a full disk"
            assert {name: (finished_dir / name).read_bytes() for name in finished_files} == finished_files

            filler.unlink()
            resumed = subprocess.run([sys.executable, "-m", "nni_nas.cli", "resume", experiment_id, "--no-export"],
                                     cwd=home, env=env, capture_output=True, text=True, timeout=900)
            assert resumed.returncode == 0, resumed.stdout + resumed.stderr
            assert listening(port) == {"127.0.0.1"}
            jobs = sorted(trial_jobs(port), key=lambda job: job["sequenceId"])
        finally:
            if search.poll() is None:
                search.kill()
            if experiment_id:
                stop_experiment(experiment_id, env=env)
        assert [job["status"] for job in jobs].count("SUCCEEDED") == 3, jobs
        assert [job for job in jobs if job["parameters"] == interrupted["parameters"] and job["final"]], jobs
        assert jobs[0]["final"] == finished["final"]
        assert {name: (finished_dir / name).read_bytes() for name in finished_files} == finished_files
    with capsys.disabled():
        print(f"\nfull disk mid-search: stopped {stopped_after:.1f} s after the disk filled; search said: {line}\n"
              f"trials after resume: {[(job['trialJobId'], job['status']) for job in jobs]}")
