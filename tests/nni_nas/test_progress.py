"""The search's live view: on a terminal one bar redrawn in place with done/total, elapsed, ETA and best so far;
elsewhere a plain line whenever the counts or the best change (the e2e evolution search checks both through a
pty and a pipe on its real manager)."""

from __future__ import annotations

import io

from nni_nas.progress import SearchProgress, best_result, clock_text


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def job(status: str, default: float | None = None) -> dict:
    return {"status": status, "final": [] if default is None else [{"default": default, "params": 10}]}


def test_bar_on_a_terminal_has_counts_eta_and_best():
    clock, out = Clock(), io.StringIO()
    progress = SearchProgress(8, stream=out, terminal=True, clock=clock, columns=200)
    progress.update([job("RUNNING")])
    clock.now += 30
    progress.update([job("SUCCEEDED", 0.5), job("SUCCEEDED", 0.91234), job("FAILED"), job("RUNNING")])
    progress.close()
    frames = out.getvalue().split("\r")[1:]
    assert len(frames) == 2 and out.getvalue().endswith("\n")
    assert frames[0] == "[....................] 0/8 trials | elapsed 0:00 | ETA --:-- | 1 running\x1b[K"
    # 3 of 8 ended in 30 s: 10 s a trial, 5 left -> 50 s
    assert frames[1] == ("[########............] 3/8 trials | elapsed 0:30 | ETA 0:50 | best val_acc 0.9123 | "
                         "1 running, 1 failed\x1b[K\n")


def test_plain_lines_when_not_a_terminal_only_on_change():
    clock, out = Clock(), io.StringIO()
    progress = SearchProgress(4, stream=out, terminal=False, clock=clock)
    jobs = [job("SUCCEEDED", 0.8), job("RUNNING")]
    progress.update(jobs)
    clock.now += 5
    progress.update(jobs)  # nothing changed: no new line
    progress.update([job("SUCCEEDED", 0.8), job("SUCCEEDED", 0.9)])
    progress.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()
    assert lines == ["1/4 trials | elapsed 0:00 | ETA 0:00 | best val_acc 0.8 | 1 running",
                     "2/4 trials | elapsed 0:05 | ETA 0:05 | best val_acc 0.9"]


def test_minimised_metric_and_unknown_total():
    jobs = [job("SUCCEEDED", 3.0), job("SUCCEEDED", 1.5), {"status": "SUCCEEDED", "final": [float("nan")]}]
    assert best_result(jobs, maximize=False) == 1.5 and best_result(jobs) == 3.0
    out = io.StringIO()
    SearchProgress(None, stream=out, terminal=True, maximize=False, label="latency").update(jobs)
    assert out.getvalue().startswith("\r3 trials | elapsed 0:00 | best latency 1.5")
    assert "ETA" not in out.getvalue()
    assert clock_text(3725) == "1:02:05" and clock_text(65) == "1:05"


def test_over_budget_and_stopped_trials_are_not_results():
    over = {"status": "SUCCEEDED", "final": [{"default": 0.0, "over_budget": True, "violations": ["..."]}]}
    out = io.StringIO()
    SearchProgress(3, stream=out, terminal=False).update([over, job("USER_CANCELED"), job("RUNNING")])
    assert out.getvalue() == "2/3 trials | elapsed 0:00 | ETA 0:00 | 1 running, 1 stopped\n"
    assert best_result([over]) is None
