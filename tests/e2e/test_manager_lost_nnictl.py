"""A real ``kill -9`` of the NNI manager that ``nni-nas search`` started, mid-search: the search says so in one line
with the resume command and exits 2 within a bounded time (not its 3 h default); the trial that was running says it
lost its manager (not a raw urllib3 error); ``nni-nas resume ID`` brings the portal back on 127.0.0.1 only, runs the
interrupted trial's architecture again and finishes the search, with the finished trial's files and result intact."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nni_nas.manager.nnictl import free_port, nni_env, stop_experiment, trial_jobs
from nni_nas.results.records import experiment_status
from tests.e2e.portal import trial_folder
from tests.e2e.test_portal_loopback import listening

pytestmark = pytest.mark.slow

CONFIG = """
trialCommand: python -m nni_nas.trial --config lost.yml
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
NOTICED_WITHIN_S = 90  # the search notices at its next poll (3 s); a wide margin for a loaded machine


def cli(*argv: str, env: dict[str, str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nni_nas.cli", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def manager_pid(home: Path, experiment_id: str) -> int:
    """The pid of the manager nnictl started for ``experiment_id`` (NNI's .experiment file), checked to be that
    experiment's node process before anything is sent to it."""
    pid = experiment_status(experiment_id, home / "nni-experiments")["pid"]
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert b"--experiment-id" in cmdline and experiment_id.encode() in cmdline, cmdline
    return pid


def test_a_killed_manager_is_named_and_resume_runs_the_interrupted_trial_again(tmp_path, capsys):
    home = tmp_path / "home"
    (home / "nni-config").mkdir(parents=True)
    (home / "lost.yml").write_text(CONFIG)
    env = nni_env({"HOME": str(home), "NNI_CONFIG_DIR": str(home / "nni-config")})
    port = free_port()
    search = subprocess.Popen([sys.executable, "-m", "nni_nas.cli", "search", "lost.yml", "--port", str(port),
                               "--no-export"], cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    experiment_id = None
    try:
        first_line = search.stdout.readline()
        experiment_id = re.search(r"experiment (\w+) started", first_line).group(1)

        def second_running():
            jobs = sorted(trial_jobs(port), key=lambda job: job["sequenceId"])
            return jobs if [job["status"] for job in jobs] == ["SUCCEEDED", "RUNNING"] else None

        before = wait_for(second_running, 600, "the first trial to succeed and the second to run")
        finished, interrupted = before[0], before[1]
        finished_dir = trial_folder(finished["logPath"])
        finished_files = {name: (finished_dir / name).read_bytes() for name in ("metrics.json", "model.pt")}

        os.kill(manager_pid(home, experiment_id), signal.SIGKILL)
        killed_at = time.monotonic()
        out, err = search.communicate(timeout=600)
        noticed_after = time.monotonic() - killed_at
    finally:
        if search.poll() is None:
            search.kill()

    # the search: one line naming the cause and the fix, exit 2, soon after the kill
    assert search.returncode == 2, out + err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert f"the NNI manager of experiment {experiment_id}" in err and "is gone" in err, err
    assert re.search(rf"resume the search with: \S*nni-nas resume {experiment_id}", err), err
    assert noticed_after < NOTICED_WITHIN_S, noticed_after

    # the interrupted trial says why it stopped, in one line (it fails at its next report to the dead manager)
    error_file = trial_folder(interrupted["logPath"]) / "error.txt"
    reason = wait_for(lambda: error_file.is_file() and error_file.read_text().strip(), 300, "the trial's error.txt")
    assert reason.startswith("interrupted: this trial lost its NNI manager"), reason
    assert f"nni-nas resume {experiment_id}" in reason and "HTTPConnectionPool" not in reason, reason

    # resume: the portal on loopback only, the interrupted trial's architecture trained again, nothing finished lost
    try:
        resumed = cli("resume", experiment_id, "--no-export", env=env, cwd=home)
        logs = home / "nni-experiments" / experiment_id / "log"
        assert resumed.returncode == 0, (resumed.stdout + resumed.stderr + (logs / "dispatcher.log").read_text()[-3000:]
                                         + (logs / "nnimanager.log").read_text()[-3000:])
        assert f"experiment {experiment_id} resumed" in resumed.stdout, resumed.stdout
        assert listening(port) == {"127.0.0.1"}
        jobs = sorted(trial_jobs(port), key=lambda job: job["sequenceId"])
    finally:
        stop_experiment(experiment_id, env=env)
    assert [job["status"] for job in jobs] == ["SUCCEEDED"] * 3, jobs
    rerun = [job for job in jobs if job["parameters"] == interrupted["parameters"]]
    assert len(rerun) == 1 and rerun[0]["final"], jobs  # trained again, once, with a result
    assert jobs[0]["trialJobId"] == finished["trialJobId"] and jobs[0]["final"] == finished["final"]
    assert {name: (finished_dir / name).read_bytes() for name in finished_files} == finished_files
    assert not (trial_folder(rerun[0]["logPath"]) / "error.txt").exists()
    with capsys.disabled():
        print(f"\nmanager lost: noticed {noticed_after:.1f} s after the kill; search said: {err.strip()}\n"
              f"the trial said: {reason}\nresume said: {resumed.stdout.splitlines()[0]}")
    with_results = [json.loads((trial_folder(job["logPath"]) / "metrics.json").read_text()) for job in jobs]
    assert all("val_acc" in result for result in with_results)
