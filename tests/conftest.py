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


def is_loopback(host: object) -> bool:
    """``host`` is this machine's loopback (127.0.0.0/8, ::1 or localhost): the only addresses tests may contact."""
    import ipaddress

    if str(host).strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(str(host).strip()).is_loopback
    except ValueError:
        return False  # another host name: it resolves elsewhere


@pytest.fixture(autouse=True)
def no_ssh_beyond_loopback(monkeypatch):
    """No test logs in to a machine other than this one's loopback: every SSH login nni-nas makes in the test's
    process (``check`` of a remote config, fetching trial files) goes through ``nni_nas.remote.ssh_command``, which
    refuses here, before anything is dialled, a host outside 127.0.0.0/8, and the test fails at its end (the refusal
    alone could be read by the code as an unreachable machine)."""
    import nni_nas.remote as remote

    dialled: list[str] = []
    real = remote.ssh_command

    def guarded(machine, *args, **kwargs):
        if not is_loopback(machine.get("host")):
            dialled.append(remote.machine_label(machine))
            raise remote.NasError(f"test guard: {remote.machine_label(machine)} is not a loopback address")
        return real(machine, *args, **kwargs)

    monkeypatch.setattr(remote, "ssh_command", guarded)
    yield
    assert not dialled, f"the test tried to log in to {dialled}: tests contact 127.0.0.0/8 only"


@pytest.fixture
def nni_home(tmp_path, monkeypatch):
    """A private HOME (so ~/nni-experiments is private), a private NNI config folder (registered algorithms),
    and the env for nnictl with both."""
    from nni_nas.manager.nnictl import nni_env

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
    from nni_nas.manager.nnictl import create_experiment, free_port, stop_experiment

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
