"""Search spaces written with NNI's mutable layers, registered by name, and the contract they keep.

Every space is a :class:`model_spaces.contract.SearchSpace` (an NNI ``ModelSpace``) whose constructor takes
``input_shape`` (C, H, W) or (max_len,), ``num_classes`` and its own keyword arguments, so a config can say
``space: digits_cnn`` and ``space_args: {...}`` and a test can parametrise over every entry. What a space offers
beyond that (cells, blocks, benchmark keys) it declares by subclassing a capability of :mod:`model_spaces.contract`.
Layers shared by several spaces are in :mod:`model_spaces.layers`.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from model_spaces.contract import CellSpace, ProgressiveSpace, SearchSpace, TabularSpace, capabilities
from nni_nas.errors import ConfigError, UnknownSpaceError, did_you_mean

__all__ = ["CellSpace", "ProgressiveSpace", "SearchSpace", "TabularSpace", "build_space", "capabilities",
           "get_space_class", "register_space", "space_factory", "space_names"]

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


def get_space_class(name: str) -> type:
    """The ModelSpace class registered under ``name``; a clear error names the known ones."""
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownSpaceError(
            f"unknown space {name!r}{did_you_mean(name, sorted(_REGISTRY))}; known spaces: "
            f"{', '.join(sorted(_REGISTRY))} (`nni-nas space` lists them)"
        ) from None


def build_space(name: str, input_shape: tuple[int, ...], num_classes: int, **space_args: Any) -> SearchSpace:
    """A fresh instance of the space ``name`` for inputs of ``input_shape`` and ``num_classes`` classes."""
    cls = get_space_class(name)
    if len(input_shape) != cls.input_rank:
        wanted = ("images, input_shape (C, H, W)" if cls.input_rank == 3
                  else "byte-encoded texts, input_shape (max_len,)")
        raise ConfigError(f"space {name!r} takes {wanted}, but the data gives input_shape {tuple(input_shape)}: "
                          "pair image spaces with image data (digits, cifar10, npz) and text_cnn with text data "
                          "(pydocs, text_csv)")
    oversized = [f"{key}={value!r}" for key, value in space_args.items() if _too_large(value)]
    if oversized:
        raise ConfigError(f"space {name!r}: space_args {', '.join(oversized)} too large (sizes, counts and depths "
                          f"of a space are at most {MAX_SPACE_ARG:,})")
    try:
        return cls(input_shape=tuple(input_shape), num_classes=num_classes, **space_args)
    except TypeError as err:
        raise ConfigError(f"space {name!r} rejected space_args {space_args}: {err}") from None


MAX_SPACE_ARG = 65_536  # no width, depth or count of a space is larger: a bigger one would allocate without end


def _too_large(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return not abs(value) <= MAX_SPACE_ARG
    if isinstance(value, list | tuple):
        return any(_too_large(item) for item in value)
    return False


def space_factory(name: str, input_shape: tuple[int, ...], num_classes: int,
                  **space_args: Any) -> Callable[[], SearchSpace]:
    """A function that builds a fresh instance of the space at every call (what :func:`nni_nas.arch.freeze`
    needs: two networks frozen from one instance would share their weights)."""
    return functools.partial(build_space, name, tuple(input_shape), num_classes, **space_args)
