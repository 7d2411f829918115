"""nni_nas/manager/remote_python.js against NNI 3.0's own remote training service class, in NNI's Node, without a
manager: the command NNI hands a machine's trial keeper, run the way the keeper runs it (``/bin/bash -c`` under sshd,
shell level 1, so bash reads ``~/.bashrc`` first), starts ``pythonPath``'s ``python`` even when the account's
``.bashrc`` puts another first; NNI's command alone starts the ``.bashrc``'s. The end-to-end version (a real sshd, an
account with such a ``.bashrc``) is in tests/e2e/test_remote_nnictl.py."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import nni_node
import pytest

from nni_nas.manager.nnictl import REMOTE_PYTHON_PRELOAD, nni_env

NNI_NODE = Path(nni_node.__file__).parent
SCRIPT = """
require(%(app_module_path)s).addPath(%(nni_node)s);
require('common/globals/unittest').resetGlobals();
const { RemoteTrainingServiceV3 } = require('training_service/remote_v3/remote');
const machines = %(machines)s;
const service = new RemoteTrainingServiceV3('remote', { machineList: machines, nniManagerIp: '127.0.0.1' });
const commands = [];
machines.forEach((config, index) => {
  const worker = { channelId: String(index + 1), envId: `remote-worker${index + 1}`, config,
                   python: %(worker_python)s[index],
                   trialKeeper: { createTrial: async (opts) => { commands.push(opts.command); return true; } } };
  service.workers.push(worker);
  service.workersByEnv.set(worker.envId, worker);
});
(async () => {
  for (const worker of service.workers) {
    await service.createTrial(worker.envId, 'python -m nni_nas.trial --config search.yml', 'code', 0, 't');
  }
  console.log(JSON.stringify(commands));
  process.exit(0);
})();
"""


def fake_python(folder: Path, says: str, code: int) -> Path:
    folder.mkdir(parents=True)
    script = folder / "python"
    script.write_text(f"#!/bin/sh\necho {shlex.quote(says)}\nexit {code}\n")
    script.chmod(0o755)
    return script


def keeper_commands(tmp_path: Path, machines: list[dict], worker_python: list[str], preload: bool) -> list[str]:
    script = tmp_path / f"create_{preload}.js"
    script.write_text(SCRIPT % {"app_module_path": json.dumps(str(NNI_NODE / "node_modules" / "app-module-path")),
                                "nni_node": json.dumps(str(NNI_NODE)), "machines": json.dumps(machines),
                                "worker_python": json.dumps(worker_python)})
    env = {k: v for k, v in os.environ.items() if k != "NODE_OPTIONS"}
    if preload:
        env["NODE_OPTIONS"] = f"--require {REMOTE_PYTHON_PRELOAD}"
    proc = subprocess.run([str(NNI_NODE / "node"), str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_as_trial_keeper(command: str, home: Path, path: str) -> subprocess.CompletedProcess:
    """``command`` as NNI's trial keeper runs it on a machine: ``/bin/bash -c`` from a process that sshd started
    (SSH_CLIENT set; SHLVL=0, what ``bash -c 'PATH=... python -m ...launch_trial_keeper'`` leaves), stdin closed."""
    env = {"HOME": str(home), "PATH": path, "SSH_CLIENT": "127.0.0.1 50000 22", "SHLVL": "0"}
    return subprocess.run(["/bin/bash", "-c", command], env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=30)


@pytest.mark.skipif(not (NNI_NODE / "node").exists(), reason="NNI's Node is not installed")
def test_a_remote_trial_runs_python_path_python_whatever_the_bashrc_puts_first(tmp_path):
    pyenv = tmp_path / "home" / ".pyenv" / "shims"
    fake_python(pyenv, "No module named nni_nas", 1)
    home = tmp_path / "home"
    # as `pyenv init` (or `conda init`) writes it, and above Debian's "not interactive: return"
    home.joinpath(".bashrc").write_text(f'export PATH="{pyenv}:$PATH"\ncase $- in *i*) ;; *) return;; esac\n')
    venv_bin = tmp_path / "a venv's 'bin'"  # a space and a quote: the path is quoted for the shell
    fake_python(venv_bin, "pythonPath's python", 0)
    other_bin = tmp_path / "other"
    interpreter = fake_python(other_bin, "the interpreter pythonPath names", 0)
    machines = [{"host": "127.0.0.1", "user": "u", "port": 22, "pythonPath": str(venv_bin)},
                {"host": "127.0.0.1", "user": "u", "port": 23, "pythonPath": str(interpreter)},
                {"host": "127.0.0.1", "user": "u", "port": 24}]
    # NNI's worker.python after its updatePath: 'python' with pythonPath first on the keeper's PATH, or pythonPath
    # itself when that is the interpreter, or 'python' found on the account's PATH
    worker_python = ["python", str(interpreter), "python"]
    keeper_path = [f"{venv_bin}:{pyenv}:/usr/bin:/bin", f"{pyenv}:/usr/bin:/bin", f"{pyenv}:/usr/bin:/bin"]

    nni_alone = keeper_commands(tmp_path, machines, worker_python, preload=False)
    assert run_as_trial_keeper(nni_alone[0], home, keeper_path[0]).stdout.strip() == "No module named nni_nas"

    ours = keeper_commands(tmp_path, machines, worker_python, preload=True)
    results = [run_as_trial_keeper(command, home, path) for command, path in zip(ours, keeper_path, strict=True)]
    assert [r.stdout.strip() for r in results] == [
        "pythonPath's python", "the interpreter pythonPath names",
        "No module named nni_nas",  # no pythonPath: the account's own python, as NNI does
    ], [r.stderr for r in results]
    assert ours[2] == nni_alone[2] == "python -m nni_nas.trial --config search.yml"


def test_nni_nas_preloads_the_remote_python_fix_into_the_manager():
    assert f"--require {REMOTE_PYTHON_PRELOAD}" in nni_env()["NODE_OPTIONS"]
    assert f"--require {REMOTE_PYTHON_PRELOAD}" in nni_env(listen_all=True)["NODE_OPTIONS"]


def test_check_names_a_shell_that_would_start_another_python(tmp_path):
    """``nni-nas check``'s probe, run by bash as sshd runs a command (SSH_CLIENT set, so bash reads ~/.bashrc): with
    a .bashrc that puts another Python first it reports that one, and check warns; with a plain one it does not."""
    from nni_nas.remote_check import _trial_shell_warnings, trial_command_python, trial_shell_probe

    pyenv = tmp_path / "home" / ".pyenv" / "shims"
    fake_python(pyenv, "No module named nni_nas", 1)
    venv_bin = tmp_path / "venv bin"
    fake_python(venv_bin, "pythonPath's python", 0)
    home = tmp_path / "home"
    assert trial_command_python("python -m nni_nas.trial --config search.yml") == "python"
    assert trial_command_python("/opt/py/bin/python -m nni_nas.trial") is None  # an absolute path needs no PATH
    probe = f"{trial_shell_probe(str(venv_bin), 'python')}; true"  # check runs it before its Python probe
    session = {"HOME": str(home), "PATH": "/usr/bin:/bin", "SSH_CLIENT": "127.0.0.1 50000 22"}

    home.joinpath(".bashrc").write_text(f'export PATH="{pyenv}:$PATH"\ncase $- in *i*) ;; *) return;; esac\n')
    seen = subprocess.run(["/bin/bash", "-c", probe], env=session, capture_output=True, text=True, timeout=30)
    [warning] = _trial_shell_warnings(seen.stdout, str(venv_bin), "python")
    assert warning.startswith(f"warning: the account's shell starts {pyenv}/python for `python` in trial commands, "
                              f"not {venv_bin}/python: its ~/.bashrc"), warning

    home.joinpath(".bashrc").write_text("case $- in *i*) ;; *) return;; esac\n")
    seen = subprocess.run(["/bin/bash", "-c", probe], env=session, capture_output=True, text=True, timeout=30)
    assert _trial_shell_warnings(seen.stdout, str(venv_bin), "python") == [], seen.stdout
