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
import math
import os
import shlex
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

from nni_nas.errors import ConfigError, did_you_mean

COMMON_KEYS = ("space", "space_args", "data", "data_args", "module", "module_args", "monitor", "train", "evaluator",
               "constraints")
MODULES = ("classification", "regression")  # the built-in Lightning modules (nni_nas.evaluation.modules)
DEFAULT_MONITOR = {"regression": "val_mse"}  # the logged value a module is searched on; val_acc for the others


@dataclass
class Settings:
    """Base of a settings dataclass read from one mapping of a config (``train``, a strategy's ``classArgs``).

    :meth:`from_args` is the one way in: it names unknown keys, checks every value against the field's type, then
    the subclass's :meth:`value_problems`, and raises one :class:`ConfigError` listing them all. The tuner (in NNI's
    dispatcher), the trial and ``nni-nas check`` all read settings through it, so they agree.
    """

    section: ClassVar[str] = "strategy"  # how messages name the mapping: "train", "ENAS", ...
    key_prefix: ClassVar[str] = ""  # how messages name a key: "train.epochs" (train), "order" (classArgs)

    @classmethod
    def from_args(cls, values: dict[str, Any] | None) -> Self:
        values = dict(values or {})
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        problems = [f"{cls.key_path(key)}: unknown {cls.section} setting{did_you_mean(key, names)}; allowed: {names}"
                    for key in values if key not in names]
        wrong = _type_problems(cls, {key: value for key, value in values.items() if key in names})
        problems += [f"{cls.key_path(key)}: {what}" for key, what in wrong.items()]
        # the values of the right type are still checked, so that one pass names every mistake
        settings = cls(**{key: value for key, value in values.items() if key in names and key not in wrong})
        problems += [cls._with_path(problem) for problem in settings.value_problems()]
        if problems:
            raise ConfigError(f"{cls.section} settings: " + "; ".join(problems), problems)
        return settings

    def value_problems(self) -> list[str]:
        """Every value out of range, as ``key must be ..., got value`` (types are checked already); the base adds
        the key's path in the config (``tuner.classArgs.train.epochs: must be ...``)."""
        return []

    @classmethod
    def key_path(cls, key: str) -> str:
        """Where ``key`` is in the experiment config: ``tuner.classArgs.train.epochs``."""
        return f"tuner.classArgs.{cls.key_prefix}{key}"

    @classmethod
    def _with_path(cls, problem: str) -> str:
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        return with_key_path(problem, names, f"tuner.classArgs.{cls.key_prefix}", also=cls.key_prefix)


def with_key_path(problem: str, keys: list[str], path: str, also: str = "") -> str:
    """``widths must be ...`` as ``tuner.classArgs.space_args.widths: must be ...`` when the problem starts with one
    of ``keys`` (optionally written with the prefix ``also``); other problems unchanged."""
    for key in sorted(keys, key=len, reverse=True):
        for written in (f"{also}{key} ", f"{key} "):
            if problem.startswith(written):
                return f"{path}{key}: {problem[len(written):]}"
    return problem


def _type_problems(cls: type, values: dict[str, Any]) -> dict[str, str]:
    """key -> ``must be an integer, got '6'`` for each value not of its field's type."""
    hints = typing.get_type_hints(cls)
    problems = {}
    for key, value in values.items():
        allowed = _allowed_types(hints[key])
        if not any(_is_instance(value, kind) for kind in allowed):
            names = " or ".join(_TYPE_NAMES.get(kind, getattr(kind, "__name__", str(kind))) for kind in allowed)
            problems[key] = f"must be {names}, got {value!r}"
    return problems


def _allowed_types(hint: Any) -> list[Any]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return [kind for arg in typing.get_args(hint) for kind in _allowed_types(arg)]
    origin = typing.get_origin(hint)
    if origin in (tuple, list):
        return [list]  # YAML gives lists; a tuple field accepts a list of the same items
    if origin is dict:
        return [dict]
    return [hint]


_TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string", type(None): "null",
               dict: "a mapping", list: "a list"}


