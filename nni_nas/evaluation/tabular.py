"""Evaluate architectures by looking them up in a tabular NAS benchmark instead of training them.

A tabular benchmark lists, for every architecture of a space, the accuracy its authors measured after full
training; a search that queries the table runs in seconds, which is how NAS papers compare search strategies
(Ying et al., "NAS-Bench-101", ICML 2019; Dong & Yang, "NAS-Bench-201", ICLR 2020). Two formats are read,
those of the files in the repository's ``data/benchmarks/``:

- NAS-Bench-201 CSV: one row per cell, the cell's string in column ``arch_str``, any accuracy column by name
  (``cifar10-val``, ``cifar10-test``, ``cifar100-val``, ...); space ``nasbench201``.
- NAS-Bench-Macro JSON: ``{"22212220": {"test_acc": [..3 seeds..], "mean_acc": .., "params": .., ...}}``;
  space ``nas_bench_macro``. A list column is averaged; ``test_acc.0`` picks one entry.

The same experiment config runs under ``nnictl create`` with, in ``tuner.classArgs``::

    evaluator: {kind: benchmark, table: ../data/benchmarks/nb201_cifar_12epoch.csv,
                metric: cifar10-val, test_metric: cifar10-test}

A relative ``table`` is resolved against the folder of the config file. :func:`run_benchmark_trial` is what the
trial runs then; :func:`query_search` drives a tuner in this process, without nnictl, for strategy studies.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nni_nas.errors import ConfigError, InvalidArchError, NonFiniteError

# table format -> (space, default search metric, default test metric); NAS-Bench-Macro has no validation split.
TABLE_FORMATS = {
    "nb201-csv": ("nasbench201", "cifar10-val", "cifar10-test"),
    "macro-json": ("nas_bench_macro", "mean_acc", "mean_acc"),
}
COST_COLUMNS = ("params", "flops")


@dataclass
class EvaluatorSettings:
    """``classArgs.evaluator``: ``kind`` is ``train`` (the default: train every architecture) or ``benchmark``."""

    kind: str = "train"
    table: Path | None = None
    metric: str | None = None
    test_metric: str | None = None

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None, config_dir: Path | None = None) -> EvaluatorSettings:
        values = dict(values or {})
        unknown = sorted(set(values) - {"kind", "table", "metric", "test_metric"})
        if unknown:
            raise ConfigError(f"unknown evaluator settings {unknown}; allowed: kind, table, metric, test_metric")
        kind = values.get("kind", "train")
        if kind not in ("train", "benchmark"):
            raise ConfigError(f"evaluator.kind must be train or benchmark, got {kind!r}")
        table = values.get("table")
        if kind == "benchmark" and not table:
            raise ConfigError("evaluator.kind is benchmark but evaluator.table is missing; give the path of a "
                              "NAS-Bench-201 CSV or NAS-Bench-Macro JSON file")
        wrong = [f"evaluator.{key} must be a string, got {values[key]!r}" for key in ("table", "metric", "test_metric")
                 if values.get(key) is not None and not isinstance(values[key], str)]
        if wrong:
            raise ConfigError("; ".join(wrong))
        path = None
        if table:
            path = Path(os.path.expanduser(str(table)))
            if not path.is_absolute() and config_dir is not None:
                path = config_dir / path
            path = path.resolve()
        return cls(kind, path, values.get("metric"), values.get("test_metric"))

    @property
    def is_benchmark(self) -> bool:
        return self.kind == "benchmark"


def evaluator_settings(settings: Any) -> EvaluatorSettings:
    """The evaluator settings of a :class:`nni_nas.config.NasSettings` (``settings.evaluator`` once the config
    knows the key, else ``strategy_args['evaluator']``)."""
    values = getattr(settings, "evaluator", None) or settings.strategy_args.get("evaluator")
    config_dir = Path(settings.config_path).parent if settings.config_path else None
    return EvaluatorSettings.from_dict(values, config_dir)


class BenchmarkTable:
    """Rows of a tabular benchmark keyed by the benchmark's architecture key.

    Parameters
    ----------
    path
        A NAS-Bench-201 CSV (column ``arch_str``) or a NAS-Bench-Macro JSON file.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise ConfigError(f"benchmark table not found: {self.path}; set evaluator.table to the path of "
                              "nb201_cifar_12epoch.csv or nas_bench_macro_cifar10.json (the repository's "
                              "data/benchmarks/ holds both)")
        if self.path.suffix == ".csv":
            self.format, self.rows = "nb201-csv", _read_nb201_csv(self.path)
        elif self.path.suffix == ".json":
            self.format, self.rows = "macro-json", _read_macro_json(self.path)
        else:
            raise ConfigError(f"{self.path}: unknown table format; use a NAS-Bench-201 .csv or NAS-Bench-Macro .json")
        first = next(iter(self.rows.values()))
        self.columns = sorted(first)
        self.space, self.default_metric, self.default_test_metric = TABLE_FORMATS[self.format]

    def __len__(self) -> int:
        return len(self.rows)

    def check_column(self, column: str) -> None:
        """Raise :class:`ConfigError` naming the table's columns when ``column`` is not one of them."""
        name, _, index = column.partition(".")
        if name not in self.columns or index and not index.isdigit():
            raise ConfigError(f"{self.path.name} has no column {column!r}; columns: {', '.join(self.columns)} "
                              "(a list column takes .N to pick one entry)")

    def value(self, key: str, column: str) -> float:
        """The number in ``column`` for the architecture ``key`` (a list is averaged, ``name.N`` picks entry N)."""
        row = self.rows.get(key)
        if row is None:
            raise InvalidArchError(f"architecture {key!r} is not in {self.path.name}; the space and the table "
                                   f"must match (this table belongs to space {self.space})")
        name, _, index = column.partition(".")
        if name not in row:
            self.check_column(column)
        cell = row[name]
        if isinstance(cell, list):
            return float(cell[int(index)]) if index else float(sum(cell) / len(cell))
        return float(cell)

    def column(self, column: str) -> dict[str, float]:
        """``column`` for every architecture, keyed by benchmark key."""
        self.check_column(column)
        return {key: self.value(key, column) for key in self.rows}

    def optimum(self, column: str) -> tuple[str, float]:
        """The key and value of the best architecture by ``column``."""
        values = self.column(column)
        key = max(values, key=values.__getitem__)
        return key, values[key]


