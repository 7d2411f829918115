"""What :class:`~nni_nas.tasks.classifiers.ImageClassifier` and ``TextClassifier`` share: the search through nnictl
in a project folder (new, or continued with ``overwrite=False``), the best trial's model, ``predict``, ``evaluate``
and ``top``."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nni_nas.errors import ConfigError, DataFormatError, NasError
from nni_nas.tasks import inputs
from nni_nas.tasks.project import CONFIG_FILE, Project, clear, experiments_root, resume, same_home


def _evolution_args(trials: int) -> dict[str, int]:
    from nni_nas.api import evolution_settings_for_budget

    return evolution_settings_for_budget(trials, largest_population=6)


DEFAULT_STRATEGY_ARGS = {"evolution": _evolution_args}
# Regularized evolution (Real et al., 2019, Algorithm 1) starts with population_size random architectures and
# selects parents by a tournament of sample_size >= 2 of them: the smallest search where that happens at all is a
# population of 2 followed by 2 children, 4 trials (the defaults of evolution_settings_for_budget). Below that,
# evolution would be random search with at most one mutated child, so the default strategy is random search.
MIN_EVOLUTION_TRIALS = 4


def default_strategy(max_trials: int) -> str:
    """The strategy a classifier searches with when none is named: evolution, or random search below
    :data:`MIN_EVOLUTION_TRIALS` trials."""
    return "evolution" if max_trials >= MIN_EVOLUTION_TRIALS else "random"


def check_directory(directory: Path) -> None:
    """A project folder must be a folder, or a path where one can be made: not a file, nor under one."""
    for path in (directory, *directory.parents):
        if path.exists():
            if not path.is_dir():
                what = "is a file" if path == directory else f"is under {path}, which is a file"
                raise ConfigError(f"directory {str(directory)!r} {what}, not a folder: pass the path of a folder for "
                                  "the project (it is created if missing)")
            return


class BaseClassifier:
    """What both classifiers share: the project folder, the search through nnictl, and the best model."""

    task = ""
    default_space = ""

    def __init__(self, strategy: str | None = None, max_trials: int = 10, epochs: int = 4,
                 directory: str | Path | None = None, overwrite: bool = False, space: str | None = None,
                 space_args: dict | None = None, train: dict | None = None, strategy_args: dict | None = None,
                 seed: int = 0, port: int | None = None, timeout: float = 3 * 3600):
        for name, value, low in (("max_trials", max_trials, 1), ("epochs", epochs, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 100_000:
                raise ConfigError(f"{name} must be an integer from {low} to 100000, got {value!r}")
        if strategy == "evolution" and strategy_args is None and max_trials < MIN_EVOLUTION_TRIALS:
            raise ConfigError(f"strategy='evolution' needs max_trials >= {MIN_EVOLUTION_TRIALS} (its first 2 trials "
                              f"are random, then children follow), got {max_trials}: raise max_trials, or leave "
                              f"strategy out (random search below {MIN_EVOLUTION_TRIALS} trials)")
        self.strategy = strategy or default_strategy(max_trials)
        self.max_trials, self.epochs = max_trials, epochs
        self.directory = Path(directory or f"runs/{self.task}_classifier")
        check_directory(self.directory)
        self.overwrite, self.seed, self.port, self.timeout = overwrite, seed, port, timeout
        self.space = space or self.default_space
        self.space_args = space_args
        self.train_args = dict(train or {})
        self.strategy_args = strategy_args
        self.project: Project | None = Project.load(self.directory) if not overwrite else None
        self._model = None

    # ------------------------------------------------------------------------------------------------ search
    def _search(self, data: str, data_args: dict | Callable[[Path], dict], classes: list, data_print: str,
                preprocessing: dict, input_shape: tuple[int, ...],
                write_data: Callable[[Path], None] | None = None) -> None:
        """Continue this folder's search, or start a new one: ``write_data(folder)`` writes the trials' data into a
        folder, and ``data_args(folder)`` (or a fixed dict) names it for the config."""
        from nni_nas.results.records import load_experiment

        existing = Project.load(self.directory)
        if existing is not None and not self.overwrite:
            if existing.fingerprint != data_print or existing.task != self.task:
                raise NasError(f"{self.directory} holds a search on other data (project.json); pass overwrite=True "
                               "to start a new search there, or another directory")
            if not same_home(existing):
                raise NasError(f"{self.directory}'s experiment {existing.experiment_id} lives in "
                               f"{existing.experiments_root}, not in {experiments_root()} (HOME changed?)")
            done = len(load_experiment(existing.experiment_id).trials)
            self.project, self._model = existing, None
            if done >= self.max_trials:
                print(f"{self.directory}: experiment {existing.experiment_id} already ran {done} trials "
                      f"(max_trials={self.max_trials}); raise max_trials to search on", flush=True)
                return
            print(f"{self.directory}: continuing experiment {existing.experiment_id} from {done} to "
                  f"{self.max_trials} trials", flush=True)
            self._run(lambda port: resume(existing.experiment_id, port, self.max_trials) or existing.experiment_id)
            return
        args_for = data_args if callable(data_args) else (lambda _folder: data_args)
        write = lambda folder: self._write_config(folder, data, args_for(folder), input_shape)  # noqa: E731
        parent = next((p for p in self.directory.parents if p.is_dir()), None)
        scratch = Path(tempfile.mkdtemp(prefix=".nni-nas-check-", dir=parent))
        try:
            self._stage_and_check(scratch, write, write_data)  # a refusal leaves the folder as it was
            if existing is not None:
                clear(self.directory, existing)
            self.directory.mkdir(parents=True, exist_ok=True)
            for staged in scratch.iterdir():  # the checked data, moved (a rename on one file system)
                if staged.name != CONFIG_FILE:
                    shutil.move(staged, self.directory / staged.name)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        config = write(self.directory)

        def create(port: int) -> str:
            from nni_nas.manager.nnictl import create_experiment

            experiment_id = create_experiment(config, port)
            self.project = Project(self.task, experiment_id, experiments_root(), classes, data_print, preprocessing)
            self.project.save(self.directory)
            self._model = None
            return experiment_id

        self._run(create)

    def _write_config(self, folder: Path, data: str, data_args: dict, input_shape: tuple[int, ...]) -> Path:
        from nni_nas.api import write_config

        return write_config(folder / CONFIG_FILE, self.space, self.strategy, data, self.max_trials, self.epochs,
                            space_args=self._space_args(input_shape), data_args=data_args, train=self._train(),
                            strategy_args=self._strategy_args(), name=f"{self.task}-classifier-{self.directory.name}")

    def _stage_and_check(self, scratch: Path, write_config: Callable[[Path], Path],
                         write_data: Callable[[Path], None] | None) -> None:
        """Write the data and config into a ``scratch`` folder (beside the project folder) and run ``nni-nas check``
        on them there, so that a search that cannot start is refused before anything in the project folder
        changes."""
        from nni_nas.checks import check_config

        if write_data is not None:
            write_data(scratch)
        problems = check_config(write_config(scratch))
        if problems:
            raise NasError(f"{type(self).__name__} cannot start this search: " + " | ".join(problems))

    def _holdout(self, ids: np.ndarray, classes: np.ndarray, validation_split: float) -> tuple[np.ndarray, ...]:
        """``(kept, held)`` indices: ``validation_split`` of the samples held out to validate, stratified and seeded;
        data too small for that is refused in one line (not scikit-learn's traceback)."""
        from nni_nas.data import splits

        check_fraction(validation_split)
        problem = splits.holdout_problem(ids, validation_split, "validation_split", classes)
        if problem:
            raise DataFormatError(f"{problem}; or pass validation_data=(x_val, y_val)")
        return splits.holdout(np.arange(len(ids)), ids, validation_split, self.seed)

    def _run(self, start, attempts: int = 3) -> None:
        """Start the experiment (``start(port) -> id``), print the portal, wait for it, stop it.

        NNI 3.0's manager gives its tuner process 10 s to connect, hard-coded (:mod:`nni_nas.manager.nnictl` preloads a
        longer wait); when the tuner still does not connect, no trial has run, and only then is it started again
        (a new experiment, or the same one resumed)."""
        from nni_nas.commands.search import follow
        from nni_nas.manager.nnictl import free_port, stop_experiment

        for attempt in range(1, attempts + 1):
            port = self.port or free_port()
            experiment_id = start(port)
            print(f"experiment {experiment_id}: web portal http://127.0.0.1:{port}", flush=True)
            try:
                follow(port, self.timeout, poll=2.0)  # the CLI's progress: done / total, best so far, ETA
                break
            except NasError as err:
                if "Tuner did not connect" not in str(err) or attempt == attempts:
                    raise
                print(f"NNI's tuner did not connect within NNI's 10 s (a busy machine?); starting again "
                      f"({attempt + 1} of {attempts})", flush=True)
            finally:
                stop_experiment(experiment_id)
        record = self._record()
        if not record.ranked():
            raise NasError(f"no trial of experiment {experiment_id} succeeded ({record.status_summary()}); see "
                           f"`nnictl log trial {experiment_id}` or the trials' stderr in {record.directory}")

    def _space_args(self, input_shape: tuple[int, ...]) -> dict:
        return dict(self.space_args) if self.space_args is not None else {}

    def _train(self) -> dict:
        return {"seed": self.seed, **self.train_args}

    def _strategy_args(self) -> dict:
        if self.strategy_args is not None:
            return dict(self.strategy_args)
        default = DEFAULT_STRATEGY_ARGS.get(self.strategy)
        return {"seed": self.seed, **(default(self.max_trials) if default else {})}

    # ------------------------------------------------------------------------------------------------ results
    def _need_project(self) -> Project:
        if self.project is None:
            raise NasError(f"{self.directory} holds no search yet; call fit first")
        return self.project

    def _record(self):
        from nni_nas.results.records import load_experiment

        project = self._need_project()
        return load_experiment(project.experiment_id, Path(project.experiments_root))

    def top(self, k: int = 5) -> list[dict[str, Any]]:
        """The ``k`` best succeeded trials, best first: rank, trial id, validation accuracy, parameters, architecture.

        A search of ``fit`` has no test split, so there is no ``test_acc`` (``evaluate`` measures test data of
        your own); a project from an earlier nni-nas, whose trials reported the validation accuracy a second time
        as ``test_acc``, shows it as ``val_acc`` only too. An image folder's test split (its ``test`` sub-folder,
        or images held out of ``train``) is reported as ``test_acc``."""
        record = self._record()
        tested = record.class_args.get("data") == "image_folder"  # arrays and texts: validation data only
        rows = []
        for rank, t in enumerate(record.ranked()[:k], start=1):
            row = {"rank": rank, "trial_id": t.trial_id, "val_acc": t.final.get("default")}
            if tested and "test_acc" in t.final:
                row["test_acc"] = t.final["test_acc"]
            rows.append({**row, "params": t.final.get("params"), "arch": t.arch})
        return rows

    def export_model(self, out: str | Path | None = None):
        """The best trial's network with its trained weights, as a plain ``torch.nn.Module`` in evaluation mode.

        It is built from the source nni-nas exports (``model.py`` + ``weights.pt``, written to ``out``, by default
        ``<directory>/exported/``), so it runs with torch alone; image classifiers put the input scaling first
        (a fixed per-channel 1x1 convolution), so the module takes images as ``fit`` took them."""
        import torch

        from nni_nas.export import export_trials
        from nni_nas.export import formats as fmt

        project = self._need_project()
        result = export_trials(project.experiment_id, top=1, out=Path(out or self.directory / "exported"), force=True,
                               formats=("source", "weights"), root=Path(project.experiments_root))[0]
        module = fmt.import_source(result.folder / "model.py")
        try:
            network = module.Network()
        finally:
            fmt.forget_source(module)
        network.load_state_dict(torch.load(result.folder / "weights.pt", weights_only=True))
        model = self._wrap(network, project.preprocessing, result.folder)
        model.eval()
        # the folder alone (model.py, weights.pt, this file) is enough to use the model without nni-nas
        (result.folder / "preprocessing.json").write_text(json.dumps(
            {"task": self.task, "classes": project.classes, **self._preprocessing()}, indent=2) + "\n")
        self.exported_folder = result.folder
        return model

    def _wrap(self, network, preprocessing: dict, folder: Path):
        return network

    def _preprocessing(self) -> dict:
        return self._need_project().preprocessing

    def _best_model(self):
        if self._model is None:
            self._model = self.export_model()
        return self._model

    def _logits(self, batch):
        import torch

        model = self._best_model()
        with torch.no_grad():
            return torch.cat([model(part) for part in torch.split(batch, 256)])

    def predict(self, x: Any) -> np.ndarray:
        """The predicted label of each sample (in the labels' own type: integers or strings)."""
        ids = self._logits(self._inputs(x, "x")).argmax(1).numpy()
        return np.asarray(self._need_project().classes)[ids]

    def evaluate(self, x: Any, y: Any) -> dict[str, float]:
        """``{"loss": cross-entropy, "accuracy": ...}`` of the best model on ``(x, y)``."""
        import torch
        import torch.nn.functional as F

        batch = self._inputs(x, "x")
        labels = inputs.labels(y, "y")
        inputs.same_length(batch, labels)
        ids = torch.from_numpy(inputs.class_ids(labels, np.asarray(self._need_project().classes), "y"))
        logits = self._logits(batch)
        accuracy = float((logits.argmax(1) == ids).float().mean())
        return {"loss": float(F.cross_entropy(logits, ids)), "accuracy": accuracy}

    def _inputs(self, x: Any, name: str):
        raise NotImplementedError

    def _labels(self, y: Any, name: str, classes: np.ndarray | None = None, x: Any = None,
                x_name: str = "x") -> tuple[np.ndarray, np.ndarray]:
        labels = inputs.labels(y, name)
        if x is not None:
            inputs.same_length(x, labels, (x_name, name))
        classes = inputs.classes_of(labels, name) if classes is None else classes
        return inputs.class_ids(labels, classes, name), classes


def check_fraction(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ConfigError(f"validation_split must be a number between 0 and 1, got {value!r}")


def write_csv(path: Path, texts: list[str], labels: list[str]) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, labels, strict=True))



def listed(classes: np.ndarray) -> list:
    """Class labels as JSON values (Python ints or strings)."""
    return [c.item() if hasattr(c, "item") else c for c in classes]
