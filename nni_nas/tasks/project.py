"""A classifier's project folder (AutoKeras's ``directory``): the data the trials read, the NNI config, and
``project.json``, which names the NNI experiment that holds the search so that ``overwrite=False`` continues it.

Continuing uses NNI's own resume: ``nnictl resume ID`` restarts the stopped experiment (its trials, records and
portal as they were; the nni-nas tuners rebuild their history from the finished trials), then
``nnictl update trialnum ID --value N`` raises ``maxTrialNumber`` to the new total, and NNI submits only the missing
trials. Measured with NNI 3.0 (tests/e2e/test_classifier_api.py): 2 trials, then a resumed fit with
``max_trials=3`` runs one new trial and the experiment holds 3, each a different architecture.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nni_nas.errors import NasError

PROJECT_FILE = "project.json"
CONFIG_FILE = "config.yml"
# what a project writes into its folder; overwrite=True removes these and nothing else
OWN_FILES = (PROJECT_FILE, CONFIG_FILE, "data.npz", "train.csv", "val.csv", "test.csv", "exported")


@dataclass
class Project:
    """What ``project.json`` records."""

    task: str  # "image", "text" or "signal"
    experiment_id: str
    experiments_root: str  # NNI's experiment folder at creation (HOME may differ later)
    classes: list[Any]
    fingerprint: str  # of the training and validation data, so a resumed search never mixes data sets
    preprocessing: dict[str, Any] = field(default_factory=dict)

    def save(self, directory: Path) -> None:
        (directory / PROJECT_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> Project | None:
        path = directory / PROJECT_FILE
        if not path.is_file():
            return None
        try:
            return cls(**json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError) as err:
            raise NasError(f"{path} is damaged ({err}); pass overwrite=True to start a new search there") from None


def fingerprint(*parts: Any) -> str:
    """A short hash of arrays and lists (the data a search ran on)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.tobytes() if hasattr(part, "tobytes") else json.dumps(part, default=str).encode()
        digest.update(str(getattr(part, "shape", "")).encode() + data)
    return digest.hexdigest()[:16]


def clear(directory: Path, project: Project | None) -> None:
    """``overwrite=True``: stop this project's own experiment if it still runs, remove the files a project writes."""
    if project is not None:
        stop_if_running(project)
    for name in OWN_FILES:
        path = directory / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def stop_if_running(project: Project) -> None:
    from nni_nas.manager.nnictl import stop_experiment
    from nni_nas.results.records import experiment_status

    meta = experiment_status(project.experiment_id, Path(project.experiments_root)) or {}
    if meta.get("status") not in (None, "STOPPED", "DONE", "ERROR") or meta.get("pid"):
        stop_experiment(project.experiment_id)


def _nnictl(*args: str, timeout: float = 180.0, attempts: int = 3) -> str:
    from nni_nas.manager.nnictl import manager_did_not_answer, nni_env, nnictl_command

    command = [*nnictl_command(), *args]
    for _ in range(attempts):  # nnictl's 3 s for the manager to answer (see nni_nas.manager.nnictl.create_experiment)
        proc = subprocess.run(command, env=nni_env(), capture_output=True, text=True, timeout=timeout)
        if not manager_did_not_answer(proc.stdout + proc.stderr):
            break
    if proc.returncode != 0 or "ERROR" in proc.stdout:
        raise NasError(f"nnictl {' '.join(args)} failed (exit {proc.returncode}): "
                       f"{(proc.stdout + proc.stderr).strip()[-600:]}")
    return proc.stdout


def resume(experiment_id: str, port: int, total_trials: int) -> None:
    """``nnictl resume`` the stopped experiment on ``port`` and raise its trial budget to ``total_trials``."""
    import time

    from nni_nas.manager.nnictl import rest_get, resume_experiment

    resume_experiment(experiment_id, port)
    before = len(rest_get(port, "trial-jobs"))
    _nnictl("update", "trialnum", experiment_id, "--value", str(total_trials))
    # NNI's status can stay DONE for a moment after the budget is raised: wait (at most a minute) for the first new
    # trial, or the progress that follows reads the old DONE and ends with the new budget unspent (seen in a suite)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(rest_get(port, "trial-jobs")) <= before:
        time.sleep(1)


def experiments_root() -> str:
    from nni_nas.results.records import experiments_root as root

    return str(root())


def same_home(project: Project) -> bool:
    """Whether NNI would find the experiment where it was created (HOME or NNI_EXPERIMENTS_DIR unchanged)."""
    return os.path.realpath(project.experiments_root) == os.path.realpath(experiments_root())
