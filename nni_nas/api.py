"""Run a search from Python (a notebook, a script): one call takes a space, a strategy and data.

It writes an ordinary NNI experiment config (so the run is the same as ``nnictl create`` and shows in the
web portal), starts it with the real nnictl, waits, and returns the experiment's records::

    from nni_nas.api import search
    record = search("digits_cnn", "evolution", data="digits", trials=12, epochs=3,
                    strategy_args={"population_size": 6, "sample_size": 3})
    print(record.ranked()[0].final)

Your own space, Lightning module and data are named as in a config (``"my_space.py:MySpace"``, a path relative to
the current folder here) or given as the class or function itself, when it is defined in a file::

    from my_space import MySpace
    from my_module import MyModule
    from my_data import load
    record = search(MySpace, "evolution", data=load, module=MyModule, module_args={"lr": 0.01}, trials=8)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from nni_nas.results.records import ExperimentRecord


def evolution_settings_for_budget(trials: int, largest_population: int) -> dict[str, int]:
    """Evolution's ``population_size`` and ``sample_size`` for a search of ``trials`` (the Python API's default):
    half the trials random (at most ``largest_population``), and a tournament of at least 2 whenever the population
    allows, so that parents are selected (a sample of 1 picks a random parent: random search with mutation)."""
    population = max(2, min(largest_population, trials // 2))
    return {"population_size": population, "sample_size": min(population, max(2, min(5, trials // 4)))}


def write_config(path: str | Path, space: Any, strategy: str, data: Any = "digits", trials: int = 10,
                 epochs: int = 3, concurrency: int = 1, space_args: dict | None = None,
                 data_args: dict | None = None, train: dict | None = None,
                 strategy_args: dict | None = None, name: str | None = None, module: Any = "classification",
                 module_args: dict | None = None, monitor: str | None = None) -> Path:
    """Write an NNI experiment config for ``space`` searched by ``strategy`` (a name such as ``evolution``,
    ``random``, ``darts``, ``enas``, ``pnas``, or a tuner class path) and return its path.

    ``space``, ``data`` and ``module`` are registered names, references to your code (``"file.py:Name"``, a path
    relative to the current folder, written into the config as an absolute one) or the class or function itself
    (defined in a file)."""
    import strategies
    from nni_nas.user_code import absolute_reference

    path = Path(path)
    space, data, module = (absolute_reference(value, role) for value, role in
                           ((space, "space"), (data, "data"), (module, "module")))
    class_path = strategies.get_strategy(strategy).class_path if "." not in strategy else strategy
    strategy_args = dict(strategy_args or {})
    if class_path == strategies.get_strategy("evolution").class_path and "population_size" not in strategy_args:
        # evolution's first population_size trials are random: leave room for children (``check`` insists)
        defaults = evolution_settings_for_budget(trials, largest_population=20)
        strategy_args["population_size"] = defaults["population_size"]
        strategy_args.setdefault("sample_size", defaults["sample_size"])
    config: dict[str, Any] = {
        "experimentName": name or f"{_short(space)}-{strategy}",
        "trialCommand": f"python -m nni_nas.trial --config {path.name}",
        "trialCodeDirectory": ".",
        "trialConcurrency": concurrency,
        "searchSpace": {},
        "maxTrialNumber": trials,
        "tuner": {
            "className": class_path,
            "codeDirectory": ".",
            "classArgs": {"space": space, "space_args": space_args or {}, "data": data,
                          "data_args": data_args or {},
                          **({"module": module} if module != "classification" else {}),
                          **({"module_args": module_args} if module_args else {}),
                          **({"monitor": monitor} if monitor else {}),
                          "train": {"epochs": epochs, **(train or {})}, **(strategy_args or {})},
        },
        "trainingService": {"platform": "local"},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _short(name: str) -> str:
    """A reference's class or function name (``MySpace`` of ``/path/my_space.py:MySpace``), or the name itself."""
    return name.rpartition(":")[2] or name


def search(space: Any, strategy: str, data: Any = "digits", *, trials: int = 10, epochs: int = 3,
           port: int | None = None, workdir: str | Path = "runs", timeout: float = 3 * 3600,
           stop: bool = True, **config_args: Any) -> ExperimentRecord:
    """Search ``space`` with ``strategy`` on ``data`` through nnictl and return the finished experiment.

    ``config_args`` go to :func:`write_config` (space_args, data_args, module, module_args, monitor, train,
    strategy_args, concurrency).
    The config is kept in ``workdir`` for reruns with ``nnictl create``. With ``stop=False`` the web portal
    stays up (``nnictl stop <id>`` ends it). A config mistake raises :class:`nni_nas.errors.NasError`.
    """
    from nni_nas.checks import check_config
    from nni_nas.errors import NasError
    from nni_nas.manager.nnictl import create_experiment, free_port, stop_experiment, wait_until_finished
    from nni_nas.results.records import load_experiment
    from nni_nas.user_code import absolute_reference

    space = absolute_reference(space, "space")
    workdir = Path(workdir)
    new_folders = [folder for folder in (workdir, *workdir.parents) if not folder.exists()]
    config = write_config(workdir / f"{_short(space)}_{strategy}_{time.strftime('%Y%m%d-%H%M%S')}.yml",
                          space, strategy, data, trials, epochs, **config_args)
    problems = [p for p in check_config(config) if not p.startswith("warning: ")]
    if problems:  # nothing of a refused search stays behind: its config and the folders made for it go
        config.unlink(missing_ok=True)
        for folder in new_folders:
            try:
                folder.rmdir()
            except OSError:  # not empty: something else was put there meanwhile
                break
        raise NasError(f"search({strategy!r}, trials={trials}) refused, nothing written: " + " | ".join(problems))
    port = port or free_port()
    experiment_id = create_experiment(config, port)
    print(f"experiment {experiment_id}: web portal http://127.0.0.1:{port}", flush=True)
    try:
        wait_until_finished(port, timeout)
    finally:
        if stop:
            stop_experiment(experiment_id)
    return load_experiment(experiment_id)