def _read_nb201_csv(path: Path) -> dict[str, dict[str, Any]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if "arch_str" not in (reader.fieldnames or []):
            raise ConfigError(f"{path} has no arch_str column; a NAS-Bench-201 table needs the cell strings there")
        return {row.pop("arch_str"): {name: float(text) for name, text in row.items()} for row in reader}


def _read_macro_json(path: Path) -> dict[str, dict[str, Any]]:
    try:
        rows = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(rows, dict) or not rows:
        raise ConfigError(f"{path} must map 8-digit NAS-Bench-Macro keys to result dicts")
    return rows


@functools.lru_cache(maxsize=4)
def _cached_table(path: Path, mtime: float) -> BenchmarkTable:
    return BenchmarkTable(path)


def load_table(path: str | Path) -> BenchmarkTable:
    """The table at ``path``, read once per process (re-read when the file changes)."""
    path = Path(path).resolve()
    if not path.is_file():
        return BenchmarkTable(path)  # raises the readable error
    return _cached_table(path, path.stat().st_mtime)


@dataclass
class BenchmarkQuery:
    """Resolved benchmark settings: the table, the space's key function and the two metrics."""

    table: BenchmarkTable
    space: str
    metric: str
    test_metric: str

    @classmethod
    def from_evaluator(cls, evaluator: EvaluatorSettings, space: str) -> BenchmarkQuery:
        table = load_table(evaluator.table)
        if space != table.space:
            raise ConfigError(f"{table.path.name} holds architectures of space {table.space!r}, but the config's "
                              f"space is {space!r}; set classArgs.space: {table.space}")
        metric = evaluator.metric or table.default_metric
        test_metric = evaluator.test_metric or table.default_test_metric
        table.check_column(metric)
        table.check_column(test_metric)
        return cls(table, space, metric, test_metric)

    def key(self, arch: dict[str, Any]) -> str:
        """The table key of ``arch`` (by the space's :meth:`~model_spaces.contract.TabularSpace.to_benchmark_key`)."""
        import model_spaces

        space_cls = model_spaces.get_space_class(self.space)
        if not issubclass(space_cls, model_spaces.TabularSpace):
            raise ConfigError(f"space {self.space!r} has no benchmark keys (it is not a TabularSpace)")
        if not isinstance(arch, dict):
            raise InvalidArchError(f"an architecture must be a JSON object (label -> value), got {arch!r}")
        try:
            key = space_cls.to_benchmark_key(arch)
        except ValueError as err:
            raise InvalidArchError(str(err)) from None
        unknown = sorted(set(arch) - set(space_cls.from_benchmark_key(key)))
        if unknown:
            raise InvalidArchError(f"unknown labels {unknown} for space {self.space} (run `nni-nas space "
                                   f"{self.space}` to list its labels)")
        return key

    def result(self, arch: dict[str, Any]) -> dict[str, Any]:
        """The final result dict of ``arch``: ``default`` (= ``val_acc``, the searched metric), ``test_acc``,
        ``params`` and ``flops`` where the table has them, and the benchmark key."""
        key = self.key(arch)
        value = self.table.value(key, self.metric)
        test = self.table.value(key, self.test_metric)
        result: dict[str, Any] = {"default": value, "val_acc": value, "test_acc": test}
        for column in COST_COLUMNS:
            if column in self.table.columns:
                result[column] = self.table.value(key, column)
        result["benchmark_key"] = key
        return result


def evaluator_problems(settings: Any) -> list[str]:
    """Problems of a config's evaluator settings, one readable line each (for ``nni-nas check``)."""
    try:
        evaluator = evaluator_settings(settings)
        if evaluator.is_benchmark:
            BenchmarkQuery.from_evaluator(evaluator, settings.space)
    except (ConfigError, InvalidArchError) as err:
        return [str(err)]
    return []


def run_benchmark_trial(settings: Any, arch: dict[str, Any]) -> dict[str, Any]:
    """The trial of a benchmark-evaluated experiment: the final result dict of ``arch`` looked up in the table.

    ``settings`` is the experiment's :class:`nni_nas.config.NasSettings`; its evaluator must be a benchmark.
    """
    evaluator = evaluator_settings(settings)
    if not evaluator.is_benchmark:
        raise ConfigError("run_benchmark_trial needs classArgs.evaluator.kind: benchmark")
    result = BenchmarkQuery.from_evaluator(evaluator, settings.space).result(arch)
    if not math.isfinite(result["default"]):
        raise NonFiniteError(f"the table gives {result['default']} for {result['benchmark_key']}")
    return result


# --------------------------------------------------------------------------- in-process query loop
@dataclass
class QueryRecord:
    """One query of a search: the architecture, its key, the searched value and the test value."""

    arch: dict[str, Any]
    key: str
    value: float
    test: float


def query_search(tuner: Any, query: BenchmarkQuery, budget: int) -> list[QueryRecord]:
    """Run ``budget`` queries of an nni-nas tuner against the table, in this process, through the tuner's NNI
    API (``generate_parameters``, ``receive_trial_result``, ``trial_end``) as the NNI dispatcher calls it with
    one trial at a time. Stops early when the tuner has nothing new to propose."""
    from nni import NoMoreTrialError

    records: list[QueryRecord] = []
    for parameter_id in range(budget):
        try:
            arch = tuner.generate_parameters(parameter_id)
        except NoMoreTrialError:
            break
        result = query.result(arch)
        tuner.receive_trial_result(parameter_id, arch, result)
        tuner.trial_end(parameter_id, True)
        records.append(QueryRecord(arch, result["benchmark_key"], result["default"], result["test_acc"]))
    return records


def picked(records: list[QueryRecord]) -> QueryRecord:
    """The record a user would pick: the best by the searched metric (validation where the table has it)."""
    return max(records, key=lambda record: record.value)


def best_so_far(records: list[QueryRecord]) -> list[float]:
    """After each query, the test value of the architecture picked so far by the searched metric."""
    curve, best = [], None
    for record in records:
        if best is None or record.value > best.value:
            best = record
        curve.append(best.test)
    return curve
