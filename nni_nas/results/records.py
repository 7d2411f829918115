"""Read an NNI experiment from NNI's own records (``~/nni-experiments/<id>/db/nni.sqlite``).

The manager need not be running: export and report work on running, stopped and finished experiments.
"""

from __future__ import annotations

import collections
import json
import math
import os
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nni_nas.errors import NasError


@dataclass
class TrialRecord:
    """One trial as NNI recorded it, plus the folder where the trial saved its files."""

    trial_id: str
    sequence: int
    status: str
    parameters: dict[str, Any]
    parameter_id: int | None
    final: dict[str, Any] | None
    intermediate: list[float] = field(default_factory=list)
    trial_dir: Path | None = None
    remote: Any = None  # a remote trial's folder on its machine (nni_nas.remote.RemoteTrialDir), else None

    @property
    def over_budget(self) -> bool:
        """The trial stopped before training: its architecture exceeded the experiment's constraints
        (:mod:`nni_nas.constraints`); it is never ranked, reported or exported as a result."""
        return isinstance(self.final, dict) and bool(self.final.get("over_budget"))

    @property
    def arch(self) -> dict[str, Any]:
        """The architecture the trial trained: its saved ``arch.json`` when present, else NNI's parameters.

        The trial's own file is preferred: NNI 3.0 hands parameters to whichever concurrent trial asks first
        (microsoft/nni#5726), so in experiments run before nni-nas corrected that at trial start
        (:func:`nni_nas.evaluation.nni_reporter.next_parameters`) a trial may have trained another trial's parameters.
        """
        path = self.trial_dir / "arch.json" if self.trial_dir else None
        if path is None or not path.is_file():
            return self.parameters
        try:
            arch = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise NasError(f"trial {self.trial_id}: {path} is not valid JSON ({err}); the trial was probably "
                           "interrupted while writing it") from None
        if not isinstance(arch, dict):
            raise NasError(f"trial {self.trial_id}: {path} holds {type(arch).__name__} {arch!r:.80}, not an "
                           "architecture (a JSON object of label -> value)")
        return arch

    def metric(self, key: str = "default") -> float:
        """The final result's ``key`` (NaN when the trial has no final result or does not report ``key``)."""
        if self.final is None:
            return math.nan
        value = self.final.get(key)
        try:
            return float(value)
        except (TypeError, ValueError):
            return math.nan


@dataclass
class ExperimentRecord:
    """An experiment's config (as NNI stored it) and its trials in submission order."""

    experiment_id: str
    directory: Path
    config: dict[str, Any]
    trials: list[TrialRecord]
    status: str | None = None

    @property
    def optimize_mode(self) -> str:
        from nni_nas.config import optimize_mode_of

        return optimize_mode_of(self.class_args)

    @property
    def class_args(self) -> dict[str, Any]:
        return (self.config.get("tuner") or {}).get("classArgs") or {}

    def status_summary(self, empty: str = "no trials") -> str:
        """How many trials are in each status (:func:`status_summary`)."""
        return status_summary((t.status for t in self.trials), empty)

    def succeeded(self) -> list[TrialRecord]:
        """Trials that succeeded with a result (not those stopped over budget)."""
        return [t for t in self.trials if t.status == "SUCCEEDED" and t.final is not None and not t.over_budget]

    def ranked(self, key: str = "default") -> list[TrialRecord]:
        """Succeeded trials at full fidelity, best first by ``key`` and the config's optimise mode; ties by submission
        order. A lower rung of a multi-fidelity search (hyperband: a final dict whose ``epochs`` is below
        ``train.epochs``) trained for fewer epochs than the others and is not ranked beside them."""
        sign = -1.0 if self.optimize_mode == "maximize" else 1.0
        full = (self.class_args.get("train") or {}).get("epochs")
        trials = [t for t in self.succeeded() if not math.isnan(t.metric(key))
                  and not (isinstance(full, int) and isinstance(t.final.get("epochs"), int) and "rung" in t.final
                           and t.final["epochs"] < full)]
        return sorted(trials, key=lambda t: (sign * t.metric(key), t.sequence))


EXPERIMENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


EXPERIMENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def status_summary(statuses: Iterable[str], empty: str = "no trials") -> str:
    """``2 failed, 10 succeeded``: how many trials are in each NNI status, alphabetically; ``empty`` for none."""
    counts = collections.Counter(statuses)
    return ", ".join(f"{n} {status.lower()}" for status, n in sorted(counts.items())) or empty


