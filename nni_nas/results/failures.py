"""Why an experiment's trials did not succeed, in one line, from the trials' own files.

A trial that fails writes its reason as the first line of ``error.txt`` (:mod:`nni_nas.runtime.trial`); one that NNI
stopped (``maxTrialDuration``, a cancel) writes ``stopped by ...`` there (:mod:`nni_nas.runtime.trial_stop`); one that
an assessor stopped is EARLY_STOPPED in NNI's records; one over the experiment's budget reports a final dict with
``over_budget`` and the limits it broke (:mod:`nni_nas.constraints`). ``nni-nas search`` and ``top`` print the
commonest of these, counted, instead of a bare "no succeeded trial".
"""

from __future__ import annotations

import collections
import re
from dataclasses import dataclass
from pathlib import Path

from nni_nas.progress import ENDED
from nni_nas.results.records import ExperimentRecord, TrialRecord
from nni_nas.runtime.trial_files import ERROR_FILE
from nni_nas.runtime.trial_stop import early_stop_reason, is_stop_reason

CANCELLED = ("USER_CANCELED", "SYS_CANCELED", "EARLY_STOPPED")
NUMBER = re.compile(r"\d+(?:\.\d+)?(?:e[-+]?\d+)?")


@dataclass(frozen=True)
class Problem:
    """Why one trial has no result: ``kind`` is ``failed``, ``stopped`` or ``over budget``; ``line`` the reason."""

    trial_id: str
    kind: str
    line: str

    @property
    def group(self) -> tuple[str, str]:
        """Trials whose reasons differ only in numbers (an epoch, a pid, a measured latency) share a cause."""
        if self.kind == "over budget":
            return self.kind, self.line
        return self.kind, NUMBER.sub("#", self.line)


def trial_problem(trial: TrialRecord) -> Problem | None:
    """Why ``trial`` ended without a result, or None (it succeeded, or it has not ended)."""
    if trial.over_budget:
        limits = sorted({str(v).split(" > ")[-1].split()[0] for v in trial.final.get("violations") or []})
        return Problem(trial.trial_id, "over budget", " and ".join(limits) or "a constraint")
    if trial.status not in ENDED or (trial.status == "SUCCEEDED" and trial.final is not None):
        return None
    line = first_error_line(trial.trial_dir, stderr=trial.status not in CANCELLED)
    if trial.status == "EARLY_STOPPED":  # the trial cannot tell the assessor's stop from a cancel; NNI's record can
        return Problem(trial.trial_id, "stopped", early_stop_reason(line))
    if line is not None:
        return Problem(trial.trial_id, "stopped" if is_stop_reason(line) else "failed", line)
    if trial.status in CANCELLED:
        return Problem(trial.trial_id, "stopped", f"cancelled by NNI ({trial.status}), no reason recorded")
    if trial.status == "SUCCEEDED":
        return Problem(trial.trial_id, "failed", "ended without reporting a final result")
    return Problem(trial.trial_id, "failed", "no reason recorded (no error.txt or trial.stderr in its folder)")


def first_error_line(folder: Path | None, stderr: bool = True) -> str | None:
    """The reason a trial recorded: ``error.txt``'s first line, else (``stderr``) the last line of its
    ``trial.stderr`` (a trial that failed before nni-nas ran: a missing module, a shell error), else None. A cancelled
    trial's stderr ends wherever the interrupt found it, which is no reason."""
    if folder is None:
        return None
    for name, pick in ((ERROR_FILE, 0), ("trial.stderr", -1))[: 2 if stderr else 1]:
        try:
            lines = [line.strip() for line in (folder / name).read_text(errors="replace").splitlines()]
        except OSError:
            continue
        lines = [line for line in lines if line]
        if lines:
            return cut(lines[pick].removeprefix("nni-nas trial: error: ").removeprefix("nni-nas trial: "))
    return None


def cut(text: str, width: int = 300) -> str:
    """``text`` up to ``width`` characters, with ``...`` where it was cut."""
    return text if len(text) <= width else text[: width - 3] + "..."


def failure_summary(record: ExperimentRecord) -> str | None:
    """The commonest reason among the trials of ``record`` that ended without a result, counted (``3 of 3 trials
    failed: training loss became nan ...``; ``every trial was over the max_latency_ms budget``), with how many
    trials other reasons account for; None when no trial ended that way."""
    problems = [p for p in map(trial_problem, record.trials) if p is not None]
    if not problems:
        return None
    ended = sum(t.status in ENDED for t in record.trials)
    groups = collections.Counter(p.group for p in problems)
    (kind, _), count = top = groups.most_common(1)[0]
    text = describe(kind, merged_line([p.line for p in problems if p.group == top[0]]), count, ended)
    others = len(problems) - count
    if others:
        text += (f" (and {others} more for {len(groups) - 1} other reason{'s' * (len(groups) > 2)}: each trial's "
                 "error.txt has its own)")
    return text


def merged_line(lines: list[str]) -> str:
    """Lines that differ only in numbers as one, each differing number as its range: ``after epoch 71-83``."""
    columns = list(zip(*(NUMBER.findall(line) for line in lines)))
    ranges = iter(values[0] if len(set(values)) == 1 else
                  f"{min(values, key=float)}-{max(values, key=float)}" for values in columns)
    return NUMBER.sub(lambda _: next(ranges), lines[0])


def describe(kind: str, line: str, count: int, ended: int) -> str:
    """One group of problems as a sentence."""
    if kind == "over budget":
        who = "every trial was" if count == ended else f"{count} of {ended} trials were"
        return (f"{who} over the {line} budget (not trained); raise the limit in tuner.classArgs.constraints or "
                "search smaller networks")
    who = f"{count} of {ended} trials"
    if kind == "stopped":
        return f"{who} {line}" if is_stop_reason(line) else f"{who} were {line}"  # "stopped by ..." / "cancelled ..."
    return f"{who} failed: {line}"
