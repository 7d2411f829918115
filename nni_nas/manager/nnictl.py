"""Drive the real ``nnictl`` and read the NNI manager's REST API (used by ``nni-nas search`` and the tests)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from nni_nas.errors import NasError

FINISHED = ("DONE", "STOPPED", "ERROR")
ACTIVE_TRIALS = ("WAITING", "RUNNING", "UNKNOWN")


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


LOOPBACK_PRELOAD = Path(__file__).with_name("loopback.js")
# NNI's manager fails an experiment whose tuner has not connected within 10 s; this preload waits longer (120 s)
TUNER_PATIENCE_PRELOAD = Path(__file__).with_name("tuner_patience.js")
# NNI's remote service ends the trials of a machine it lost as USER_CANCELED, with no reason: this preload makes
# them FAILED with an error.txt naming the machine, and keeps the search off that machine
# (nni_nas/manager/machine_lost.js)
MACHINE_LOST_PRELOAD = Path(__file__).with_name("machine_lost.js")
# NNI's trial keeper runs a remote trial's command through bash, which reads the account's ~/.bashrc first (a
# `pyenv init` there puts another Python first): this preload puts the machine's pythonPath first again
# (nni_nas/manager/remote_python.js)
REMOTE_PYTHON_PRELOAD = Path(__file__).with_name("remote_python.js")
# NNI 3.0 records a trial that its assessor stopped as USER_CANCELED when the trial ends quickly (it sets the
# early-stop flag only after the trial's end): this preload sets it first, so the trial is EARLY_STOPPED
EARLY_STOP_PRELOAD = Path(__file__).with_name("early_stop.js")
# NNI's portal loads its icon font from a CDN (offline: empty boxes); this preload serves the copy install.sh
# fetched into the environment and points the portal at it (nni_nas/manager/portal_icons.js)
PORTAL_ICONS_PRELOAD = Path(__file__).with_name("portal_icons.js")


def nni_env(extra: dict[str, str] | None = None, listen_all: bool = False) -> dict[str, str]:
    """The environment for nnictl: this interpreter's bin folder first on PATH, so that nnictl, the
    dispatcher and the trials' ``python`` are the ones of the environment nni-nas is installed in.

    NNI 3.0's manager listens on every interface and its REST API has no authentication (it hands out trial files
    and deletes trials), with no option to change that. Unless ``listen_all``, a Node preload
    (:data:`LOOPBACK_PRELOAD`, through ``NODE_OPTIONS``) makes it listen on 127.0.0.1 only. Another
    (:data:`TUNER_PATIENCE_PRELOAD`) gives the tuner process 120 s instead of NNI's 10 s to connect, a third
    (:data:`MACHINE_LOST_PRELOAD`) fails the trials of a remote machine that was lost, with a reason, a fourth
    (:data:`REMOTE_PYTHON_PRELOAD`) runs a remote trial with the Python ``pythonPath`` names whatever the account's
    ``.bashrc`` puts first on PATH, one
    (:data:`EARLY_STOP_PRELOAD`) records a trial that an assessor stopped as EARLY_STOPPED, and one
    (:data:`PORTAL_ICONS_PRELOAD`) serves the portal's icon font from this environment, so that the portal shows
    its icons offline (when ``scripts/install.sh`` could fetch the font; :mod:`nni_nas.manager.portal_icons`).
    """
    from nni_nas.manager.portal_icons import icon_dir, is_complete

    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    preloads = [TUNER_PATIENCE_PRELOAD, MACHINE_LOST_PRELOAD, REMOTE_PYTHON_PRELOAD, EARLY_STOP_PRELOAD,
                PORTAL_ICONS_PRELOAD]
    preloads += [] if listen_all else [LOOPBACK_PRELOAD]
    if is_complete(icon_dir()):
        env.setdefault("NNI_NAS_PORTAL_ICONS", str(icon_dir()))
    for path in preloads:
        preload = f"--require {path}"
        if preload not in env.get("NODE_OPTIONS", ""):
            env["NODE_OPTIONS"] = f"{env.get('NODE_OPTIONS', '')} {preload}".strip()
    env.update(extra or {})
    return env


def remote_listen_env(config: str | Path, env: dict[str, str]) -> dict[str, str]:
    """``env`` for a config whose trials run on other machines (``platform: remote``): they connect back to the
    manager at the config's ``nniManagerIp``, so the loopback-only manager also listens on that one address
    (and on no other). Other configs: ``env`` as it is."""
    from nni_nas.config import read_yaml
    from nni_nas.remote import is_remote

    try:
        raw = read_yaml(Path(config))
    except NasError:
        return env  # nnictl names the problem
    if not is_remote(raw) or "loopback.js" not in env.get("NODE_OPTIONS", ""):
        return env
    manager_ip = str(raw.get("nniManagerIp") or "").strip()
    if not manager_ip:
        raise NasError(f"{config}: trials on remote machines connect back to the manager: set nniManagerIp to "
                       "this machine's address as those machines reach it (`nni-nas check` says more)")
    return {**env, "NNI_NAS_ALSO_LISTEN": manager_ip}


def create_experiment(config: str | Path, port: int, env: dict[str, str] | None = None,
                      timeout: float = 120.0, attempts: int = 3) -> str:
    """``nnictl create --config CONFIG --port PORT``; return the experiment id.

    nnictl gives the NNI manager it starts three seconds to answer, hard-coded (``nni/experiment/launcher.py``,
    ``_check_rest_server``), then stops it and fails; on a busy machine Node alone takes longer to start. nnictl runs
    with that limit raised (:mod:`nni_nas.manager.nnictl_patient`), and the failure, if it still happens (nothing has
    run), is tried again, up to ``attempts`` times.

    A manager started on a full disk dies without a word and nnictl reports only that it did not answer: the disk of
    the experiment folder is probed first and after every failed start (:func:`nni_nas.disk.disk_problem`), and a
    full one is a :class:`nni_nas.errors.DiskFullError`, not a retry. A failed start leaves no experiment folder
    behind (NNI leaves one with empty logs per attempt)."""
    from nni_nas.disk import disk_problem
    from nni_nas.errors import DiskFullError

    env = remote_listen_env(config, env or nni_env())
    root = experiments_folder(config, env)
    command = [*nnictl_command(), "create", "--config", str(config), "--port", str(port)]
    for attempt in range(1, attempts + 1):
        problem = disk_problem(root)
        if problem:
            raise DiskFullError(f"cannot start the search: {problem}")
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
        output = proc.stdout + proc.stderr
        match = re.search(r"Experiment ID: (?:\x1b\[\d+m)?(\w+)", output)
        if proc.returncode == 0 and match:
            return match.group(1)
        if match:
            remove_unstarted(root, match.group(1))
        problem = disk_problem(root)
        if problem:
            raise DiskFullError(f"the NNI manager could not start: {problem}")
        if not manager_did_not_answer(output) or attempt == attempts:
            raise NasError(f"nnictl create failed (exit {proc.returncode}): {output.strip()[-800:]}")
        print(f"nnictl: the NNI manager did not answer within nnictl's 3 s (a busy machine?); starting it again "
              f"({attempt + 1} of {attempts})", file=sys.stderr, flush=True)
    raise AssertionError("unreachable")


def resume_experiment(experiment_id: str, port: int, env: dict[str, str] | None = None, timeout: float = 180.0,
                      attempts: int = 3) -> list[int]:
    """``nnictl resume ID --port PORT`` with nni-nas's manager preloads (``env``, :func:`nni_env`: the portal on
    127.0.0.1 unless ``listen_all``), a patient start retried like :func:`create_experiment`, and the disk of the
    experiment folder probed first (a manager resumed on a full disk dies as silently as a new one). When the
    experiment's manager died, the processes it left are ended first (:mod:`nni_nas.manager.orphans`; its tuner would
    join the new manager); their pids are returned.

    NNI 3.0 runs the trials that were RUNNING or WAITING when the manager stopped again, under their own ids
    (``NNIManager.addRecoveredTrialJob``)."""
    from nni_nas.disk import disk_problem
    from nni_nas.errors import DiskFullError
    from nni_nas.manager.orphans import end_leftovers
    from nni_nas.results.records import experiment_status, experiments_root

    env = env or nni_env()
    root = Path(env["HOME"]) / "nni-experiments" if env.get("HOME") else experiments_root()
    pid = (experiment_status(experiment_id, root) or {}).get("pid")
    ended = [] if isinstance(pid, int) and process_alive(pid) else end_leftovers(experiment_id, root / experiment_id)
    command = [*nnictl_command(), "resume", experiment_id, "--port", str(port)]
    for attempt in range(1, attempts + 1):
        problem = disk_problem(root)
        if problem:
            raise DiskFullError(f"cannot resume experiment {experiment_id}: {problem}")
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
        output = proc.stdout + proc.stderr
        if proc.returncode == 0 and "ERROR" not in proc.stdout:
            return ended
        if not manager_did_not_answer(output) or attempt == attempts:
            raise NasError(f"nnictl resume {experiment_id} failed (exit {proc.returncode}): {output.strip()[-600:]}")
        print(f"nnictl: the NNI manager did not answer within nnictl's 3 s (a busy machine?); starting it again "
              f"({attempt + 1} of {attempts})", file=sys.stderr, flush=True)
    return ended


def experiments_folder(config: str | Path, env: dict[str, str] | None = None) -> Path:
    """Where NNI keeps the experiments of ``config``: its ``experimentWorkingDirectory`` (relative to the config's
    folder), else ``~/nni-experiments`` of ``env``'s HOME."""
    from nni_nas.config import read_yaml

    try:
        folder = read_yaml(Path(config)).get("experimentWorkingDirectory")
    except (NasError, OSError):
        folder = None
    if isinstance(folder, str) and folder.strip():
        path = Path(os.path.expanduser(folder))
        return path if path.is_absolute() else Path(config).parent / path
    home = (env or os.environ).get("HOME") or os.path.expanduser("~")
    return Path(home) / "nni-experiments"


