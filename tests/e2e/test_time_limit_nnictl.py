"""NNI's ``maxTrialDuration`` through the real ``nni-nas search``, nnictl, manager and warm worker: every trial is
stopped by the limit, and that is what the trial's files, ``search`` and ``top`` say, in one line and without a
traceback; no warm worker of the experiment outlives its trials."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nni_nas.manager.nnictl import free_port, nni_env, stop_experiment, trial_jobs
from nni_nas.runtime import worker_client
from tests.e2e.portal import trial_folder

pytestmark = pytest.mark.slow

LIMIT_S = 15
CONFIG = f"""
trialCommand: python -m nni_nas.trial --config limit.yml
trialCodeDirectory: .
trialConcurrency: 2
searchSpace: {{}}
maxTrialNumber: 2
maxTrialDuration: {LIMIT_S}s
tuner:
  className: strategies.random_search.RandomTuner
  codeDirectory: .
  classArgs:
    space: digits_cnn
    space_args: {{widths: [16, 32], max_depth: 3}}
    train: {{epochs: 500, batch_size: 64, lr: 0.05, latency_runs: 2, threads: 1}}
trainingService:
  platform: local
"""
STOP_LINE = re.compile(rf"^stopped by maxTrialDuration \({LIMIT_S} s\) (after epoch \d+ of 500|before its first epoch "
                       r"ended); raise maxTrialDuration")


@pytest.fixture(scope="module")
def stopped_search(tmp_path_factory):
    """``nni-nas search`` of a config whose trials cannot finish within ``maxTrialDuration``: (experiment id, port,
    the search's exit code and output, env); the experiment is stopped by its id at the end."""
    home = tmp_path_factory.mktemp("limit")
    (home / "limit.yml").write_text(CONFIG)
    env = nni_env({"HOME": str(home), "NNI_CONFIG_DIR": str(home / "nni-config")})
    port = free_port()
    proc = subprocess.run([sys.executable, "-m", "nni_nas.cli", "search", "limit.yml", "--port", str(port),
                           "--no-export"], cwd=home, env=env, capture_output=True, text=True, timeout=300)
    match = re.search(r"experiment (\w+) started", proc.stdout)
    assert match, proc.stdout + proc.stderr
    try:
        yield match.group(1), port, proc, env
    finally:
        stop_experiment(match.group(1), env=env)


def test_each_trial_says_it_was_stopped_by_the_time_limit(stopped_search):
    _, port, _, _ = stopped_search
    jobs = trial_jobs(port)
    # NNI's manager stops a trial over maxTrialDuration with its early-stop flag (stopTrialIfOverMaxDurationLimit),
    # which nni_nas/manager/early_stop.js makes take effect: EARLY_STOPPED, the cause in error.txt
    assert len(jobs) == 2 and {job["status"] for job in jobs} == {"EARLY_STOPPED"}, jobs
    for job in jobs:
        folder = trial_folder(job["logPath"])
        reason = (folder / "error.txt").read_text().strip()
        assert STOP_LINE.match(reason), reason
        stderr = (folder / "trial.stderr").read_text()
        assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
        lines = stderr.strip().splitlines()  # the thread count the trial trained with, then its stop
        assert lines[-1] == f"nni-nas trial: {reason}" and len(lines) == 2, stderr
        assert lines[0].startswith("nni-nas trial: training with "), stderr


def test_search_and_top_name_the_time_limit(stopped_search):
    experiment_id, _, search, env = stopped_search
    assert search.returncode == 1, search.stdout + search.stderr
    expected = f"no succeeded trial: 2 of 2 trials stopped by maxTrialDuration ({LIMIT_S} s)"
    assert expected in search.stdout, search.stdout
    top = subprocess.run([sys.executable, "-m", "nni_nas.cli", "top", experiment_id], env=env, capture_output=True,
                         text=True, timeout=120)
    assert top.returncode == 1, top.stdout + top.stderr
    assert f"2 of 2 trials stopped by maxTrialDuration ({LIMIT_S} s)" in top.stdout and "Traceback" not in top.stderr


def test_no_warm_worker_outlives_the_trials(stopped_search):
    experiment_id, port, _, _ = stopped_search
    assert not any(job["status"] in ("WAITING", "RUNNING") for job in trial_jobs(port))
    deadline = time.monotonic() + 30  # the worker asks its manager every 5 s while it has no trial
    while workers(experiment_id) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert workers(experiment_id) == [], "the warm worker outlived the experiment's trials (its portal is still up)"


def workers(experiment_id: str) -> list[int]:
    """Pids of the warm workers of ``experiment_id`` (their command line names its socket)."""
    found = []
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            if "nni_nas.runtime.worker" in cmdline and str(worker_client.socket_path(experiment_id)) in cmdline:
                found.append(int(proc.name))
    return found
