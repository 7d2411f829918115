"""Searches in which no trial can succeed, through the real ``nni-nas search``, nnictl and manager: every trial's loss
becomes NaN (``lr: 1.0e+30``), or every architecture is over a ``max_latency_ms`` budget nothing meets. The search's
end and ``top`` say why, read from the trials' files, and exit 1; not only "no succeeded trial"."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from nni_nas.manager.nnictl import free_port, nni_env, stop_experiment

pytestmark = pytest.mark.slow

CONFIG = """
trialCommand: python -m nni_nas.trial --config search.yml
trialCodeDirectory: .
trialConcurrency: 1
searchSpace: {{}}
maxTrialNumber: {trials}
tuner:
  className: strategies.random_search.RandomTuner
  codeDirectory: .
  classArgs:
    space: digits_cnn
    space_args: {{widths: [16, 32], max_depth: 3}}
    train: {{epochs: 1, batch_size: 64, lr: {lr}, latency_runs: 2, threads: 1}}
{extra}
trainingService:
  platform: local
"""
SEARCHES = {
    "nan": CONFIG.format(trials=3, lr="1.0e+30", extra=""),
    "budget": CONFIG.format(trials=2, lr=0.05, extra="    constraints: {max_latency_ms: 0.000001}"),
}


@pytest.fixture(scope="module")
def searches(tmp_path_factory):
    """Both searches side by side, each in its own HOME on its own port: name -> (experiment id, search, env)."""
    running = {}
    for name, config in SEARCHES.items():
        home = tmp_path_factory.mktemp(name)
        (home / "search.yml").write_text(config)
        env = nni_env({"HOME": str(home), "NNI_CONFIG_DIR": str(home / "nni-config")})
        command = [sys.executable, "-m", "nni_nas.cli", "search", "search.yml", "--port", str(free_port()),
                   "--no-export"]
        running[name] = (subprocess.Popen(command, cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True), home, env)
    try:
        finished = {}
        for name, (proc, _, env) in running.items():
            out, err = proc.communicate(timeout=300)
            match = re.search(r"experiment (\w+) started", out)
            assert match, out + err
            finished[name] = (match.group(1), subprocess.CompletedProcess(proc.args, proc.returncode, out, err), env)
        yield finished
    finally:
        for proc, home, env in running.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for db in (home / "nni-experiments").glob("*/db"):  # whatever each search started, by its id
                stop_experiment(db.parent.name, env=env)


def top(experiment_id: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nni_nas.cli", "top", experiment_id], env=env, capture_output=True,
                          text=True, timeout=120)


def test_every_trial_failed_with_nan_says_so_with_a_count(searches):
    experiment_id, search, env = searches["nan"]
    expected = "no succeeded trial: 3 of 3 trials failed: training loss became nan in epoch 0; lower train.lr"
    assert search.returncode == 1 and expected in search.stdout, search.stdout + search.stderr
    result = top(experiment_id, env)
    assert result.returncode == 1 and expected in result.stdout, result.stdout + result.stderr


def test_every_trial_over_budget_names_the_budget(searches):
    experiment_id, search, env = searches["budget"]
    expected = "no succeeded trial: every trial was over the max_latency_ms budget"
    assert search.returncode == 1 and expected in search.stdout, search.stdout + search.stderr
    result = top(experiment_id, env)
    assert result.returncode == 1 and expected in result.stdout, result.stdout + result.stderr