def remove_unstarted(root: Path, experiment_id: str) -> None:
    """Remove the folder of an experiment whose manager never started (nothing in it but empty files), and the
    ``_latest`` link to it; a folder holding anything written is kept."""
    import shutil

    folder = root / experiment_id
    if not folder.is_dir() or folder.is_symlink():
        return
    if any(path.is_symlink() or (path.is_file() and path.stat().st_size > 0) for path in folder.rglob("*")):
        return
    shutil.rmtree(folder, ignore_errors=True)
    latest = root / "_latest"
    if latest.is_symlink() and os.readlink(latest) in (experiment_id, str(folder)):
        latest.unlink(missing_ok=True)


def tool_command(name: str) -> str:
    """``name`` if the shell finds this environment's ``name`` on PATH, else its full path (when ``.venv`` is not
    activated, a bare ``nnictl`` would be "command not found")."""
    mine = Path(sys.executable).parent / name
    return name if shutil.which(name) == str(mine) or not mine.exists() else str(mine)


def nnictl_command() -> list[str]:
    """The real nnictl of this environment, with a patient manager start (:mod:`nni_nas.manager.nnictl_patient`),
    through this Python with ``-W`` ignoring the ``pkg_resources is deprecated`` warning nnictl prints on every call
    under setuptools 80. Only the nnictl process gets the filter (``PYTHONWARNINGS`` would reach the manager, the
    dispatcher and every trial)."""
    return [sys.executable, "-W", "ignore:pkg_resources is deprecated:UserWarning",
            "-m", "nni_nas.manager.nnictl_patient"]


