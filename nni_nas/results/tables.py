"""Terminal tables of an experiment's best architectures."""

from __future__ import annotations

import math

from nni_nas.arch import describe
from nni_nas.results.failures import failure_summary
from nni_nas.results.records import ExperimentRecord

COLUMNS = ("rank", "trial", "val_acc", "test_acc", "params", "flops", "latency_ms", "architecture")


def top_table(record: ExperimentRecord, k: int = 5, arch_width: int | None = 70, key: str = "default") -> str:
    """The ``k`` best succeeded trials of ``record`` (ranked by the final result's ``key``) as an aligned table; the
    architecture column is cut to ``arch_width`` characters (None: whole)."""
    trials = record.ranked(key)[:k]
    if not trials:
        why = failure_summary(record)
        return f"experiment {record.experiment_id}: no succeeded trial" + (f": {why}" if why else " yet")
    return trial_table(trials, arch_width)


def unranked_note(record: ExperimentRecord) -> str | None:
    """Under a table of the succeeded trials: why the others have no result (``not ranked: 2 of 5 trials stopped by
    maxTrialDuration ...``), or None when every ended trial succeeded or none did (the table says it then)."""
    why = failure_summary(record) if record.ranked() else None
    return f"not ranked: {why}" if why else None


def pareto_table(record: ExperimentRecord, objectives: str | None = None, arch_width: int | None = 70) -> str:
    """The trials of ``record``'s Pareto front (:mod:`nni_nas.results.front`) under a line naming the objectives,
    best first by the first objective. ``objectives``: ``val_acc:max,params:min``; None: the experiment's own."""
    from nni_nas.results.front import describe_objectives, front_trials, measured_trials, objectives_for

    chosen = objectives_for(record, objectives)
    front = front_trials(record, chosen)
    header = (f"experiment {record.experiment_id}: Pareto front of {describe_objectives(chosen)}, {len(front)} of "
              f"{len(measured_trials(record, chosen))} succeeded trials")
    extra = tuple(o.metric for o in chosen if o.metric not in COLUMNS)
    return header + "\n" + trial_table(front, arch_width, extra)


def trial_table(trials: list, arch_width: int | None = 70, extra: tuple[str, ...] = ()) -> str:
    """``trials`` as an aligned table in the given order (rank = position), ``extra`` final-result keys added; the
    ``test_acc`` column only when some trial was measured on a test split."""
    # a search without a test split (the Python API's, a data set with test_fraction 0) reports no test_acc
    tested = any("test_acc" in (t.final or {}) for t in trials)
    columns = tuple(c for c in COLUMNS[:-1] if tested or c != "test_acc") + extra + COLUMNS[-1:]
    rows = [columns]
    for rank, trial in enumerate(trials, start=1):
        final = trial.final or {}
        rows.append((
            str(rank), trial.trial_id, format_number(final.get("val_acc", final.get("default"))),
            *([format_number(final.get("test_acc"))] if tested else []), format_count(final.get("params")),
            format_count(final.get("flops")), format_number(final.get("latency_ms"), 3),
            *(format_number(final.get(key)) for key in extra),
            describe(trial.arch, arch_width if arch_width is not None else math.inf),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    for number, trial in enumerate(trials, start=1):
        missing = missing_weights(trial)
        if missing:
            lines[number] += f"  <- {missing}"
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def missing_weights(trial) -> str | None:
    """Why ``trial``'s row needs a word: its ``model.pt`` is not in its folder (deleted, or never saved), so export
    gives its architecture only; None when the weights are there, or when the trial trains none (a benchmark table's
    lookup) or its folder is unknown."""
    from nni_nas.runtime.trial_files import TRAINED_WEIGHTS_FILE

    final = trial.final or {}
    if trial.trial_dir is None or "benchmark_key" in final or (trial.trial_dir / TRAINED_WEIGHTS_FILE).is_file():
        return None
    return f"no {TRAINED_WEIGHTS_FILE} in its folder (deleted?): export gives its architecture only"


def format_number(value, digits: int = 4) -> str:
    """``value`` with ``digits`` decimals; ``-`` for a missing value."""
    if value is None:
        return "-"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "nan" if math.isnan(number) else f"{number:.{digits}f}"


def format_count(value) -> str:
    """A count for humans: ``1.81k``, ``2.40M``; ``-`` for a missing value."""
    if value is None:
        return "-"
    number = float(value)
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if number >= size:
            return f"{number / size:.2f}{unit}"
    return f"{number:.0f}"
