"""``nni-nas check`` on a config whose trials run on other machines (``trainingService.platform: remote``).

NNI's ``nnictl create`` accepts such a config without looking at the machines; its manager then fails on each
one in its own log (or, for a remote Python without nni-nas, every trial fails with ``No module named
'nni_nas'``). This check logs in to every machine once, with the config's own SSH settings (OpenSSH client,
BatchMode, a connect timeout of a few seconds) and the Python ``pythonPath`` names, and says in one line each:
a key file that is missing or unreadable, a machine that does not answer, a Python that cannot import nni or
nni_nas, versions other than this machine's, a data folder that is not there. It also asks the account's shell, as
NNI's trial keeper starts it (``bash -c`` under sshd, which reads ``~/.bashrc`` first), which ``python`` the trial
command would start, and warns when that is not ``pythonPath``'s (a ``pyenv init`` or ``conda init`` there):
``nni-nas search`` runs it with ``pythonPath``'s anyway (:file:`nni_nas/manager/remote_python.js`), a plain ``nnictl
create`` would not.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shlex
import socket
from pathlib import Path
from typing import Any

from nni_nas.errors import NasError
from nni_nas.remote import machine_label, machine_list, run_ssh

# Run by the remote Python: versions and the data paths it can see, as one JSON line. nni_nas is imported last so
# that a missing nni is named as such.
PROBE = """
import json, os, sys
out = {"python": sys.executable}
try:
    import nni; out["nni"] = nni.__version__
except Exception as err: out["nni_error"] = repr(err)
try:
    import nni_nas; out["nni_nas"] = nni_nas.__version__
except Exception as err: out["nni_nas_error"] = repr(err)
out["paths"] = {p: os.path.exists(os.path.expanduser(p)) for p in sys.argv[1:]}
print(json.dumps(out))
"""
DATA_PATH_KEYS = ("root", "path", "test_path", "table")
TRIAL_SHELL_MARK = "nni-nas-trial-python:"


def remote_problems(raw: dict[str, Any], data_args: dict[str, Any] | None = None,
                    evaluator: dict[str, Any] | None = None, timeout: float = 60.0) -> list[str]:
    """Problems of a remote config's machines, one line each (empty for other platforms)."""
    machines = machine_list(raw)
    if not machines:
        return []
    problems = []
    manager_ip = str(raw.get("nniManagerIp") or "").strip()
    if not manager_ip:
        problems.append("nniManagerIp is missing: trials on remote machines connect back to the NNI manager; set it "
                        "to this machine's address as those machines reach it (the manager then also listens there)")
    elif not is_local_address(manager_ip):
        problems.append(f"nniManagerIp {manager_ip!r} is not an address of this machine ({socket.gethostname()}): the "
                        "manager cannot listen there, so the remote machines would dial an address nobody answers "
                        "on; set it to one of this machine's addresses that they reach (`hostname -I` lists them)")
    paths = sorted({str(value) for source in (data_args or {}, evaluator or {}) for key, value in source.items()
                    if key in DATA_PATH_KEYS and isinstance(value, str | os.PathLike)})
    command_python = trial_command_python(raw.get("trialCommand"))
    for index, machine in enumerate(machines, 1):
        for line in machine_problems(machine, paths, timeout, command_python):
            warning = line.startswith("warning: ")
            line = f"machine {index} ({machine_label(machine)}): {line.removeprefix('warning: ')}"
            problems.append(f"warning: {line}" if warning else line)
    return problems


def trial_command_python(trial_command: Any) -> str | None:
    """The ``python`` (``python3``, ``python3.11``) the trial command starts by name, found on the PATH of the shell
    that runs it; None when it starts something else (an absolute path needs no PATH)."""
    try:
        words = shlex.split(str(trial_command or ""))
    except ValueError:
        return None
    return words[0] if words and re.fullmatch(r"python[0-9.]*", words[0]) else None


def is_local_address(address: str) -> bool:
    """Whether ``address`` (an IP; a host name is resolved as the system resolves it) belongs to
    this machine: binding a socket to it succeeds (nothing is sent; a port in use still counts)."""
    try:
        infos = socket.getaddrinfo(address, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError):
        return False
    for family, _, _, _, sockaddr in infos:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((sockaddr[0], 0))
                return True
            except OSError as err:
                if err.errno == errno.EADDRINUSE:
                    return True
    return False