def manager_did_not_answer(output: str) -> bool:
    """Whether nnictl gave up because the manager it started did not answer ``check-status`` in time."""
    return "check-status" in output and ("Connection refused" in output or "JSONDecodeError" in output)


def stop_experiment(experiment_id: str, env: dict[str, str] | None = None) -> None:
    """``nnictl stop ID`` (by id, never --all)."""
    subprocess.run([*nnictl_command(), "stop", experiment_id], env=env or nni_env(),
                   capture_output=True, text=True, timeout=120)


def rest_get(port: int, path: str, timeout: float = 10.0) -> Any:
    """GET ``http://127.0.0.1:PORT/api/v1/nni/<path>`` as JSON."""
    url = f"http://127.0.0.1:{port}/api/v1/nni/{path.lstrip('/')}"
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode())


def wait_until_finished(port: int, timeout: float, poll: float = 2.0, on_poll=None,
                        watch: ManagerWatch | None = None) -> dict[str, Any]:
    """Poll ``check-status`` until the experiment is DONE (or stopped / failed); return the last status.

    ``on_poll(status)`` is called after each poll (for progress output). Raises :class:`NasError` when
    the manager reports an error or ``timeout`` seconds pass, and :class:`nni_nas.errors.ManagerLostError` when the
    manager is gone (:class:`ManagerWatch`: its process has died, or it has not answered for
    :data:`MANAGER_LOST_AFTER_S`), instead of waiting out ``timeout`` for a search that no longer runs.
    """
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    watch = watch or ManagerWatch(port)
    while time.monotonic() < deadline:
        try:
            status = rest_get(port, "check-status")
            watch.answered()
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            status = {"status": "UNREACHABLE"}
            watch.unanswered()
        if on_poll is not None:
            on_poll(status)
        if status.get("status") == "ERROR":
            from nni_nas.disk import is_disk_full

            if is_disk_full(str(status.get("errors"))):
                raise watch.disk_full(status.get("errors"))
            raise NasError(f"the NNI manager reports an error: {status.get('errors')}")
        if status.get("status") in FINISHED:
            return status
        # NO_MORE_TRIAL: the tuner has nothing left to propose; finished once the last trials end.
        if status.get("status") == "NO_MORE_TRIAL":
            try:
                if not any(job.get("status") in ACTIVE_TRIALS for job in rest_get(port, "trial-jobs")):
                    return status
            except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
                watch.unanswered()
        time.sleep(poll)
    raise NasError(f"experiment on port {port} did not finish within {timeout:.0f} s (last status {status})")


