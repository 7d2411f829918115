"""A warm trial worker: pays the heavy imports once per experiment instead of once per trial.

NNI starts every trial as a new process, and importing torch + Lightning costs several seconds each time
(measured: NNI's own multi-trial route spends 7-8 s per trial beyond training). Here the first trial of an
experiment starts a worker that imports torch, Lightning, torchmetrics and scikit-learn, then listens on a
Unix socket. Each trial process (the thin client NNI launched) hands the worker its argv, environment,
working directory and stdin/stdout/stderr; the worker forks, the child takes over that environment and runs
the trial, and the client exits with the child's exit code. The child first sends its pid, then its exit code,
so a client whose child is killed can say which process died and whether the worker lives on. NNI is imported only
in the child, after the environment is set, because NNI reads its trial settings from the environment at import
time.

The fork happens before the parent ever runs a torch operation, so no OpenMP thread pool exists to be broken
by it. When the client dies (NNI kills a trial), the child notices the closed socket and kills itself. The
worker exits after ``--idle`` seconds without trials, as soon as its NNI manager stops answering, or once the
manager says the experiment will run no more trials (its portal may stay up for hours).

Switch it off with ``--no-worker`` on the trial command line or ``NNI_NAS_WORKER=0``. This module is the worker
(``python -m nni_nas.runtime.worker``); the trial's side of the socket is :mod:`nni_nas.runtime.worker_client`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
from pathlib import Path

PRELOAD = ("torch", "pytorch_lightning", "torchmetrics", "sklearn.model_selection", "sklearn.datasets")


# ------------------------------------------------------------------------------------------------ worker
def serve(path: Path, idle: float, manager_url: str) -> None:
    """Pre-import, then fork one child per trial request until idle or the manager is gone."""
    for module in PRELOAD:
        __import__(module)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(16)
    server.settimeout(5.0)
    signal.signal(signal.SIGCHLD, lambda *_: _reap())
    last_active = time.monotonic()
    try:
        while True:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                if _children:
                    last_active = time.monotonic()
                elif (time.monotonic() - last_active > idle or not _manager_alive(manager_url)
                      or _experiment_over(manager_url)):
                    return
                continue
            last_active = time.monotonic()
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                server.close()
                _run_child(conn)  # never returns
            _children.add(pid)
            conn.close()
    finally:
        server.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


_children: set[int] = set()


def _reap() -> None:
    for pid in list(_children):
        with contextlib.suppress(ChildProcessError):
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                _children.discard(pid)


def _run_child(conn: socket.socket) -> None:
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        header, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
        size = struct.unpack("!I", header[:4])[0]
        payload = header[4:]
        while len(payload) < size:
            payload += conn.recv(size - len(payload))
        request = json.loads(payload)
        conn.sendall(struct.pack("!i", os.getpid()))  # the client names this process if it is killed
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = ["nni_nas.runtime.trial", *request["argv"]]
        # The client's death (NNI killing the trial) closes the socket: then this child dies too.
        threading.Thread(target=_die_with_client, args=(conn,), daemon=True).start()
        from nni_nas.runtime.trial import main

        code = main(request["argv"], use_worker=False)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:  # report the crash in the trial's own stderr, then exit non-zero
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
            conn.sendall(struct.pack("!i", code))
        os._exit(code)


def _die_with_client(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.recv(1)
    os.kill(os.getpid(), signal.SIGKILL)


def _manager_alive(url: str) -> bool:
    """True while the NNI manager of this experiment accepts connections (or when unknown)."""
    parsed = urllib.parse.urlparse(url)
    if not parsed.hostname or not parsed.port:
        return True
    with socket.socket() as probe:
        probe.settimeout(2.0)
        return probe.connect_ex((parsed.hostname, parsed.port)) == 0


def _experiment_over(url: str) -> bool:
    """True once the NNI manager says no trial of this experiment will run any more: DONE, STOPPED or ERROR, or no
    more trials to propose and none waiting or running. The manager and its portal stay up after a search (for
    hours), the worker need not. False when that cannot be asked (a remote trial's channel is its trial keeper,
    which has no REST API): the idle limit and the manager's end still apply."""
    parsed = urllib.parse.urlparse(url.replace("ws://", "http://", 1))
    if parsed.scheme != "http" or not parsed.netloc:
        return False
    api = f"http://{parsed.netloc}/api/v1/nni"
    try:
        status = _get_json(f"{api}/check-status").get("status")
        if status in ("DONE", "STOPPED", "ERROR"):
            return True
        return status == "NO_MORE_TRIAL" and not any(
            job.get("status") in ("WAITING", "RUNNING", "UNKNOWN") for job in _get_json(f"{api}/trial-jobs"))
    except (OSError, ValueError, AttributeError):
        return False


def _get_json(url: str):
    import urllib.request

    with urllib.request.urlopen(url, timeout=2.0) as response:
        return json.loads(response.read())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m nni_nas.runtime.worker", description="warm trial worker")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--idle", type=float, default=600.0, help="exit after this many idle seconds")
    parser.add_argument("--manager", default="", help="the trial command channel URL of the NNI manager")
    args = parser.parse_args()
    serve(Path(args.socket), args.idle, args.manager)


if __name__ == "__main__":
    main()