def machine_problems(machine: dict[str, Any], paths: list[str], timeout: float = 60.0,
                     command_python: str | None = None) -> list[str]:
    """What is wrong with one machineList entry, as seen by logging in to it (warnings start with ``warning: ``)."""
    key = machine.get("sshKeyFile")
    if not key:
        return ["no sshKeyFile: nni-nas reaches machines (to check them and to fetch trial files) with keys only"]
    key_path = Path(str(key)).expanduser()
    if not key_path.is_file():
        return [f"sshKeyFile {key_path} does not exist"]
    if not os.access(key_path, os.R_OK):
        return [f"sshKeyFile {key_path} cannot be read by this user"]
    python_path = machine.get("pythonPath")
    python = f"{python_path.rstrip('/')}/python" if python_path else "python3"
    command = f"{shlex.quote(python)} -c {shlex.quote(PROBE)} {' '.join(shlex.quote(p) for p in paths)}"
    if python_path and command_python:
        command = f"{trial_shell_probe(python_path.rstrip('/'), command_python)}; {command}"
    try:
        proc = run_ssh(machine, command, timeout=timeout)
    except NasError as err:
        return [str(err).removeprefix(f"machine {machine_label(machine)} ")]
    stdout, stderr = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    if proc.returncode != 0 or not stdout.strip():
        reason = " ".join(stderr.split())[-300:] or f"exit {proc.returncode}"
        return [f"{python} does not run there ({reason}); pythonPath must name the bin folder of a Python with "
                "nni-nas installed"]
    try:
        found = json.loads(stdout.strip().splitlines()[-1])
    except json.JSONDecodeError:
        return [f"{python} printed something unexpected: {stdout.strip()[-200:]!r}"]
    return _compare(found, python, paths) + _trial_shell_warnings(stdout, python_path, command_python)


def trial_shell_probe(python_bin: str, command_python: str) -> str:
    """A remote shell command that prints which ``command_python`` a trial command would start: in ``bash -c`` with
    ``python_bin`` first on PATH, from the SSH session at shell level 1, as NNI's trial keeper starts it (so bash
    reads the account's ``~/.bashrc`` first, as it does for the trial)."""
    inner = f"echo {TRIAL_SHELL_MARK}$(command -v {shlex.quote(command_python)} || echo none)"
    return f"PATH={shlex.quote(python_bin)}:\"$PATH\" SHLVL=0 /bin/bash -c {shlex.quote(inner)} </dev/null"


def _trial_shell_warnings(stdout: str, python_path: str | None, command_python: str | None) -> list[str]:
    found = next((line.removeprefix(TRIAL_SHELL_MARK) for line in stdout.splitlines()
                  if line.startswith(TRIAL_SHELL_MARK)), None)
    if not python_path or not command_python or found is None:
        return []
    expected = f"{python_path.rstrip('/')}/{command_python}"
    if found == expected:
        return []
    return [f"warning: the account's shell starts {found} for `{command_python}` in trial commands, not "
            f"{expected}: its ~/.bashrc (a `pyenv init` or `conda init`?) puts another Python first on PATH. nni-nas "
            "search and the Python API run trials with pythonPath's Python anyway; a plain `nnictl create` would "
            f"not (remove that line there, or start the search with nni-nas search)"]


def _compare(found: dict[str, Any], python: str, paths: list[str]) -> list[str]:
    import nni

    import nni_nas

    problems = []
    if "nni_error" in found:
        problems.append(f"{python} cannot import nni ({found['nni_error']}); install nni=={nni.__version__} there")
    elif found.get("nni") != nni.__version__:
        problems.append(f"nni {found.get('nni')} there, {nni.__version__} here: install the same version on both")
    if "nni_nas_error" in found:
        problems.append(f"{python} cannot import nni_nas ({found['nni_nas_error']}); install nni-nas "
                        f"{nni_nas.__version__} in that Python (pythonPath names its bin folder)")
    elif found.get("nni_nas") != nni_nas.__version__:
        problems.append(f"nni-nas {found.get('nni_nas')} there, {nni_nas.__version__} here: install the same version "
                        "on both")
    for path, exists in (found.get("paths") or {}).items():
        if not exists:
            problems.append(f"{path} does not exist there; trials read their data on the machine they run on")
    return problems
