"""The trial's side of the warm worker (:mod:`nni_nas.runtime.worker`): hand this trial to the experiment's worker,
starting the worker first if there is none, and wait for its exit code.

The worker is found by a Unix socket named after the interpreter and the experiment id; the first trial to arrive
starts it (``python -m nni_nas.runtime.worker``, in its own session) under a lock, the others connect.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path


def socket_path(experiment_id: str) -> Path:
    """Where the worker of ``experiment_id`` (for this interpreter) listens: in ``$XDG_RUNTIME_DIR/nni-nas`` (a
    folder only this user can enter) when set, else in ``/tmp/nni-nas-<uid>``."""
    tag = hashlib.sha1(f"{sys.executable}:{experiment_id}".encode()).hexdigest()[:12]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    folder = Path(runtime) / "nni-nas" if runtime and Path(runtime).is_dir() else Path(f"/tmp/nni-nas-{os.getuid()}")
    return folder / f"{tag}.sock"


def private_folder(folder: Path) -> str | None:
    """Create ``folder`` (mode 0700) if needed; why it cannot be trusted, or None. Another user could have made a
    folder of that name in /tmp first, to receive the trial's environment and standard streams."""
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode):
        return f"{folder} is not a plain folder (a symbolic link or a file)"
    if info.st_uid != os.getuid():
        return f"{folder} belongs to user id {info.st_uid}, not to this user ({os.getuid()})"
    if info.st_mode & 0o077:
        return f"{folder} can be entered by other users (mode {stat.S_IMODE(info.st_mode):o}; it must be 700)"
    return None


# ------------------------------------------------------------------------------------------------ client
def run_via_worker(argv: list[str]) -> int | None:
    """Run the trial ``argv`` in the experiment's warm worker; None if no worker could be reached."""
    experiment_id = os.environ.get("NNI_EXP_ID")
    if not experiment_id or os.environ.get("NNI_NAS_WORKER", "1") == "0":
        return None
    path = socket_path(experiment_id)
    unsafe = private_folder(path.parent)
    if unsafe:
        print(f"nni-nas trial: warning: not using the warm worker: {unsafe}; the trial runs in this process "
              "(slower start)", file=sys.stderr)
        return None
    conn = _connect_or_spawn(path)
    if conn is None:
        return None
    request = json.dumps({"argv": argv, "env": dict(os.environ), "cwd": os.getcwd()}).encode()
    with conn:
        worker_pid = _peer_pid(conn)
        try:
            socket.send_fds(conn, [struct.pack("!I", len(request)) + request], [0, 1, 2])
            child = _recv_exactly(conn, 4)
            reply = _recv_exactly(conn, 4) if child is not None else None
        except KeyboardInterrupt:  # NNI stops the trial (maxTrialDuration, a cancel): say why, not where it was
            from nni_nas.runtime.trial_stop import die_by_sigint, record_stop

            record_stop()
            die_by_sigint()  # the closed socket ends the training process (it dies with its client)
    if reply is None:
        message = what_died(worker_pid, struct.unpack("!i", child)[0] if child is not None else None)
        print(f"nni-nas trial: error: {message}", file=sys.stderr)
        _record_error(message)
        return 1
    return struct.unpack("!i", reply)[0]


def what_died(worker_pid: int | None, child_pid: int | None) -> str:
    """The one-line reason of a trial whose process ended without an exit code: the training process (a fork of
    the warm worker) was killed while the worker lives on, or the worker itself was gone before it forked."""
    worker = f"the warm worker (pid {worker_pid})" if worker_pid else "the warm worker"
    if child_pid is None:
        return (f"{worker} ended before it started this trial's training process (killed, or out of memory); "
                "the next trial starts a new worker")
    fate = "is still running" if worker_pid and _alive(worker_pid) else "has ended too"
    return (f"the trial's training process (pid {child_pid}, forked from {worker}) was killed before it finished "
            f"(out of memory, or a signal such as kill -9); {worker} {fate}; see the trial's stderr above for the "
            "process's last words")


def _peer_pid(conn: socket.socket) -> int | None:
    """The pid of the process listening on the other end (Linux ``SO_PEERCRED``: the worker), or None."""
    try:
        pid, _, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    except (OSError, AttributeError):
        return None
    return pid or None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has died and waits to be reaped


def _record_error(message: str) -> None:
    """The reason in the trial folder's ``error.txt``, as the trial itself records its errors."""
    from nni_nas.runtime.trial_files import ERROR_FILE

    out = os.environ.get("NNI_OUTPUT_DIR")
    if out:
        with contextlib.suppress(OSError):
            (Path(out) / ERROR_FILE).write_text(message + "\n")


def _connect_or_spawn(path: Path, wait: float = 120.0) -> socket.socket | None:
    lock_fd = os.open(path.with_suffix(".lock"), os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    with os.fdopen(lock_fd, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one client at a time may start the worker
        conn = _try_connect(path)
        if conn is not None:
            return conn
        log_dir = Path(os.environ.get("NNI_OUTPUT_DIR", ".")).parent
        log = open(log_dir / "nni-nas-worker.log", "ab")  # noqa: SIM115  (handed to the child process)
        subprocess.Popen([sys.executable, "-m", "nni_nas.runtime.worker", "--socket", str(path),
                          "--manager", os.environ.get("NNI_TRIAL_COMMAND_CHANNEL", "")],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            conn = _try_connect(path)
            if conn is not None:
                return conn
            time.sleep(0.1)
    return None


def _try_connect(path: Path) -> socket.socket | None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
        return conn
    except OSError:
        conn.close()
        return None


def _recv_exactly(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