def experiments_root() -> Path:
    """NNI's experiment folder (``NNI_EXPERIMENTS_DIR`` overrides ``~/nni-experiments``)."""
    return Path(os.environ.get("NNI_EXPERIMENTS_DIR") or Path.home() / "nni-experiments")


def experiment_status(experiment_id: str, root: Path | None = None) -> dict[str, Any] | None:
    """NNI's own metadata of an experiment (port, status, ...) from ``<root>/.experiment``."""
    meta = (root or experiments_root()) / ".experiment"
    if not meta.is_file():
        return None
    try:
        return json.loads(meta.read_text()).get(experiment_id)
    except json.JSONDecodeError:
        return None


def load_experiment(experiment_id: str, root: Path | None = None, fetch_remote: bool = True) -> ExperimentRecord:
    """Everything NNI recorded about ``experiment_id``; :class:`NasError` if it does not exist.

    Trials that ran on other machines (NNI's ``remote`` platform) have their files fetched over SSH into the
    experiment folder here first (:mod:`nni_nas.remote`), unless ``fetch_remote`` is false; a machine that cannot
    be reached is a warning, and its trials keep what was fetched before.
    """
    root = root or experiments_root()
    if not EXPERIMENT_ID.fullmatch(experiment_id):
        raise NasError(f"{experiment_id!r} is not an experiment id (letters, digits, '_' and '-', like 'k7x2mq9d'); "
                       "`nnictl experiment list --all` shows them")
    directory = root / experiment_id
    db = directory / "db" / "nni.sqlite"
    if not db.is_file():
        known = sorted(p.parent.parent.name for p in root.glob("*/db/nni.sqlite") if not p.parent.parent.is_symlink())
        raise NasError(f"unknown experiment {experiment_id!r}: no {db}; known experiments: "
                       f"{', '.join(known) or 'none'} (see `nnictl experiment list --all`)")
    try:
        # NNI writes while we read; open read-only so we never lock the manager out.
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT params FROM ExperimentProfile ORDER BY revision DESC LIMIT 1").fetchone()
            config = json.loads(row[0]) if row else {}
            trials = _trials(conn, directory)
        finally:
            conn.close()
    except (sqlite3.Error, ValueError, TypeError, KeyError, AttributeError) as err:
        raise NasError(f"the records of experiment {experiment_id} in {db} cannot be read ({type(err).__name__}: "
                       f"{err}); the database is damaged or was not written by NNI") from None
    if not isinstance(config, dict):
        raise NasError(f"the records of experiment {experiment_id} in {db} hold no experiment config")
    remote_trials = [t for t in trials if t.remote is not None]
    if remote_trials and fetch_remote:
        from nni_nas.remote import fetch_remote_trials

        fetch_remote_trials(directory, config, remote_trials)
    meta = experiment_status(experiment_id, root) or {}
    return ExperimentRecord(experiment_id, directory, config, trials, meta.get("status"))


def _trials(conn: sqlite3.Connection, directory: Path) -> list[TrialRecord]:
    from nni_nas.remote import local_mirror, parse_log_path

    trials: dict[str, TrialRecord] = {}
    for _, trial_id, event, data, log_path, sequence in conn.execute(
        "SELECT timestamp, trialJobId, event, data, logPath, sequenceId FROM TrialJobEvent ORDER BY timestamp"
    ):
        if not trial_id:
            continue
        record = trials.get(trial_id)
        if record is None:
            record = trials[trial_id] = TrialRecord(trial_id, sequence if sequence is not None else len(trials),
                                                    event, {}, None, None)
        record.status = event
        if data:
            payload = json.loads(data)
            record.parameters = payload.get("parameters", {})
            record.parameter_id = payload.get("parameter_id")
        if log_path:
            record.remote = parse_log_path(log_path)
            record.trial_dir = (local_mirror(directory, record.remote, trial_id) if record.remote
                                else Path(log_path))
    for trial_id, kind, value in conn.execute(
        "SELECT trialJobId, type, data FROM MetricData ORDER BY timestamp, sequence"
    ):
        if trial_id not in trials:
            continue
        metric = _decode_metric(value)
        if kind == "FINAL":
            trials[trial_id].final = metric if isinstance(metric, dict) else {"default": metric}
        elif kind == "PERIODICAL":
            trials[trial_id].intermediate.append(float(metric["default"] if isinstance(metric, dict) else metric))
    return sorted(trials.values(), key=lambda t: t.sequence)


def _decode_metric(value: str) -> Any:
    # NNI stores the metric JSON-encoded twice (a JSON string holding the dumped value).
    decoded = json.loads(value)
    if isinstance(decoded, str):
        decoded = json.loads(decoded)
    return decoded
