"""Why NNI stopped a trial, in one line: its ``maxTrialDuration`` or a cancel (``nnictl stop``, the portal's kill).

NNI stops a trial by sending its process SIGINT (SIGKILL 5 s later), so Python would print a KeyboardInterrupt
traceback from wherever the trial happened to be and record no cause. Instead the trial writes the cause into
``trial.stderr`` and ``error.txt`` (``stopped by maxTrialDuration (25 s) after epoch 3 of 200; ...``), which
``nni-nas search`` and ``top`` read back. NNI says nothing to the trial about why it is stopped: a trial whose process
has run for at least ``maxTrialDuration`` (read from the manager's stored config) was stopped by that limit.

This module imports nothing heavy: the trial's thin worker client uses it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

from nni_nas.runtime.trial_files import ERROR_FILE

TIME_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}  # as NNI's parse_time reads maxTrialDuration
# NNI checks the durations of running trials every few seconds and measures from the spawn of the trial's shell,
# a little before this process started: a process that old was stopped by the limit
SLACK_S = 2.0


def parse_duration(value: Any) -> float | None:
    """Seconds of an NNI duration (``25s``, ``1.5h``, ``90``), or None when unset or unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    for unit, factor in TIME_UNITS.items():
        if text.endswith(unit):
            with contextlib.suppress(ValueError):
                return float(text[: -len(unit)]) * factor
    return None


def process_age() -> float | None:
    """Seconds since this process started (Linux ``/proc``), or None where that cannot be read."""
    try:
        started_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return uptime - started_ticks / os.sysconf("SC_CLK_TCK")


def epochs_done(out_dir: Path) -> tuple[int, str]:
    """How many epochs the trial finished, from its per-epoch history (``history.jsonl``; a one-shot search that has
    not reached its retraining: ``search_history.jsonl``), and what kind: ``epoch`` or ``search epoch``."""
    for name, kind in (("history.jsonl", "epoch"), ("search_history.jsonl", "search epoch")):
        with contextlib.suppress(OSError):
            lines = (out_dir / name).read_text().splitlines()
            return sum(bool(line.strip()) for line in lines), kind
    return 0, "epoch"


def stop_reason(out_dir: Path, max_duration_s: float | None, age_s: float | None,
                epochs_total: int | None = None) -> str:
    """The one-line cause of a trial stopped by NNI after ``age_s`` seconds: the time limit if it had run that long,
    else a cancel; with the epochs it had finished and the fix."""
    done, kind = epochs_done(out_dir)
    of = f" of {epochs_total}" if epochs_total and kind == "epoch" else ""
    progress = f"after {kind} {done}{of}" if done else f"before its first {kind} ended"
    if max_duration_s is not None and age_s is not None and age_s >= max_duration_s - SLACK_S:
        return (f"stopped by maxTrialDuration ({max_duration_s:g} s) {progress}; raise maxTrialDuration in the "
                "config or lower train.epochs (a time limit, not an error in the trial)")
    return (f"stopped by NNI {progress} (cancelled: `nnictl stop`, the portal's kill, or a lost machine; not an "
            "error in the trial)")


def _stored_limits() -> tuple[float | None, int | None]:
    """(maxTrialDuration in seconds, train.epochs) from the experiment config the manager stored; None for unknown."""
    from nni_nas.manager.client import manager_get

    try:
        params = manager_get("experiment", timeout=2.0).get("params") or {}
    except (OSError, ValueError, LookupError, AttributeError):
        return None, None
    train = ((params.get("tuner") or {}).get("classArgs") or {}).get("train")
    epochs = train.get("epochs") if isinstance(train, dict) else None
    return parse_duration(params.get("maxTrialDuration")), epochs if isinstance(epochs, int) else None


def record_stop(out_dir: Path | None = None) -> str:
    """Under NNI, after NNI's SIGINT: write the cause into the trial's ``error.txt`` and stderr; return it."""
    out_dir = out_dir or Path(os.environ.get("NNI_OUTPUT_DIR", "."))
    max_duration, epochs = _stored_limits()
    reason = stop_reason(out_dir, max_duration, process_age(), epochs)
    with contextlib.suppress(OSError):
        (out_dir / ERROR_FILE).write_text(reason + "\n")
    with contextlib.suppress(OSError, ValueError):
        print(f"nni-nas trial: {reason}", file=sys.stderr, flush=True)
    return reason


def is_stop_reason(line: str) -> bool:
    """``line`` (an ``error.txt``'s first line) is a stop by NNI recorded here, not a failure of the trial."""
    return line.startswith(("stopped by ", "stopped early by "))


PROGRESS = re.compile(r"after (?:search )?epoch \d+(?: of \d+)?|before its first (?:search )?epoch ended")


def early_stop_reason(recorded: str | None) -> str:
    """The one-line cause of a trial that NNI's assessor (Medianstop, Curvefitting) stopped: NNI records it as
    EARLY_STOPPED but stops its process as it stops a cancelled one, so the trial itself wrote a cancel's line
    (``recorded``); its progress (``after epoch 2 of 3``) is kept. NNI's manager stops a trial over
    ``maxTrialDuration`` with the same early-stop flag (``stopTrialIfOverMaxDurationLimit``): the time limit the
    trial recorded is that trial's cause."""
    if recorded and recorded.startswith("stopped by maxTrialDuration"):
        return recorded
    found = PROGRESS.search(recorded or "")
    progress = f" {found.group(0)}" if found else ""
    return (f"stopped early by the assessor{progress} (its intermediate results were judged poor; not an error in "
            "the trial, and no result at full fidelity)")



def die_by_sigint() -> NoReturn:
    """End this process as an uncaught interrupt does (killed by SIGINT, no traceback): NNI records a trial that it
    stopped and that died by its signal as cancelled (USER_CANCELED), one that exits with a code as FAILED."""
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)
    os._exit(130)  # not reached unless the signal is blocked
