"""Search spaces written with NNI's mutable layers, registered by name, and the contract they keep.

Every space is a :class:`model_spaces.contract.SearchSpace` (an NNI ``ModelSpace``) whose constructor takes
``input_shape`` (C, H, W), (C, L) or (max_len,), ``num_classes`` and its own keyword arguments, so a config can say
``space: digits_cnn`` and ``space_args: {...}`` and a test can parametrise over every entry. What a space offers
beyond that (cells, blocks, benchmark keys) it declares by subclassing a capability of :mod:`model_spaces.contract`.
Layers shared by several spaces are in :mod:`model_spaces.layers`.

A config may also name a user's own ``ModelSpace`` as ``"file.py:Class"`` or ``"package.module:Class"`` (NNI's hub
spaces: ``nni.nas.hub.pytorch:NasBench201``), loaded by :mod:`nni_nas.user_code`: :func:`get_space_class` and
:func:`build_space` take both forms. Such a space gets ``input_shape`` and ``num_classes`` from the data only when
its constructor takes them and ``space_args`` does not give them (:func:`data_needed`).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nni_nas.user_code as user_code
from model_spaces.contract import CellSpace, PathSpace, ProgressiveSpace, SearchSpace, TabularSpace, capabilities
from nni_nas.errors import ConfigError, UnknownSpaceError, did_you_mean

__all__ = ["CellSpace", "PathSpace", "ProgressiveSpace", "SearchSpace", "TabularSpace", "build", "build_space",
           "capabilities", "data_needed", "factory", "get_space_class", "register_space", "space_factory",
           "space_names"]

_REGISTRY: dict[str, type] = {}


def register_space(name: str) -> Callable[[type], type]:
    """Class decorator: make a ModelSpace subclass available under ``name``."""

    def decorator(cls: type) -> type:
        if not issubclass(cls, SearchSpace):
            raise TypeError(f"space {name!r}: {cls.__name__} must subclass model_spaces.contract.SearchSpace")
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"space name {name!r} is registered twice")
        _REGISTRY[name] = cls
        cls.space_name = name
        return cls

    return decorator


def _load_all() -> None:
    # Every module of this package registers its spaces on import; imported lazily so that
    # `import model_spaces` stays cheap.
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


def space_names() -> list[str]:
    """Names of every registered space, sorted."""
    _load_all()
    return sorted(_REGISTRY)


def get_space_class(name: str, code_dir: str | Path | None = None) -> type:
    """The ModelSpace class registered under ``name``, or the user's class ``name`` names (``file.py:Class``,
    ``module:Class``, found from ``code_dir``); a clear error names the known ones."""
    if user_code.is_reference(name):
        from nni.nas.nn.pytorch import ModelSpace

        cls = user_code.load_object(name, "space", code_dir)
        if not (isinstance(cls, type) and issubclass(cls, ModelSpace)):
            raise user_code.UserCodeError(
                f"space {name!r} is {_kind(cls)}, not a model space: name a subclass of "
                "nni.nas.nn.pytorch.ModelSpace (NNI's LayerChoice, InputChoice, Repeat, nni.choice ... inside)")
        return cls
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownSpaceError(
            f"unknown space {name!r}{did_you_mean(name, sorted(_REGISTRY))}; known spaces: "
            f"{', '.join(sorted(_REGISTRY))}, or your own as 'file.py:Class' or 'package.module:Class' "
            "(`nni-nas space` lists them)"
        ) from None


def _kind(obj: Any) -> str:
    return f"class {obj.__name__}" if isinstance(obj, type) else f"a {type(obj).__name__}"


# what a space may take from the data: nni-nas's own contract, and NNI's hub spaces' name for the classes
DATA_ARGS = ("input_shape", "num_classes", "num_labels")


def data_needed(name: str, space_args: dict[str, Any], code_dir: str | Path | None = None) -> bool:
    """Whether building ``name`` needs the data's input shape or classes: always for a registered space; for a
    user's space when its constructor takes ``input_shape``, ``num_classes`` or ``num_labels`` (NNI's hub spaces)
    and ``space_args`` leaves it out."""
    cls = get_space_class(name, code_dir)
    if issubclass(cls, SearchSpace):
        return True
    return any(user_code.takes(cls, key) and key not in space_args for key in DATA_ARGS)


def build_space(name: str, input_shape: tuple[int, ...] | None, num_classes: int | None, *,
                code_dir: str | Path | None = None, **space_args: Any) -> Any:
    """A fresh instance of the space ``name`` for inputs of ``input_shape`` and ``num_classes`` classes
    (:func:`build` with the space's arguments as keywords)."""
    return build(name, input_shape, num_classes, space_args, code_dir)


def build(name: str, input_shape: tuple[int, ...] | None, num_classes: int | None, space_args: dict[str, Any],
          code_dir: str | Path | None = None) -> Any:
    """A fresh instance of the space ``name`` with ``space_args`` (a dict, so that a user's space may take its own
    ``num_classes`` or ``input_shape`` there) for inputs of ``input_shape`` and ``num_classes`` classes.

    A user's space is built with ``space_args`` alone, plus ``input_shape`` and ``num_classes`` (or ``num_labels``,
    as NNI's hub spaces call it) where its constructor takes them and ``space_args`` does not give them (either may
    be None when it takes neither)."""
    if user_code.is_reference(name):
        return _build_user_space(name, input_shape, num_classes, code_dir, space_args)
    cls = get_space_class(name)
    if input_shape is None or num_classes is None:
        raise ConfigError(f"space {name!r} needs the data's input shape and classes")
    if len(input_shape) != cls.input_rank:
        wanted = INPUT_KINDS.get(cls.input_rank, f"inputs of rank {cls.input_rank}")
        given = INPUT_KINDS.get(len(input_shape), f"inputs of rank {len(input_shape)}").split(",")[0]
        raise ConfigError(f"space {name!r} takes {wanted}, but the data gives {given}, input_shape "
                          f"{tuple(input_shape)}: pair image spaces with image data (digits, cifar10, image_folder, "
                          "npz), text_cnn with text data (pydocs, text_csv), signal_cnn with signals (npz of (N, L), "
                          "or of (N, C, L) with data_args.kind: signal)")
    problem = space_args_problem(name, cls, space_args, from_data=("input_shape", "num_classes"))
    if problem:
        raise ConfigError(problem)
    oversized = [f"{key}={value!r}" for key, value in space_args.items() if _too_large(value)]
    if oversized:
        raise ConfigError(f"space {name!r}: space_args {', '.join(oversized)} too large (sizes, counts and depths "
                          f"of a space are at most {MAX_SPACE_ARG:,})")
    try:
        return cls(input_shape=tuple(input_shape), num_classes=num_classes, **space_args)
    except TypeError as err:
        raise ConfigError(f"space {name!r} rejected space_args {space_args}: {err}") from None


def space_args_problem(name: str, cls: type, space_args: dict[str, Any], from_data: tuple[str, ...] = ()) -> str | None:
    """The ``space_args`` keys that the space's constructor does not take, in one line with a did-you-mean against
    its parameters (``tuner.classArgs.space_args.widht: space 'digits_cnn' takes no 'widht' (did you mean
    'widths'?); ...``), or None. ``from_data`` are the parameters nni-nas fills from the data (a registered space's
    input shape and classes): given in ``space_args`` they are named as such. A constructor with ``**kwargs``
    takes anything."""
    signature = user_code.init_signature(cls)
    if signature is None or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return None
    names = [p.name for p in signature.parameters.values()
             if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    settable = [n for n in names if n not in from_data]
    filled = [key for key in space_args if key in from_data]
    unknown = [key for key in space_args if key not in names]
    if not (filled or unknown):
        return None
    wrong = unknown + filled
    where = "tuner.classArgs.space_args" + (f".{wrong[0]}" if len(wrong) == 1 else "")
    parts = [f"takes no {', '.join(f'{k!r}{did_you_mean(k, settable)}' for k in unknown)}"] if unknown else []
    if filled:
        parts.append(f"takes {', '.join(map(repr, filled))} from the data: leave {'it' if len(filled) == 1 else 'them'}"
                     " out")
    return f"{where}: space {name!r} {'; '.join(parts)}; it takes {', '.join(settable) or 'no arguments'}"


# what a registered space's input_rank means (SearchSpace.input_rank)
INPUT_KINDS = {3: "images, input_shape (C, H, W)", 2: "signals, input_shape (C, L)",
               1: "byte-encoded texts, input_shape (max_len,)"}

MAX_SPACE_ARG = 65_536  # no width, depth or count of a space is larger: a bigger one would allocate without end


def _too_large(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return not abs(value) <= MAX_SPACE_ARG
    if isinstance(value, list | tuple):
        return any(_too_large(item) for item in value)
    return False


def _build_user_space(name: str, input_shape: tuple[int, ...] | None, num_classes: int | None,
                      code_dir: str | Path | None, space_args: dict[str, Any]) -> Any:
    cls = get_space_class(name, code_dir)
    problem = space_args_problem(name, cls, space_args)
    if problem:
        raise ConfigError(problem)
    args = dict(space_args)
    shape = tuple(input_shape) if input_shape else None
    for key, value in (("input_shape", shape), ("num_classes", num_classes), ("num_labels", num_classes)):
        if key not in args and value is not None and user_code.takes(cls, key):
            args[key] = value
    space = user_code.call(cls, f"space {name!r} with space_args {space_args}", **args)
    return space


def space_factory(name: str, input_shape: tuple[int, ...] | None, num_classes: int | None, *,
                  code_dir: str | Path | None = None, **space_args: Any) -> Callable[[], Any]:
    """A function that builds a fresh instance of the space at every call (what :func:`nni_nas.arch.freeze`
    needs: two networks frozen from one instance would share their weights)."""
    return factory(name, input_shape, num_classes, space_args, code_dir)


def factory(name: str, input_shape: tuple[int, ...] | None, num_classes: int | None, space_args: dict[str, Any],
            code_dir: str | Path | None = None) -> Callable[[], Any]:
    """:func:`space_factory` with the space's arguments as a dict (see :func:`build`)."""
    shape = tuple(input_shape) if input_shape is not None else None
    return functools.partial(build, name, shape, num_classes, dict(space_args), code_dir)
