"""Shared fixtures: an isolated NNI home and free port for end-to-end runs, small configs."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", message=".*is found to be not a nn.Module.*")

# Each of pytest-xdist's workers gets its share of the cores, set before anything imports torch (it reads
# OMP_NUM_THREADS once): two workers that each take every core spin against one another; test_enas.py beside
# test_darts.py took 174 s with 2 threads per worker on 2 cores, 90 s with 1. Processes the tests start (nnictl's
# trials, the CLI) inherit it. A value the user set is kept; a run without workers keeps torch's default.
if "PYTEST_XDIST_WORKER" in os.environ:
    _WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))

REPO = Path(__file__).resolve().parents[1]
TABLES = REPO / "data" / "benchmarks"  # the tabular benchmarks the repository ships


@pytest.fixture
def nni_home(tmp_path, monkeypatch):
    """A private HOME (so ~/nni-experiments is private), a private NNI config folder (registered algorithms),
    and the env for nnictl with both."""
    from nni_nas.nnictl import nni_env

    home = tmp_path / "home"
    (home / "nni-config").mkdir(parents=True)
    private = {"HOME": str(home), "NNI_CONFIG_DIR": str(home / "nni-config")}
    for key, value in private.items():
        monkeypatch.setenv(key, value)
    return home, nni_env(private)


@pytest.fixture
def nni_experiment(nni_home):
    """Start configs through the real nnictl and always stop them, by id, at the end of the test.

    Usage: ``experiment_id, port = nni_experiment(config_path)``.
    """
    from nni_nas.nnictl import create_experiment, free_port, stop_experiment

    _, env = nni_home
    started: list[str] = []

    def start(config: str | Path) -> tuple[str, int]:
        port = free_port()
        experiment_id = create_experiment(config, port, env=env)
        started.append(experiment_id)
        return experiment_id, port

    yield start
    for experiment_id in started:
        stop_experiment(experiment_id, env=env)


def write_config(directory: Path, name: str, text: str) -> Path:
    """Write a config into ``directory``; the trial command must point at ``name``."""
    path = directory / name
    path.write_text(text)
    return path
