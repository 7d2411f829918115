"""nni_nas/manager/machine_lost.js against NNI 3.0's own remote training service class, in NNI's Node, without a
manager: the trials of a lost machine end with an exit code (FAILED) and an error.txt naming the machine, where NNI
alone ends them with none (USER_CANCELED); a replacement worker that cannot start is taken out of NNI's lists. The
end-to-end version (a real sshd killed mid-trial) is in tests/e2e/test_remote_nnictl.py."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import nni_node
import pytest

from nni_nas.manager.nnictl import MACHINE_LOST_PRELOAD

NNI_NODE = Path(nni_node.__file__).parent
SCRIPT = """
require(%(app_module_path)s).addPath(%(nni_node)s);
require('common/globals/unittest').resetGlobals();
global.nni.paths.experimentRoot = %(root)s;
const { RemoteTrainingServiceV3 } = require('training_service/remote_v3/remote');
const machines = [{ host: '127.0.0.1', user: 'u', port: 22 }, { host: '127.0.0.1', user: 'u', port: %(closed_port)s }];
const service = new RemoteTrainingServiceV3('remote', { machineList: machines, nniManagerIp: '127.0.0.1' });
const ended = [];
service.onTrialEnd((trial, _time, exitCode) => ended.push([trial, exitCode]));
const environments = [];
service.onEnvironmentUpdate((envs) => environments.push(envs.map((env) => env.id)));
const worker = { channelId: '2', envId: 'remote-worker2', config: machines[1], env: { id: 'remote-worker2' } };
service.workers.push(worker);
service.workersByEnv.set(worker.envId, worker);
service.workersByTrial.set('lost1', worker);
service.restartWorker(worker).then(() => {
  console.log(JSON.stringify({ ended, workers: service.workers.length, environments }));
  process.exit(0);
});
"""


def run(tmp_path: Path, preload: bool) -> dict:
    with socket.socket() as sock:  # a port nothing listens on: the machine is gone
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    tmp_path.mkdir()
    script = tmp_path / "lost.js"
    script.write_text(SCRIPT % {"app_module_path": json.dumps(str(NNI_NODE / "node_modules" / "app-module-path")),
                                "nni_node": json.dumps(str(NNI_NODE)), "root": json.dumps(str(tmp_path / "exp")),
                                "closed_port": closed_port})
    env = {k: v for k, v in os.environ.items() if k != "NODE_OPTIONS"}
    if preload:
        env["NODE_OPTIONS"] = f"--require {MACHINE_LOST_PRELOAD}"
    proc = subprocess.run([str(NNI_NODE / "node"), str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]) | {"stderr": proc.stderr, "closed_port": closed_port}


@pytest.mark.skipif(not (NNI_NODE / "node").exists(), reason="NNI's Node is not installed")
def test_a_lost_machines_trials_fail_with_a_reason_and_its_failed_replacement_is_dropped(tmp_path):
    nni_alone = run(tmp_path / "alone", preload=False)
    assert nni_alone["ended"] == [["lost1", None]]  # compat.js: USER_CANCELED
    assert nni_alone["workers"] == 1  # the replacement that failed to start stays in NNI's list
    assert not (tmp_path / "alone" / "exp" / "environments").exists()

    ours = run(tmp_path / "ours", preload=True)
    [[trial, exit_code]] = ours["ended"]
    assert trial == "lost1" and exit_code is not None  # compat.js: FAILED
    reason = (tmp_path / "ours" / "exp" / "environments" / "remote-worker2" / "trials" / "lost1" /
              "error.txt").read_text()
    assert reason.startswith(f"FAILED: machine 2 of the machineList (u@127.0.0.1:{ours['closed_port']}) was lost")
    assert ours["workers"] == 0 and ours["environments"][-1] == []  # no machine left to schedule on
    assert "could not be started again" in ours["stderr"]
