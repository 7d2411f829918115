"""The processes a dead NNI manager leaves behind, and ending them before the experiment is resumed.

When NNI 3.0's manager dies (``kill -9``, the out-of-memory killer), its children live on: the tuner's dispatcher
keeps retrying its websocket to the manager's port for ever, trials run until their next report, the warm worker
until its next look at the manager. ``nnictl resume`` starts a new manager on that same port, and the old dispatcher
then connects to it beside the new one: the new manager fails with "Dispatcher stream error, tuner may have crashed"
(seen in tests/e2e/test_manager_lost_nnictl.py before this module). ``nni-nas search`` ends them when it finds its
manager gone and ``nni-nas resume`` before it resumes: they are recognised by the environment NNI gave them (the
dispatcher's ``NNI_LOG_DIRECTORY`` is ``<experiment>/log``, a trial's and its worker's ``NNI_EXP_ID`` the
experiment's id), which no other experiment's processes share; only processes of this user are seen.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def leftover_processes(experiment_id: str, folder: Path, tuner_only: bool = False) -> list[int]:
    """Pids of this user's processes that belong to the experiment in ``folder`` (its dispatcher, trials, worker;
    ``tuner_only``: its dispatcher, the only one with ``NNI_LOG_DIRECTORY``)."""
    log_dir = os.fsencode(f"NNI_LOG_DIRECTORY={folder / 'log'}")
    exp_id = os.fsencode(f"NNI_EXP_ID={experiment_id}")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            environ = (entry / "environ").read_bytes().split(b"\0")
            if log_dir in environ or (exp_id in environ and not tuner_only):
                found.append(int(entry.name))
    return found


def end_leftovers(experiment_id: str, folder: Path, grace: float = 15.0, tuner_only: bool = False) -> list[int]:
    """Let the leftovers of the experiment in ``folder`` end on their own for up to ``grace`` seconds (an interrupted
    trial records why at its next report, the warm worker sees its manager gone within seconds; the dispatcher never
    ends), then end the rest (SIGTERM, then SIGKILL after 10 s); return the pids that had to be ended. ``tuner_only``:
    the dispatcher alone. Call only when the experiment's manager is known to be dead."""
    def left() -> list[int]:
        return leftover_processes(experiment_id, folder, tuner_only)

    deadline = time.monotonic() + grace
    while left() and time.monotonic() < deadline:
        time.sleep(0.5)
    ended = left()
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        for pid in left():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        until = time.monotonic() + wait
        while left() and time.monotonic() < until:
            time.sleep(0.2)
    return ended