# a manager that has not answered for this long is taken for lost, even where its process cannot be seen
MANAGER_LOST_AFTER_S = float(os.environ.get("NNI_NAS_MANAGER_LOST_S", "20"))


class ManagerWatch:
    """Whether the NNI manager on ``port`` is gone. Its experiment id and process id are read once it answers (the
    experiment's profile, then NNI's ``.experiment`` file); a manager whose process has died is lost at the first
    unanswered poll, one that cannot be seen after :data:`MANAGER_LOST_AFTER_S` without an answer."""

    def __init__(self, port: int, lost_after: float | None = None):
        self.port = port
        self.lost_after = MANAGER_LOST_AFTER_S if lost_after is None else lost_after
        self.experiment_id: str | None = None
        self.folder: Path | None = None
        self.pid: int | None = None
        self.unanswered_since: float | None = None

    def answered(self) -> None:
        self.unanswered_since = None
        if self.experiment_id is None:
            self._identify()

    def _identify(self) -> None:
        from nni_nas.results.records import experiment_status

        try:
            profile = rest_get(self.port, "experiment")
            self.experiment_id = str(profile["id"])
            self.folder = Path(profile["logDir"])
        except (OSError, ValueError, KeyError, TypeError):
            return
        meta = experiment_status(self.experiment_id, self.folder.parent) or {}
        self.pid = meta.get("pid") if isinstance(meta.get("pid"), int) else None

    def unanswered(self) -> None:
        """One unanswered request: raise :class:`nni_nas.errors.ManagerLostError` if the manager is gone."""
        from nni_nas.errors import ManagerLostError

        now = time.monotonic()
        if self.unanswered_since is None:
            self.unanswered_since = now
        died = self.pid is not None and not process_alive(self.pid)
        if died or now - self.unanswered_since >= self.lost_after:
            error = ManagerLostError(self.message(died))
            error.died, error.folder = died, self.folder
            raise error

    def disk_full(self, said: Any) -> Exception:
        """:class:`nni_nas.errors.DiskFullError` for a disk that filled up during the search (the manager ``said``
        so, or a trial failed and the disk has no room left)."""
        from nni_nas.disk import free_text
        from nni_nas.errors import DiskFullError

        if self.experiment_id is None:
            self._identify()
        folder = self.folder.parent if self.folder else Path("~/nni-experiments").expanduser()
        said_text = "; ".join(map(str, said)) if isinstance(said, list) else str(said or "")
        resume = f"{tool_command('nni-nas')} resume {self.experiment_id or '<experiment id>'}"
        return DiskFullError(f"the disk holding {folder} filled up during the search ({free_text(folder)} free; "
                             f"{said_text[:160]}): NNI can no longer record results there, so the search is stopped; "
                             f"free space there, then resume the search with: {resume} (finished trials are kept, "
                             "interrupted ones run again)")

    def message(self, died: bool) -> str:

        name = f"experiment {self.experiment_id}" if self.experiment_id else f"the experiment on port {self.port}"
        log = f"; its log: {self.folder / 'log' / 'nnimanager.log'}" if self.folder else ""
        resume = (f"{tool_command('nni-nas')} resume {self.experiment_id}" if self.experiment_id
                  else f"{tool_command('nni-nas')} resume <experiment id>")
        if died:
            return (f"the NNI manager of {name} (pid {self.pid}) is gone (killed, or out of memory{log}); the trials "
                    f"that finished are kept in its records: resume the search with: {resume} (it runs the "
                    "interrupted trials again)")
        return (f"the NNI manager of {name} has not answered for {self.lost_after:.0f} s (port {self.port}{log}); "
                f"the trials that finished are kept in its records: stop it with {tool_command('nni-nas')} stop "
                f"{self.experiment_id or '<experiment id>'}, then resume the search with: {resume}")


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def trial_jobs(port: int) -> list[dict[str, Any]]:
    """The manager's trial jobs with parameters and final metrics decoded."""
    jobs = rest_get(port, "trial-jobs")
    for job in jobs:
        params = job.get("hyperParameters") or []
        job["parameters"] = json.loads(params[0])["parameters"] if params else None
        finals = job.get("finalMetricData") or []
        job["final"] = [_decode(m["data"]) for m in finals]
    return jobs


def _decode(data: str) -> Any:
    value = json.loads(data)
    return json.loads(value) if isinstance(value, str) else value