def _is_instance(value: Any, kind: Any) -> bool:
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is list:
        return isinstance(value, list | tuple)
    return isinstance(value, kind)


def is_int(value: Any, minimum: int | None = None) -> bool:
    """``value`` is an integer (not a bool), at least ``minimum``."""
    return isinstance(value, int) and not isinstance(value, bool) and (minimum is None or value >= minimum)


def is_number(value: Any) -> bool:
    """``value`` is a finite int or float (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


ACCELERATORS = ("cpu", "gpu", "cuda", "mps", "auto")
# Lightning strategies a trial can use (nni_nas.runtime.distributed says why not others)
TRAIN_STRATEGIES = ("auto", "ddp")


@dataclass
class TrainSettings(Settings):
    """How each architecture is trained (``classArgs.train``)."""

    section: ClassVar[str] = "train"
    key_prefix: ClassVar[str] = "train."

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
    devices: int = 1  # devices one trial trains on (of those NNI assigns it: CUDA_VISIBLE_DEVICES)
    strategy: str = "auto"  # ddp: a one-shot supernet trains on `devices` processes (Lightning's DDP)
    latency_runs: int = 30

    def value_problems(self) -> list[str]:
        checks = [
            ("epochs", is_int(self.epochs, 1) and self.epochs <= 100_000, "an integer from 1 to 100000"),
            ("batch_size", is_int(self.batch_size, 1) and self.batch_size <= 65_536, "an integer from 1 to 65536"),
            ("lr", is_number(self.lr) and self.lr > 0, "a number > 0"),
            ("optimizer", self.optimizer in ("sgd", "adam"), "sgd or adam"),
            ("momentum", is_number(self.momentum) and 0 <= self.momentum < 1, "a number in [0, 1)"),
            ("weight_decay", is_number(self.weight_decay) and self.weight_decay >= 0, "a number >= 0"),
            ("label_smoothing", is_number(self.label_smoothing) and 0 <= self.label_smoothing < 1,
             "a number in [0, 1)"),
            ("seed", is_int(self.seed, 0) and self.seed < 2**32, "an integer in [0, 2**32)"),
            ("num_workers", is_int(self.num_workers, 0) and self.num_workers <= 64, "an integer from 0 to 64"),
            ("threads", self.threads is None or is_int(self.threads, 1) and self.threads <= 1024,
             "an integer from 1 to 1024, or null"),
            ("accelerator", self.accelerator in ACCELERATORS, " or ".join(ACCELERATORS)),
            ("devices", is_int(self.devices, 1) and self.devices <= 64, "an integer from 1 to 64"),
            ("latency_runs", is_int(self.latency_runs, 1) and self.latency_runs <= 10_000,
             "an integer from 1 to 10000"),
        ]
        problems = [f"train.{key} must be {what}, got {getattr(self, key)!r}" for key, ok, what in checks if not ok]
        return problems + self.strategy_problems()

    def strategy_problems(self) -> list[str]:
        """``strategy`` against ``devices``: several devices need ``ddp``; Lightning's other multi-process
        strategies cannot run in a trial (docs/distributed.md, "One-shot search on several devices")."""
        if self.strategy == "ddp_spawn":
            return ["train.strategy ddp_spawn is not supported: it pickles the search module into fresh processes "
                    "and brings back only rank 0's weights (not the callbacks' records, nor ENAS's baseline); use "
                    "ddp, which runs under NNI and the warm worker (the trial then bypasses the worker)"]
        if self.strategy not in TRAIN_STRATEGIES:
            return [f"train.strategy must be {' or '.join(TRAIN_STRATEGIES)}, got {self.strategy!r}"]
        if is_int(self.devices, 2) and self.strategy != "ddp":
            return [f"train.devices {self.devices} needs train.strategy: ddp (several devices train one supernet with "
                    "Lightning's DDP), or set train.devices: 1"]
        return []


@dataclass
class NasSettings:
    """Everything a trial or a tuner needs to know, read from one experiment config."""

    space: str
    data: str = "digits"
    space_args: dict[str, Any] = field(default_factory=dict)
    data_args: dict[str, Any] = field(default_factory=dict)
    train: TrainSettings = field(default_factory=TrainSettings)
    # how each architecture is evaluated: {} trains it; {kind: benchmark, table: PATH, ...} looks it up in a
    # tabular benchmark instead (nni_nas.evaluation.tabular)
    evaluator: dict[str, Any] = field(default_factory=dict)
    # upper limits on an architecture's cost, honoured by every strategy (nni_nas.constraints)
    constraints: dict[str, Any] = field(default_factory=dict)
    # the Lightning module each network trains with: classification, regression or the user's "file.py:Class"
    module: str = "classification"
    module_args: dict[str, Any] = field(default_factory=dict)
    monitor: str | None = None  # the value the module logs that is searched on; None: val_acc (val_mse: regression)
    tuner_class: str = ""
    strategy_args: dict[str, Any] = field(default_factory=dict)
    config_path: Path | None = None
    # where user code named in the config is found (trialCodeDirectory); not part of class_args
    code_dir: Path | None = None

    @classmethod
    def from_class_args(cls, class_args: dict[str, Any], tuner_class: str = "", config_path: Path | None = None):
        if not isinstance(class_args, dict | None):
            raise ConfigError(f"tuner.classArgs must be a mapping of settings, got {class_args!r}")
        args = dict(class_args or {})
        if "space" not in args:
            raise ConfigError("tuner.classArgs.space is missing; name a search space, e.g. space: digits_cnn")
        for key in ("space_args", "data_args", "module_args", "train", "evaluator", "constraints"):
            if args.get(key) is not None and not isinstance(args[key], dict):
                raise ConfigError(f"tuner.classArgs.{key} must be a mapping, got {args[key]!r}")
        problems = [problem for key in ("space", "data", "module") if key in args
                    for problem in [name_problem(key, args[key])] if problem]
        monitor = args.get("monitor")
        if monitor is not None and not (isinstance(monitor, str) and monitor.strip()):
            problems.append(f"tuner.classArgs.monitor must be the name of a value the module logs, got {monitor!r}")
        if problems:
            raise ConfigError("; ".join(problems), problems)
        return cls(
            space=args.pop("space"),
            data=args.pop("data", "digits"),
            space_args=args.pop("space_args", None) or {},
            data_args=args.pop("data_args", None) or {},
            train=TrainSettings.from_args(args.pop("train", None)),
            evaluator=args.pop("evaluator", None) or {},
            constraints=constraint_settings(args.pop("constraints", None)).as_dict(),
            module=args.pop("module", None) or "classification",
            module_args=args.pop("module_args", None) or {},
            monitor=args.pop("monitor", None),
            tuner_class=tuner_class,
            strategy_args=args,
            config_path=config_path,
        )

    @property
    def task(self) -> str:
        """``regression`` for the regression module, else ``classification`` (a user's module: its data's labels
        are counted as classes only when it is not regression)."""
        return "regression" if self.module == "regression" else "classification"

    @property
    def monitor_name(self) -> str:
        """The logged value searched on: ``monitor``, else ``val_mse`` for regression, else ``val_acc``."""
        return self.monitor or DEFAULT_MONITOR.get(self.module, "val_acc")

    @property
    def optimize_mode(self) -> str:
        """``maximize`` or ``minimize`` the searched value: :func:`optimize_mode_of` the class_args."""
        return optimize_mode_of(self.class_args())

    @property
    def constraint_settings(self) -> Any:
        """The checked :class:`ConstraintSettings` of ``constraints``."""
        return constraint_settings(self.constraints)

    def class_args(self) -> dict[str, Any]:
        """The classArgs that produce these settings (for building configs from Python)."""
        own = {key: value for key, value in (("module", self.module), ("module_args", self.module_args),
                                              ("monitor", self.monitor))
               if value and value != "classification"}
        return {"space": self.space, "space_args": self.space_args, "data": self.data, "data_args": self.data_args,
                **own,
                "train": dataclasses.asdict(self.train), **({"evaluator": self.evaluator} if self.evaluator else {}),
                **({"constraints": self.constraints} if self.constraints else {}), **self.strategy_args}


def name_problem(key: str, value: Any) -> str | None:
    """``space``, ``data`` or ``module`` must be a registered name or a reference to code (``file.py:Name``)."""
    if isinstance(value, str) and value.strip() == value and value:
        return None
    return (f"tuner.classArgs.{key} must be a registered name or your own code as 'file.py:Name' or "
            f"'package.module:Name', got {value!r}")


def optimize_mode_of(class_args: dict[str, Any]) -> str:
    """``classArgs.optimize_mode`` when given, else ``minimize`` for the regression module (whose values are errors),
    else ``maximize``: the one rule the tuner, ``top``, ``export`` and ``report`` read."""
    mode = class_args.get("optimize_mode")
    if mode:
        return mode
    return "minimize" if class_args.get("module") == "regression" else "maximize"


LIMITS = {"max_params": "params", "max_flops": "flops", "max_latency_ms": "latency_ms"}


@dataclass
class ConstraintSettings(Settings):
    """``classArgs.constraints``: upper limits on what an architecture may cost; each a positive number or null."""

    section: ClassVar[str] = "constraints"
    key_prefix: ClassVar[str] = "constraints."

    max_params: float | None = None
    max_flops: float | None = None
    max_latency_ms: float | None = None

    def value_problems(self) -> list[str]:
        return [f"constraints.{key} must be a positive finite number (or null), got {value!r}"
                for key, value in asdict(self).items()
                if value is not None and not (is_number(value) and value > 0)]

    @property
    def active(self) -> bool:
        """Any limit set."""
        return any(value is not None for value in asdict(self).values())

    @property
    def static(self) -> dict[str, float]:
        """The limits a cost model can check without building the network (params, FLOPs)."""
        return {key: value for key, value in asdict(self).items() if value is not None and key != "max_latency_ms"}

    def violations(self, costs: dict[str, Any]) -> list[str]:
        """Every limit ``costs`` exceed, as ``params 61,234 > max_params 50,000`` (a missing cost is not checked)."""
        out = []
        for key, limit in asdict(self).items():
            cost = costs.get(LIMITS[key])
            if limit is not None and cost is not None and float(cost) > limit:
                out.append(f"{LIMITS[key]} {_fmt(cost)} > {key} {_fmt(limit)}")
        return out

    def as_dict(self) -> dict[str, float]:
        """The limits that are set."""
        return {key: value for key, value in asdict(self).items() if value is not None}


def _fmt(value: Any) -> str:
    value = float(value)
    return f"{value:,.0f}" if value.is_integer() else f"{value:,.4g}"


def constraint_settings(values: Any) -> ConstraintSettings:
    """``classArgs.constraints`` read and checked (a mapping or null)."""
    if values is not None and not isinstance(values, dict):
        raise ConfigError(f"constraints must be a mapping like {{max_params: 50000}}, got {values!r}")
    return ConstraintSettings.from_args(values)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The config file as a dict; a clear error for a missing, malformed or binary file, a key given twice, a path
    that is not a file (:mod:`nni_nas.input_files`)."""
    from nni_nas.input_files import load_config_text

    path = Path(path)
    raw = load_config_text(path)
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
    """The tuner's class path, from ``className`` or from a registered ``name`` (the strategy registry's)."""
    import strategies

    return strategies.class_path_of(tuner)


def load_settings(path: str | Path) -> NasSettings:
    """The NAS settings of the experiment config at ``path``."""
    return settings_of(read_yaml(path), path)


def settings_of(raw: dict[str, Any], path: str | Path) -> NasSettings:
    """The NAS settings of an experiment config (a parsed file, or the one NNI stored); ``path`` is where the
    config file is, for the paths inside it."""
    tuner = tuner_section(raw, path)
    settings = NasSettings.from_class_args(tuner.get("classArgs") or {}, tuner_class_path(tuner), Path(path).resolve())
    settings.code_dir = resolve_trial_dir(raw, Path(path))
    return settings


def trial_config_argument(trial_command: str) -> str | None:
    """The ``--config`` value of an ``nni_nas.runtime.trial`` command line, or None."""
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
