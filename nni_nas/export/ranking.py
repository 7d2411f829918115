"""The index of an export folder: ``RANKING.md`` and ``ranking.json``, the current ranking of every trial exported
there, rewritten at each export.

Exported folders are named by trial (``trial-<id>``), never by rank: a resumed search moves trials up and down, and
a folder named ``rank1-...`` would then be wrong, or a second ``rank1-...`` would join it. The rank lives here
instead, computed from the experiment's records each time ``export`` (or the Python API's ``export_model``) writes
to the folder, in the order ``nni-nas top`` prints. Folders of an earlier nni-nas (``rank<k>-<id>``,
``pareto<k>-<id>``) are left as they are and listed apart: they are the user's files, and only their name is stale.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from nni_nas.results.records import ExperimentRecord
from nni_nas.results.tables import format_count, format_number

RANKING_MD = "RANKING.md"
RANKING_JSON = "ranking.json"
TRIAL_PREFIX = "trial-"
EARLIER_LAYOUT = re.compile(r"(rank|pareto)\d+-(?P<trial>.+)")  # folders named by rank before the index existed
COST_KEYS = ("params", "flops", "latency_ms")


def trial_folder(out: Path, trial_id: str) -> Path:
    """Where ``trial_id`` is exported under ``out``: one folder per trial, whatever its rank."""
    return out / f"{TRIAL_PREFIX}{trial_id}"


def earlier_layout_folders(out: Path) -> list[Path]:
    """Folders of ``out`` that an earlier nni-nas named by rank or front position (left as they are)."""
    if not out.is_dir():
        return []
    return sorted(p for p in out.iterdir() if p.is_dir() and EARLIER_LAYOUT.fullmatch(p.name))


def ranking_rows(record: ExperimentRecord, out: Path) -> list[dict[str, Any]]:
    """One row per ``trial-<id>`` folder of ``out`` whose trial belongs to ``record``, best first as ``top`` ranks
    them (rank None, last, for an exported trial that is not ranked: failed, or without the searched value)."""
    by_id = {t.trial_id: t for t in record.trials}
    ranks = {t.trial_id: rank for rank, t in enumerate(record.ranked(), start=1)}
    exported = [p.name[len(TRIAL_PREFIX):] for p in out.iterdir()
                if p.is_dir() and p.name.startswith(TRIAL_PREFIX)] if out.is_dir() else []
    exported = [trial_id for trial_id in exported if trial_id in by_id]
    exported.sort(key=lambda trial_id: (ranks.get(trial_id, len(ranks) + 1), by_id[trial_id].sequence))
    return [{"rank": ranks.get(trial_id), "trial_id": trial_id, "status": by_id[trial_id].status,
             "folder": f"{TRIAL_PREFIX}{trial_id}", "final": by_id[trial_id].final or {}} for trial_id in exported]


def write_ranking(record: ExperimentRecord, out: Path) -> Path:
    """Rewrite ``out``'s ``ranking.json`` and ``RANKING.md`` from ``record`` (each replaced in one step); return
    the Markdown file."""
    rows = ranking_rows(record, out)
    earlier = [p.name for p in earlier_layout_folders(out)]
    monitor = record.class_args.get("monitor") or "val_acc"
    index = {"experiment_id": record.experiment_id, "searched": monitor, "optimize_mode": record.optimize_mode,
             "succeeded_trials": len(record.ranked()), "trials": rows, "earlier_folders": earlier}
    _replace(out / RANKING_JSON, json.dumps(index, indent=2) + "\n")
    _replace(out / RANKING_MD, _markdown(index))
    return out / RANKING_MD


def _markdown(index: dict[str, Any]) -> str:
    rows = index["trials"]
    tests = sorted({key for row in rows for key in row["final"] if key.startswith("test_")})
    header = ["rank", "trial", f"{index['searched']} (searched)", *tests, *COST_KEYS, "folder"]
    lines = [f"# Exported trials of NNI experiment {index['experiment_id']}", "",
             f"The current ranking of the trials exported here, best first by {index['searched']} "
             f"({index['optimize_mode']}), as `nni-nas top {index['experiment_id']}` ranks them among its "
             f"{index['succeeded_trials']} succeeded trials. Rewritten at each export; each trial keeps its own folder "
             "whatever its rank.", ""]
    if not tests:
        lines += ["The trials report no test value (the search had no test split, or its module no test step); the "
                  "searched value is measured on the validation split.", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in rows:
        final = row["final"]
        cells = [str(row["rank"]) if row["rank"] is not None else f"- ({row['status'].lower()})", row["trial_id"],
                 format_number(final.get("default")), *(format_number(final.get(key)) for key in tests),
                 format_count(final.get("params")), format_count(final.get("flops")),
                 format_number(final.get("latency_ms"), 3), f"[{row['folder']}/]({row['folder']}/)"]
        lines.append("| " + " | ".join(cells) + " |")
    if index["earlier_folders"]:
        lines += ["", "Folders of an earlier nni-nas, named by the rank or Pareto position their trial had then (left "
                  "as they are; the rank in their names may be out of date, the table above is current): "
                  + ", ".join(f"`{name}`" for name in index["earlier_folders"]) + "."]
    return "\n".join(lines) + "\n"


def _replace(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all (a full disk leaves the previous index and no partial file)."""
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        partial.write_text(text)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
