"""The NAS settings of an experiment config, and their checks.

A config is a plain NNI experiment config (``nnictl create`` accepts it as it is). NNI rejects unknown keys,
so the NAS settings live in the tuner's ``classArgs``, which NNI passes through untouched:

.. code-block:: yaml

    trialCommand: python -m nni_nas.trial --config digits_evolution.yml
    tuner:
      className: strategies.evolution.RegularizedEvolutionTuner
      classArgs:
        space: digits_cnn        # model_spaces registry
        space_args: {}
        data: digits             # nni_nas.data registry
        data_args: {}
        train: {epochs: 3, batch_size: 64, lr: 0.05}
        population_size: 8       # the strategy's own arguments
        sample_size: 3

The trial reads the same file (``--config``), so one file holds the whole experiment.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

COMMON_KEYS = ("space", "space_args", "data", "data_args", "train", "evaluator")


class ConfigError(ValueError):
    """A config mistake; the message names the key and the fix."""


@dataclass
class TrainSettings:
    """How each architecture is trained (``classArgs.train``)."""

    epochs: int = 3
    batch_size: int = 64
    lr: float = 0.05
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    cosine: bool = True
    seed: int = 0
    num_workers: int = 0
    threads: int | None = None
    accelerator: str = "cpu"
    latency_runs: int = 30

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> TrainSettings:
        values = dict(values or {})
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ConfigError(f"unknown train settings {unknown}; allowed: {sorted(names)}")
        for key, value in values.items():
            expected = _TRAIN_TYPES[key]
            wrong_type = value is not None and not isinstance(value, expected)
            bool_for_number = isinstance(value, bool) and bool not in expected  # bool is an int in Python
            if wrong_type or bool_for_number:
                raise ConfigError(f"train.{key} must be {' or '.join(t.__name__ for t in expected)}, got {value!r}")
        return cls(**values)


_TRAIN_TYPES: dict[str, tuple[type, ...]] = {
    "epochs": (int,), "batch_size": (int,), "lr": (float, int), "optimizer": (str,), "momentum": (float, int),
    "weight_decay": (float, int), "label_smoothing": (float, int), "cosine": (bool,), "seed": (int,),
    "num_workers": (int,), "threads": (int,), "accelerator": (str,), "latency_runs": (int,),
}


@dataclass
class NasSettings:
    """Everything a trial or a tuner needs to know, read from one experiment config."""

    space: str
    data: str = "digits"
    space_args: dict[str, Any] = field(default_factory=dict)
    data_args: dict[str, Any] = field(default_factory=dict)
    train: TrainSettings = field(default_factory=TrainSettings)
    # how each architecture is evaluated: {} trains it; {kind: benchmark, table: PATH, ...} looks it up in a
    # tabular benchmark instead (nni_nas.benchmark_eval)
    evaluator: dict[str, Any] = field(default_factory=dict)
    tuner_class: str = ""
    strategy_args: dict[str, Any] = field(default_factory=dict)
    config_path: Path | None = None

    @classmethod
    def from_class_args(cls, class_args: dict[str, Any], tuner_class: str = "", config_path: Path | None = None):
        args = dict(class_args or {})
        if "space" not in args:
            raise ConfigError("tuner.classArgs.space is missing; name a search space, e.g. space: digits_cnn")
        for key in ("space_args", "data_args", "train", "evaluator"):
            if args.get(key) is not None and not isinstance(args[key], dict):
                raise ConfigError(f"tuner.classArgs.{key} must be a mapping, got {args[key]!r}")
        return cls(
            space=args.pop("space"),
            data=args.pop("data", "digits"),
            space_args=args.pop("space_args", None) or {},
            data_args=args.pop("data_args", None) or {},
            train=TrainSettings.from_dict(args.pop("train", None)),
            evaluator=args.pop("evaluator", None) or {},
            tuner_class=tuner_class,
            strategy_args=args,
            config_path=config_path,
        )

    def class_args(self) -> dict[str, Any]:
        """The classArgs that produce these settings (for building configs from Python)."""
        return {"space": self.space, "space_args": self.space_args, "data": self.data, "data_args": self.data_args,
                "train": dataclasses.asdict(self.train), **({"evaluator": self.evaluator} if self.evaluator else {}),
                **self.strategy_args}


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The config file as a dict; a clear error for a missing or malformed file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping of NNI experiment fields")
    return raw


def tuner_section(raw: dict[str, Any], path: Path | str) -> dict[str, Any]:
    tuner = raw.get("tuner")
    if not isinstance(tuner, dict):
        raise ConfigError(f"{path}: no tuner section; nni-nas configs choose the strategy as the tuner "
                          "(className: strategies.evolution.RegularizedEvolutionTuner)")
    return tuner


def tuner_class_path(tuner: dict[str, Any]) -> str:
    """The tuner's class path, from ``className`` or from a registered ``name``."""
    from strategies import STRATEGIES, UnknownStrategyError

    if tuner.get("className"):
        return str(tuner["className"])
    name = tuner.get("name")
    for short, (builtin, class_path) in STRATEGIES.items():
        if name in (short, builtin):
            return class_path
    known = ", ".join(builtin for builtin, _ in STRATEGIES.values())
    raise UnknownStrategyError(f"unknown tuner name {name!r}; nni-nas tuners are {known} "
                               "(run `nni-nas register` once so nnictl knows them too)")


def load_settings(path: str | Path) -> NasSettings:
    """The NAS settings of the experiment config at ``path``."""
    raw = read_yaml(path)
    tuner = tuner_section(raw, path)
    return NasSettings.from_class_args(tuner.get("classArgs") or {}, tuner_class_path(tuner), Path(path).resolve())


def trial_config_argument(trial_command: str) -> str | None:
    """The ``--config`` value of an ``nni_nas.trial`` command line, or None."""
    try:
        words = shlex.split(trial_command)
    except ValueError:
        return None
    for i, word in enumerate(words):
        if word == "--config" and i + 1 < len(words):
            return words[i + 1]
        if word.startswith("--config="):
            return word.split("=", 1)[1]
    return None


def accepted_keywords(cls: type) -> list[str] | None:
    """Keyword arguments that ``cls(...)`` accepts, following ``**kwargs`` up the class hierarchy
    (None when some ``__init__`` takes arbitrary keywords that go nowhere we can see)."""
    names: list[str] = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names += [p.name for p in params if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return names
    return None


def keyword_problems(accepted: list[str] | None, given: dict[str, Any], what: str,
                     skip: tuple[str, ...] = ()) -> list[str]:
    """Names in ``given`` outside ``accepted``, as readable problems."""
    if accepted is None:
        return []
    allowed = [name for name in dict.fromkeys(accepted) if name not in skip]
    return [f"{what}: unknown key {key!r}; allowed: {allowed}" for key in given if key not in allowed]


def resolve_trial_dir(raw: dict[str, Any], config_path: Path) -> Path:
    code_dir = raw.get("trialCodeDirectory", ".")
    return (config_path.parent / os.path.expanduser(str(code_dir))).resolve()
