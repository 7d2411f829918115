"""What the end-to-end tests read back from a running NNI manager's REST API (the data the web portal shows)."""

from __future__ import annotations

import json
from pathlib import Path

from nni_nas.manager.nnictl import create_experiment, free_port, nni_env, rest_get, stop_experiment, wait_until_finished


def finished_search(tmp_path_factory, name: str, config: str, timeout: int = 900):
    """For a module fixture: run the experiment ``config`` (YAML text) in a fresh HOME through the real nnictl to
    its end, yield (experiment id, home, env), and stop it by its id afterwards."""
    home = tmp_path_factory.mktemp(name)
    (home / "search.yml").write_text(config)
    env = nni_env({"HOME": str(home)})
    port = free_port()
    experiment_id = create_experiment(home / "search.yml", port, env=env)
    try:
        status = wait_until_finished(port, timeout=timeout)
        assert status["status"] in ("DONE", "NO_MORE_TRIAL"), status
        yield experiment_id, home, env
    finally:
        stop_experiment(experiment_id, env=env)


def _metric_records(port: int) -> list[tuple[str, str, object]]:
    """(trial id, PERIODICAL or FINAL, decoded value) of every metric the manager holds."""
    records = []
    for metric in rest_get(port, "metric-data"):
        value = json.loads(metric["data"])
        records.append((metric["trialJobId"], metric["type"], json.loads(value) if isinstance(value, str) else value))
    return records


def metrics_by_trial(port: int) -> dict[str, dict[str, list]]:
    """trial id -> {"PERIODICAL": [...], "FINAL": [...]}, in the order the manager received them."""
    out: dict[str, dict[str, list]] = {}
    for trial, kind, value in _metric_records(port):
        out.setdefault(trial, {"PERIODICAL": [], "FINAL": []})[kind].append(value)
    return out


def metrics_by_type(port: int) -> dict[str, list]:
    """{"PERIODICAL": [...], "FINAL": [...]} over all trials."""
    out: dict[str, list] = {"PERIODICAL": [], "FINAL": []}
    for _, kind, value in _metric_records(port):
        out[kind].append(value)
    return out


def trial_folder(log_path: str) -> Path:
    """The trial's folder from the manager's ``logPath`` (``file://localhost:/path`` or a plain path)."""
    return Path(log_path.split("://")[-1].split(":", 1)[-1]) if "://" in log_path else Path(log_path)
