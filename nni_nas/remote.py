"""Trials on other machines: NNI's ``remote`` training service, seen from nni-nas.

NNI 3.0's remote service (``nni_node/training_service/remote_v3``) starts one trial keeper per ``machineList``
entry, as environment ``remote-worker<N>`` (N counts the list from 1), and runs each trial in
``~/nni-experiments/<experiment>/environments/remote-worker<N>/trials/<trial>/`` *on that machine*; its record
(``logPath``) is ``<host>:~/nni-experiments/...``. Nothing comes back but the metrics, so the files a trial saves
for export (``arch.json``, ``model.pt``, ``metrics.json``, ...) stay there. nni-nas fetches them over the SSH
settings the config already names (host, port, user, sshKeyFile), with the OpenSSH client (one ``ssh ... tar``
per machine, no new Python dependency), into the same place a local trial would have them:
``~/nni-experiments/<experiment>/environments/remote-worker<N>/trials/<trial>/`` on the launching machine.
A finished trial is fetched once (a ``.nni-nas-fetched`` marker); a running one each time it is looked at.
"""

from __future__ import annotations

import io
import re
import shlex
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nni_nas.errors import NasError

REMOTE_LOG_PATH = re.compile(r"(?P<host>[^:/\s]+):(?P<path>~?/\S*/environments/(?P<env>remote-worker(?P<n>\d+))"
                             r"/trials/(?P<trial>[A-Za-z0-9_-]+))")
FETCHED_MARKER = ".nni-nas-fetched"
FINAL_STATUSES = ("SUCCEEDED", "FAILED", "USER_CANCELED", "SYS_CANCELED", "EARLY_STOPPED")
SSH_CONNECT_TIMEOUT = 5
# the trial folder without Lightning's CSV logs (per-epoch values are in history.jsonl already)
FETCH_EXCLUDE = ("lightning_logs",)


@dataclass(frozen=True)
class RemoteTrialDir:
    """Where a remote trial keeps its files: the machineList entry (index from 0) and the path on that machine."""

    host: str
    path: str  # as NNI records it, ``~/nni-experiments/...``
    env_id: str  # ``remote-worker<N>``
    machine_index: int


def parse_log_path(log_path: str) -> RemoteTrialDir | None:
    """The remote folder a trial's NNI ``logPath`` names, or None for a local trial."""
    match = REMOTE_LOG_PATH.fullmatch(log_path or "")
    if match is None:
        return None
    return RemoteTrialDir(match["host"], match["path"], match["env"], int(match["n"]) - 1)


