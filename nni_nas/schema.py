"""A JSON Schema of the NAS part of an experiment config (``tuner`` and its ``classArgs``), for editors.

Generated, never written by hand: the keys, types and defaults come from the settings dataclasses
(:class:`nni_nas.config.TrainSettings`, each strategy's ``settings_class``, the evaluator's), from the tuners'
own ``__init__`` arguments, and from the space, data-set and strategy registries. ``nni-nas schema`` prints it;
``configs/nni-nas.schema.json`` is the published copy (a test keeps it equal to this). Value bounds stay in the
settings' ``value_problems`` (``nni-nas check`` names them); NNI's own fields are NNI's to validate, so any other
top-level key is allowed here.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from pathlib import Path
from typing import Any

SCHEMA_ID = "https://github.com/nni-nas/nni-nas/configs/nni-nas.schema.json"


def config_schema() -> dict[str, Any]:
    """The schema, as a JSON-ready dict (keys in a stable order)."""
    import model_spaces
    import strategies
    from nni_nas.config import COMMON_KEYS, MODULES, TRAIN_STRATEGIES, TrainSettings
    from nni_nas.constraints import ConstraintSettings
    from nni_nas.data import data_names
    from nni_nas.evaluation.tabular import EvaluatorSettings

    common = {
        "space": named(model_spaces.space_names(), "a registered search space, or your own ModelSpace as "
                                                   "'file.py:Class' or 'package.module:Class'"),
        "space_args": {"type": "object", "description": "the space's own arguments (nni-nas space NAME)"},
        "data": {**named(data_names(), "a registered data set, or your own function as 'file.py:function' returning "
                                       "a LightningDataModule or (train, val[, test]) Datasets or DataLoaders"),
                 "default": "digits"},
        "data_args": {"type": "object", "description": "the data set's (or your function's) arguments"},
        "module": {**named(list(MODULES), "the Lightning module each network trains with: a built-in one, or your "
                                          "own as 'file.py:Class'"), "default": "classification"},
        "module_args": {"type": "object", "description": "your own module's constructor arguments"},
        "monitor": {"type": "string", "description": "the value the module logs that is searched on (default "
                                                     "val_acc; val_mse for regression)"},
        "train": {"$ref": "#/$defs/train"},
        "evaluator": {"$ref": "#/$defs/evaluator"},
        "constraints": {"$ref": "#/$defs/constraints"},
    }
    assert list(common) == list(COMMON_KEYS)
    defs: dict[str, Any] = {"train": settings_schema(TrainSettings, "how each architecture is trained"),
                            "evaluator": settings_schema(EvaluatorSettings, EvaluatorSettings.__doc__),
                            "constraints": settings_schema(ConstraintSettings, ConstraintSettings.__doc__)}
    defs["evaluator"]["properties"]["kind"]["enum"] = ["train", "benchmark"]
    defs["train"]["properties"]["strategy"]["enum"] = list(TRAIN_STRATEGIES)
    cases = []
    for entry in strategies.STRATEGIES.values():
        tuner = entry.tuner_class()
        own = settings_schema(tuner.settings_class)["properties"]
        defs[entry.name] = {
            "type": "object",
            "description": f"tuner.classArgs of {entry.name} ({entry.kind})",
            "required": ["space"],
            "additionalProperties": False,
            "properties": {**common, **tuner_arguments(tuner), **own},
        }
        names = [{"required": ["className"], "properties": {"className": {"const": entry.class_path}}},
                 {"required": ["name"], "not": {"required": ["className"]},
                  "properties": {"name": {"const": entry.builtin_name}}}]
        class_args = {"classArgs": {"$ref": f"#/$defs/{entry.name}"}}
        cases.append({"if": {"required": ["tuner"], "properties": {"tuner": {"anyOf": names}}},
                      "then": {"properties": {"tuner": {"properties": class_args}}}})
    tuner_schema = {
        "type": "object",
        "properties": {
            "className": {"type": "string", "description": "a strategy's class path, e.g. "
                          "strategies.evolution.RegularizedEvolutionTuner",
                          "examples": [e.class_path for e in strategies.STRATEGIES.values()]},
            "name": {"type": "string", "description": "a strategy's NNI name (after `nni-nas register`)",
                     "examples": [e.builtin_name for e in strategies.STRATEGIES.values()]},
            "codeDirectory": {"type": "string"},
            "classArgs": {"type": "object"},
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "nni-nas experiment config",
        "description": "The NAS part of an NNI experiment config (tuner.classArgs); NNI validates the rest. "
                       "Generated by `nni-nas schema`.",
        "type": "object",
        "required": ["tuner"],
        "properties": {"tuner": tuner_schema},
        "allOf": cases,
        "$defs": defs,
    }


def settings_schema(cls: type, description: str | None = None) -> dict[str, Any]:
    """An object schema of a settings dataclass: its fields, their types and defaults, nothing else allowed."""
    hints = typing.get_type_hints(cls)
    properties = {}
    for field in dataclasses.fields(cls):
        schema = type_schema(hints[field.name])
        default = _default(field)
        if default is not dataclasses.MISSING:
            schema["default"] = default
        properties[field.name] = schema
    out: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": properties}
    if description:
        out = {"description": " ".join(description.split()), **out}
    return out


REFERENCE_PATTERN = r"^[^:\s][^:]*:[A-Za-z_][A-Za-z0-9_.]*$"  # file.py:Name or package.module:Name


def named(names: list[str], description: str) -> dict[str, Any]:
    """A registered name (one of ``names``) or a reference to the user's code."""
    return {"type": "string", "anyOf": [{"enum": names}, {"pattern": REFERENCE_PATTERN}], "description": description}


def tuner_arguments(tuner: type) -> dict[str, Any]:
    """The named ``__init__`` arguments of ``tuner`` and its bases (seed, metric, runs, ...), the common settings
    left out."""
    from nni_nas.config import COMMON_KEYS

    out: dict[str, Any] = {}
    for klass in reversed(tuner.__mro__):
        init = klass.__dict__.get("__init__")
        if init is None or klass is object or klass.__module__.startswith("nni."):
            continue
        hints = typing.get_type_hints(init)
        for name, parameter in inspect.signature(init).parameters.items():
            if name == "self" or name in COMMON_KEYS or parameter.kind in (parameter.VAR_KEYWORD,
                                                                           parameter.VAR_POSITIONAL):
                continue
            schema = type_schema(hints.get(name, Any))
            if parameter.default is not parameter.empty:
                schema["default"] = parameter.default
            out[name] = schema
    return out


def type_schema(hint: Any) -> dict[str, Any]:
    """The JSON Schema of a Python type hint (the kinds settings use)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [type_schema(arg) for arg in typing.get_args(hint)]
        kinds = [o["type"] for o in options if set(o) == {"type"}]
        return {"type": kinds} if len(kinds) == len(options) else {"anyOf": options}
    if origin in (list, tuple):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return {"type": "array", **({"items": type_schema(args[0])} if len(set(args)) == 1 else {})}
    if origin is dict or hint is dict:
        return {"type": "object"}
    simple = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null", Path: "string"}
    if hint in simple:
        return {"type": simple[hint]}
    return {}


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return dataclasses.MISSING
    return list(value) if isinstance(value, tuple) else value
