"""Constructor source for the standard ``torch.nn`` modules of a frozen network (``nn.Conv2d(16, 16, 3, ...)``).

A standard module is rebuilt from its public attributes (a ``Conv2d`` keeps ``in_channels``, ``kernel_size``,
``stride`` ... under the names of its constructor's parameters). Every emitted expression is checked: the module it
builds must have the same public attributes and the same state_dict layout as the original, otherwise
:class:`CodegenError` names the module type. Arguments equal to their defaults are left out, for readability.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from nni_nas.errors import ExportError

STANDARD_PREFIXES = ("torch.nn.", "torch.ao.nn.")
# Constructor parameters that describe placement, not architecture.
_SKIPPED_PARAMETERS = ("device", "dtype")


class CodegenError(ExportError):
    """The network cannot be written as plain PyTorch source; the message names the module and the reason."""


def standard_class(module: nn.Module) -> type | None:
    """The ``torch.nn`` class whose behaviour ``module`` has (its own type, or a wrapper that only subclasses it
    without changing ``forward``, as NNI's traced layers do); ``None`` for a custom module."""
    for cls in type(module).__mro__:
        if cls is nn.Module:
            return None
        if cls.__module__.startswith(STANDARD_PREFIXES):
            return cls if getattr(type(module), "forward", None) is getattr(cls, "forward", None) else None
    return None


def leaf_constructor(module: nn.Module) -> str:
    """Source of an ``nn.X(...)`` call that rebuilds the standard leaf ``module`` (weights aside)."""
    cls = standard_class(module)
    if cls is None:
        raise CodegenError(f"{type(module).__qualname__} is not a torch.nn module")
    positional, keywords = _arguments(cls, module)
    if not _builds_same(cls, module, positional, keywords):
        raise CodegenError(
            f"cannot rebuild nn.{cls.__name__} from its attributes ({module!r}); nni-nas export supports torch.nn "
            "modules whose constructor arguments are stored as attributes of the same name"
        )
    for name in list(keywords):
        # Leave out what the default already gives, and write (3, 3) as 3 where that builds the same module.
        trial = {key: value for key, value in keywords.items() if key != name}
        if _builds_same(cls, module, positional, trial):
            keywords = trial
            continue
        value = keywords[name]
        if isinstance(value, tuple) and value and all(v == value[0] for v in value):
            trial = {**keywords, name: value[0]}
            if _builds_same(cls, module, positional, trial):
                keywords = trial
    for index, value in enumerate(positional):
        if isinstance(value, tuple) and value and all(v == value[0] for v in value):
            trial_positional = positional[:index] + [value[0]] + positional[index + 1:]
            if _builds_same(cls, module, trial_positional, keywords):
                positional = trial_positional
    arguments = [_literal(value) for value in positional] + [f"{k}={_literal(v)}" for k, v in keywords.items()]
    return f"nn.{cls.__name__}({', '.join(arguments)})" if _exported_by_nn(cls) else \
        f"{cls.__module__}.{cls.__qualname__}({', '.join(arguments)})"


def _exported_by_nn(cls: type) -> bool:
    return getattr(nn, cls.__name__, None) is cls


def _signature(cls: type) -> list[inspect.Parameter]:
    for owner in cls.__mro__:
        init = owner.__dict__.get("__init__")
        if init is None:
            continue
        parameters = list(inspect.signature(init).parameters.values())[1:]
        if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
            continue  # e.g. nn.LSTM(*args, **kwargs): the real parameters are its base class's
        if issubclass(cls, nn.RNNBase) and owner is nn.RNNBase:
            parameters = [p for p in parameters if p.name != "mode"]  # nn.LSTM sets mode itself
            if issubclass(cls, nn.RNN):
                parameters.append(inspect.Parameter("nonlinearity", inspect.Parameter.KEYWORD_ONLY, default="tanh"))
        return [p for p in parameters if p.kind not in (inspect.Parameter.VAR_KEYWORD,)]
    return []


def _arguments(cls: type, module: nn.Module) -> tuple[list[Any], dict[str, Any]]:
    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    for parameter in _signature(cls):
        name = parameter.name
        if name in _SKIPPED_PARAMETERS or name.startswith("_"):
            continue
        required = parameter.default is inspect.Parameter.empty
        if not hasattr(module, name):
            if required:
                raise CodegenError(f"nn.{cls.__name__} does not keep its argument {name!r} as an attribute; "
                                   "nni-nas export cannot rebuild it")
            continue
        value = getattr(module, name)
        if isinstance(value, torch.Tensor) or (value is None and isinstance(parameter.default, bool)):
            value = value is not None  # bias=True stores a Parameter, bias=False stores None
        if isinstance(value, list):
            value = tuple(value)
        if required and parameter.kind is not inspect.Parameter.KEYWORD_ONLY and not keywords:
            positional.append(value)
        else:
            keywords[name] = value
    return positional, keywords


def _literal(value: Any) -> str:
    text = repr(value)
    try:
        rebuilt = eval(text, {"__builtins__": {}}, {"inf": float("inf"), "nan": float("nan")})  # noqa: S307
    except Exception as err:
        raise CodegenError(f"argument value {value!r} has no Python literal ({err})") from None
    if type(rebuilt) is not type(value):
        raise CodegenError(f"argument value {value!r} does not survive repr() -> eval()")
    return text


def _builds_same(cls: type, module: nn.Module, positional: list[Any], keywords: dict[str, Any]) -> bool:
    # Networks repeat the same layers many times; remember each verdict.
    key = (cls, repr(positional), repr(sorted(keywords.items())), repr(_public_vars(module)),
           repr(_state_layout(module)))
    if key not in _VERDICTS:
        _VERDICTS[key] = _rebuild_matches(cls, module, positional, keywords)
    return _VERDICTS[key]


_VERDICTS: dict[tuple, bool] = {}


def _rebuild_matches(cls: type, module: nn.Module, positional: list[Any], keywords: dict[str, Any]) -> bool:
    try:
        with torch.device("meta"):  # no weight initialisation: cheap even for wide layers
            rebuilt = cls(*positional, **keywords)
    except Exception:  # noqa: BLE001 - a constructor that rejects the arguments simply does not match
        try:
            rebuilt = cls(*positional, **keywords)
        except Exception:  # noqa: BLE001
            return False
    expected = _public_vars(module)
    for name, value in _public_vars(rebuilt).items():
        if name not in expected or not _equal(expected[name], value):
            return False
    return _state_layout(rebuilt) == _state_layout(module)


def _public_vars(module: nn.Module) -> dict[str, Any]:
    return {name: value for name, value in vars(module).items()
            if not name.startswith("_") and name != "training"}


def _state_layout(module: nn.Module) -> list[tuple[str, tuple[int, ...], torch.dtype]]:
    return [(name, tuple(t.shape), t.dtype) for name, t in module.state_dict(keep_vars=True).items()
            if t is not None]


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - incomparable values differ
        return False