def machine_list(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The config's ``trainingService.machineList`` (empty for other platforms)."""
    service = config.get("trainingService") or {}
    if isinstance(service, list):
        service = next((s for s in service if isinstance(s, dict) and s.get("platform") == "remote"), {})
    if not isinstance(service, dict) or service.get("platform") != "remote":
        return []
    return [m for m in service.get("machineList") or [] if isinstance(m, dict)]


def is_remote(config: dict[str, Any]) -> bool:
    return bool(machine_list(config))


def machine_label(machine: dict[str, Any]) -> str:
    return f"{machine.get('user', '?')}@{machine.get('host', '?')}:{machine.get('port', 22)}"


def ssh_command(machine: dict[str, Any], remote_command: str, known_hosts: Path | None = None) -> list[str]:
    """The OpenSSH client command that runs ``remote_command`` on ``machine`` (a machineList entry) without ever
    asking for input (BatchMode): key authentication only, a connect timeout of a few seconds."""
    if machine.get("passwd") and not machine.get("sshKeyFile"):
        raise NasError(f"machine {machine_label(machine)} logs in with a password; nni-nas reaches machines with "
                       "the OpenSSH client, which needs a key: set sshKeyFile in its machineList entry")
    command = ["ssh", "-p", str(machine.get("port", 22)), "-o", "BatchMode=yes",
               "-o", f"ConnectTimeout={SSH_CONNECT_TIMEOUT}", "-o", "ServerAliveInterval=5",
               "-o", "ServerAliveCountMax=2", "-o", "StrictHostKeyChecking=accept-new", "-o", "LogLevel=ERROR"]
    if known_hosts is not None:
        command += ["-o", f"UserKnownHostsFile={known_hosts}"]
    if machine.get("sshKeyFile"):
        command += ["-i", str(Path(str(machine["sshKeyFile"])).expanduser()), "-o", "IdentitiesOnly=yes"]
    return command + [f"{machine.get('user')}@{machine.get('host')}", remote_command]


def run_ssh(machine: dict[str, Any], remote_command: str, timeout: float = 60.0,
            known_hosts: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``remote_command`` on ``machine``; :class:`NasError` (one line) when the machine cannot be reached."""
    try:
        proc = subprocess.run(ssh_command(machine, remote_command, known_hosts), capture_output=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise NasError(f"machine {machine_label(machine)} did not answer within {timeout:.0f} s") from None
    except FileNotFoundError:
        raise NasError("the OpenSSH client (ssh) is not installed here: apt-get install openssh-client") from None
    if proc.returncode == 255:  # ssh's own failure: connection refused, timed out, key refused ...
        reason = " ".join(proc.stderr.decode(errors="replace").split())[:300] or "ssh exited 255"
        raise NasError(f"machine {machine_label(machine)} cannot be reached over SSH: {reason}")
    return proc


def _remote_shell_path(path: str) -> str:
    """``path`` quoted for the remote shell, with a leading ``~/`` left to the shell to expand."""
    if path.startswith("~/"):
        return "~/" + shlex.quote(path[2:])
    return shlex.quote(path)


def local_mirror(experiment_dir: Path, remote: RemoteTrialDir, trial_id: str) -> Path:
    """Where a remote trial's files are kept on the launching machine."""
    return experiment_dir / "environments" / remote.env_id / "trials" / trial_id


def fetch_remote_trials(experiment_dir: Path, config: dict[str, Any], trials: list[Any],
                        warn=None) -> dict[str, str]:
    """Bring the files of remote ``trials`` (TrialRecords with ``remote`` set) to their local mirror.

    Finished trials already fetched are skipped; one ``ssh ... tar`` per machine brings the rest. A machine that
    cannot be reached is reported through ``warn`` (default: one line on stderr) and skipped: its trials keep
    what was fetched before. Returns ``{trial_id: why it is not here}`` for trials that could not be fetched.
    """
    warn = warn or (lambda line: print(f"nni-nas: warning: {line}", file=sys.stderr))
    machines = machine_list(config)
    by_machine: dict[int, list[Any]] = {}
    for trial in trials:
        remote = getattr(trial, "remote", None)
        if remote is None or (trial.trial_dir / FETCHED_MARKER).is_file():
            continue
        by_machine.setdefault(remote.machine_index, []).append(trial)
    missing: dict[str, str] = {}
    for index, group in sorted(by_machine.items()):
        if index >= len(machines):
            reason = (f"NNI recorded it on machine {index + 1} ({group[0].remote.host}), but the stored config lists "
                      f"{len(machines)} machine(s)")
            missing.update({t.trial_id: reason for t in group})
            warn(f"{len(group)} trial(s): {reason}")
            continue
        try:
            _fetch_group(experiment_dir, machines[index], group)
        except NasError as err:
            missing.update({t.trial_id: str(err) for t in group})
            warn(f"{err}; the files of {len(group)} trial(s) there are not available here "
                 f"({', '.join(t.trial_id for t in group)})")
    return missing


def _fetch_group(experiment_dir: Path, machine: dict[str, Any], trials: list[Any]) -> None:
    parent = trials[0].remote.path.rsplit("/", 1)[0]  # every trial of one machine shares the trials/ folder
    names = " ".join(shlex.quote(t.trial_id) for t in trials)
    excludes = " ".join(f"--exclude={shlex.quote('*/' + name)}" for name in FETCH_EXCLUDE)
    # trials that never started have no folder: tar only those that exist
    command = (f"cd {_remote_shell_path(parent)} && tar cf - {excludes} $(for t in {names}; do "
               f"[ -d \"$t\" ] && echo \"$t\"; done) 2>/dev/null; true")
    proc = run_ssh(machine, command, timeout=300, known_hosts=experiment_dir / ".nni-nas-known_hosts")
    if not proc.stdout:
        return
    status = {t.trial_id: t.status for t in trials}
    root = experiment_dir / "environments" / trials[0].remote.env_id / "trials"
    try:
        with tarfile.open(fileobj=io.BytesIO(proc.stdout), mode="r:") as archive:
            members = [m for m in archive.getmembers() if m.isfile() or m.isdir()]  # no links, devices
            for member in members:
                if member.name.split("/", 1)[0] not in status:
                    raise NasError(f"machine {machine_label(machine)} sent {member.name!r}, which is no trial's file")
            archive.extractall(root, members=members, filter="data")
    except tarfile.TarError as err:
        raise NasError(f"the files sent by machine {machine_label(machine)} are not a tar archive ({err})") from None
    for trial in trials:
        if trial.status in FINAL_STATUSES and trial.trial_dir.is_dir():
            (trial.trial_dir / FETCHED_MARKER).write_text(trial.status + "\n")
