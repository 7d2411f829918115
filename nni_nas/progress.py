"""The live view of ``nni-nas search``: trials done / total, elapsed time, an ETA and the best result so far.

On a terminal it is one bar redrawn in place (``\\r``); anywhere else (a pipe, a log file, CI) it degrades to a
plain line each time the counts or the best result change, so logs stay readable. Imports nothing heavy.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

# NNI trial statuses that will not change any more
ENDED = ("SUCCEEDED", "FAILED", "USER_CANCELED", "SYS_CANCELED", "EARLY_STOPPED")


def clock_text(seconds: float) -> str:
    """``1:05`` or ``2:03:10``."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def best_result(jobs: Iterable[dict[str, Any]], key: str = "default", maximize: bool = True) -> float | None:
    """The best final ``key`` among the trials' decoded final results (``job["final"]``), or None; a trial over the
    experiment's budget has no result (:func:`nni_nas.constraints.is_over_budget`)."""
    values = []
    for job in jobs:
        for final in job.get("final") or []:
            if isinstance(final, dict) and final.get("over_budget"):  # its default is the worst value, no result
                continue
            value = final.get(key) if isinstance(final, dict) else final
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                values.append(float(value))
    if not values:
        return None
    return max(values) if maximize else min(values)


class SearchProgress:
    """Draw the progress of a search from the manager's trial jobs (:func:`nni_nas.manager.nnictl.trial_jobs`).

    ``total`` is the experiment's ``maxTrialNumber`` (None: no bar and no ETA). The ETA is the mean time per
    ended trial so far times the trials left, which already accounts for trials running side by side.
    """

    def __init__(self, total: int | None, stream: TextIO | None = None, key: str = "default",
                 maximize: bool = True, label: str = "val_acc", terminal: bool | None = None,
                 clock: Callable[[], float] = time.monotonic, columns: int | None = None):
        self.total = total if total and total > 0 else None
        self.stream = stream or sys.stdout
        self.key, self.maximize, self.label = key, maximize, label
        if terminal is None:
            terminal = self.stream.isatty() and os.environ.get("TERM") != "dumb"
        self.terminal = terminal
        self.clock = clock
        self.start = clock()
        self.last: tuple[str, str] | None = None
        self.columns = columns
        self.drawn = False

    def parts(self, jobs: list[dict[str, Any]]) -> tuple[str, str, str]:
        """(counts, timing, best and states) for the current jobs, e.g. ``3/8 trials``, ``elapsed 0:30 | ETA
        0:50``, ``best val_acc 0.9123 | 1 running, 1 failed, 1 stopped`` (by NNI: its time limit or a cancel)."""
        ended = sum(job.get("status") in ENDED for job in jobs)
        failed = sum(job.get("status") in ("FAILED", "SYS_CANCELED") for job in jobs)
        running = sum(job.get("status") == "RUNNING" for job in jobs)
        stopped = sum(job.get("status") in ("USER_CANCELED", "EARLY_STOPPED") for job in jobs)  # maxTrialDuration
        counts = f"{ended}/{self.total} trials" if self.total else f"{ended} trials"
        elapsed = self.clock() - self.start
        timing = f"elapsed {clock_text(elapsed)}"
        if self.total:
            left = elapsed / ended * max(0, self.total - ended) if ended else None
            timing += f" | ETA {clock_text(left) if left is not None else '--:--'}"
        best = best_result(jobs, self.key, self.maximize)
        rest = [f"best {self.label} {best:.4g}"] if best is not None else []
        states = ([f"{running} running"] * bool(running) + [f"{failed} failed"] * bool(failed)
                  + [f"{stopped} stopped"] * bool(stopped))
        if states:
            rest.append(", ".join(states))
        return counts, timing, " | ".join(rest)

    def bar(self, jobs: list[dict[str, Any]], width: int = 20) -> str:
        """``[#####...............] `` for the share of ended trials; empty without a total."""
        if not self.total:
            return ""
        ended = sum(job.get("status") in ENDED for job in jobs)
        filled = min(width, round(width * ended / self.total))
        return "[" + "#" * filled + "." * (width - filled) + "] "

    def update(self, jobs: list[dict[str, Any]]) -> None:
        """Redraw the bar (terminal) or print a line if the counts or best result changed (elsewhere)."""
        counts, timing, rest = self.parts(jobs)
        if self.terminal:
            line = " | ".join(filter(None, (self.bar(jobs) + counts, timing, rest)))
            columns = self.columns or shutil.get_terminal_size((100, 24)).columns
            self.stream.write("\r" + line[: max(20, columns - 1)] + "\x1b[K")
            self.stream.flush()
            self.drawn = True
        elif (counts, rest) != self.last:
            self.last = (counts, rest)
            self.stream.write(" | ".join(filter(None, (counts, timing, rest))) + "\n")
            self.stream.flush()

    def close(self) -> None:
        """End the bar's line so what follows starts on a fresh one."""
        if self.terminal and self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False
