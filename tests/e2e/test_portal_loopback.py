"""The web portal of an experiment nni-nas launches listens on 127.0.0.1 only (NNI 3.0's manager would listen on
every interface, and its REST API has no authentication)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from nni_nas.manager.nnictl import LOOPBACK_PRELOAD, nni_env, rest_get, trial_jobs, wait_until_finished


def listening(port: int) -> set[str]:
    """The local addresses with a socket in LISTEN state on ``port``, from /proc/net/tcp and tcp6."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with open(table) as handle:
            next(handle)
            for row in handle:
                local, state = row.split()[1], row.split()[3]
                address, port_hex = local.split(":")
                if state == "0A" and int(port_hex, 16) == port:
                    found.add(_address(address, width))
    return found


def _address(hex_address: str, width: int) -> str:
    raw = bytes.fromhex(hex_address)
    if width == 8:
        return ".".join(str(b) for b in raw[::-1])  # little-endian IPv4
    words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]  # four little-endian 32-bit words
    data = b"".join(words)
    return ":".join(data[i:i + 2].hex() for i in range(0, 16, 2))


def node_listens(tmp_path, env: dict[str, str]) -> set[str]:
    """Where a plain Node server that names no host listens, under ``env``'s NODE_OPTIONS."""
    script = tmp_path / "server.js"
    script.write_text("const s = require('http').createServer(); s.listen(0, () => { "
                      "console.log(s.address().port); setTimeout(() => s.close(), 3000); });")
    proc = subprocess.Popen(["node", str(script)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        return listening(port)
    finally:
        proc.wait(timeout=10)


def test_the_preload_binds_a_hostless_server_to_loopback_and_without_it_node_binds_everything(tmp_path):
    assert LOOPBACK_PRELOAD.is_file()
    assert node_listens(tmp_path, nni_env()) == {"127.0.0.1"}
    everywhere = node_listens(tmp_path, nni_env(listen_all=True))
    assert everywhere and "127.0.0.1" not in everywhere  # "::" or "0.0.0.0": what the reader must catch


@pytest.mark.slow
def test_a_running_experiment_listens_on_loopback_only(tmp_path, nni_experiment):
    config = tmp_path / "loop.yml"
    config.write_text("""
trialCommand: python -m nni_nas.trial --config loop.yml
trialCodeDirectory: .
trialConcurrency: 1
searchSpace: {}
maxTrialNumber: 1
tuner:
  className: strategies.random_search.RandomTuner
  codeDirectory: .
  classArgs:
    space: digits_cnn
    space_args: {widths: [8], max_depth: 1}
    train: {epochs: 1, latency_runs: 2}
trainingService:
  platform: local
""")
    _, port = nni_experiment(config)
    deadline = time.monotonic() + 120
    while not trial_jobs(port) and time.monotonic() < deadline:
        time.sleep(1)
    assert listening(port) == {"127.0.0.1"}  # no 0.0.0.0 or :: socket: other addresses are refused
    assert rest_get(port, "check-status")["status"] in ("RUNNING", "NO_MORE_TRIAL", "DONE")
    status = wait_until_finished(port, timeout=300)
    assert status["status"] in ("DONE", "NO_MORE_TRIAL")
    jobs = trial_jobs(port)
    assert [job["status"] for job in jobs] == ["SUCCEEDED"]  # the trial still reached the manager
    stderr = (Path(jobs[0]["logPath"]) / "trial.stderr").read_text()
    assert "warning" not in stderr  # it read the stored config (the same as the file) and used the warm worker
