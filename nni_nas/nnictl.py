"""Drive the real ``nnictl`` and read the NNI manager's REST API (used by ``nni-nas search`` and the tests)."""

from __future__ import annotations

import json
import os
import re
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
# them FAILED with an error.txt naming the machine, and keeps the search off that machine (nni_nas/machine_lost.js)
MACHINE_LOST_PRELOAD = Path(__file__).with_name("machine_lost.js")
# NNI 3.0 records a trial that its assessor stopped as USER_CANCELED when the trial ends quickly (it sets the
# early-stop flag only after the trial's end): this preload sets it first, so the trial is EARLY_STOPPED
EARLY_STOP_PRELOAD = Path(__file__).with_name("early_stop.js")
# NNI's portal loads its icon font from a CDN (offline: empty boxes); this preload serves the copy install.sh
# fetched into the environment and points the portal at it (nni_nas/portal_icons.js)
PORTAL_ICONS_PRELOAD = Path(__file__).with_name("portal_icons.js")


def nni_env(extra: dict[str, str] | None = None, listen_all: bool = False) -> dict[str, str]:
    """The environment for nnictl: this interpreter's bin folder first on PATH, so that nnictl, the
    dispatcher and the trials' ``python`` are the ones of the environment nni-nas is installed in.

    NNI 3.0's manager listens on every interface and its REST API has no authentication (it hands out trial files
    and deletes trials), with no option to change that. Unless ``listen_all``, a Node preload
    (:data:`LOOPBACK_PRELOAD`, through ``NODE_OPTIONS``) makes it listen on 127.0.0.1 only. Another
    (:data:`TUNER_PATIENCE_PRELOAD`) gives the tuner process 120 s instead of NNI's 10 s to connect, a third
    (:data:`MACHINE_LOST_PRELOAD`) fails the trials of a remote machine that was lost, with a reason, one
    (:data:`EARLY_STOP_PRELOAD`) records a trial that an assessor stopped as EARLY_STOPPED, and one
    (:data:`PORTAL_ICONS_PRELOAD`) serves the portal's icon font from this environment, so that the portal shows
    its icons offline (when ``scripts/install.sh`` could fetch the font; :mod:`nni_nas.portal_icons`).
    """
    from nni_nas.portal_icons import icon_dir, is_complete

    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    preloads = [TUNER_PATIENCE_PRELOAD, MACHINE_LOST_PRELOAD, EARLY_STOP_PRELOAD, PORTAL_ICONS_PRELOAD]
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
    with that limit raised (:mod:`nni_nas.nnictl_patient`), and the failure, if it still happens (nothing has run),
    is tried again, up to ``attempts`` times."""
    env = remote_listen_env(config, env or nni_env())
    command = [*nnictl_command(), "create", "--config", str(config), "--port", str(port)]
    for attempt in range(1, attempts + 1):
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
        output = proc.stdout + proc.stderr
        match = re.search(r"Experiment ID: (?:\x1b\[\d+m)?(\w+)", output)
        if proc.returncode == 0 and match:
            return match.group(1)
        if not manager_did_not_answer(output) or attempt == attempts:
            raise NasError(f"nnictl create failed (exit {proc.returncode}): {output.strip()[-800:]}")
        print(f"nnictl: the NNI manager did not answer within nnictl's 3 s (a busy machine?); starting it again "
              f"({attempt + 1} of {attempts})", file=sys.stderr, flush=True)
    raise AssertionError("unreachable")


def nnictl_command() -> list[str]:
    """The real nnictl of this environment, with a patient manager start (:mod:`nni_nas.nnictl_patient`), through
    this Python with ``-W`` ignoring the ``pkg_resources is deprecated`` warning nnictl prints on every call under
    setuptools 80. Only the nnictl process gets the filter (``PYTHONWARNINGS`` would reach the manager, the
    dispatcher and every trial)."""
    return [sys.executable, "-W", "ignore:pkg_resources is deprecated:UserWarning", "-m", "nni_nas.nnictl_patient"]


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


def wait_until_finished(port: int, timeout: float, poll: float = 2.0, on_poll=None) -> dict[str, Any]:
    """Poll ``check-status`` until the experiment is DONE (or stopped / failed); return the last status.

    ``on_poll(status)`` is called after each poll (for progress output). Raises :class:`NasError` when
    the manager reports an error or ``timeout`` seconds pass.
    """
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            status = rest_get(port, "check-status")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            status = {"status": "UNREACHABLE"}
        if on_poll is not None:
            on_poll(status)
        if status.get("status") == "ERROR":
            raise NasError(f"the NNI manager reports an error: {status.get('errors')}")
        if status.get("status") in FINISHED:
            return status
        # NO_MORE_TRIAL: the tuner has nothing left to propose; finished once the last trials end.
        if status.get("status") == "NO_MORE_TRIAL" and not any(
                job.get("status") in ACTIVE_TRIALS for job in rest_get(port, "trial-jobs")):
            return status
        time.sleep(poll)
    raise NasError(f"experiment on port {port} did not finish within {timeout:.0f} s (last status {status})")


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
