"""Search spaces written with NNI's mutable layers, registered by name.

Every space is a :class:`nni.nas.nn.pytorch.ModelSpace` subclass whose constructor takes
``input_shape`` (C, H, W), ``num_classes`` and its own keyword arguments, so a config can say
``space: digits_cnn`` and ``space_args: {...}`` and a test can parametrise over every entry.
"""

from __future__ import annotations

import importlib
import pkgutil
import warnings
from collections.abc import Callable
from typing import Any

# NNI 3.0 probes every torch.nn class when its layers module is imported and warns about new
# torch classes it does not know (Buffer, LinearCrossEntropyOptions). The warning is harmless.
warnings.filterwarnings("ignore", message=".*is found to be not a nn.Module.*")

_REGISTRY: dict[str, type] = {}


class UnknownSpaceError(KeyError):
    """Raised for a space name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; print it plainly
        return str(self.args[0])


def register_space(name: str) -> Callable[[type], type]:
    """Class decorator: make a ModelSpace subclass available under ``name``."""

    def decorator(cls: type) -> type:
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
            f"unknown space {name!r}; known spaces: {', '.join(sorted(_REGISTRY))} "
            "(`nni-nas space` lists them)"
        ) from None


def build_space(name: str, input_shape: tuple[int, int, int], num_classes: int, **space_args: Any):
    """A fresh instance of the space ``name`` for inputs of ``input_shape`` and ``num_classes`` classes."""
    cls = get_space_class(name)
    rank = getattr(cls, "input_rank", 3)  # image spaces take (C, H, W); text spaces set 1: (max_len,)
    if len(input_shape) != rank:
        wanted = "images, input_shape (C, H, W)" if rank == 3 else "byte-encoded texts, input_shape (max_len,)"
        raise ValueError(f"space {name!r} takes {wanted}, but the data gives input_shape {tuple(input_shape)}: "
                         "pair image spaces with image data (digits, cifar10, npz) and text_cnn with text data "
                         "(pydocs, text_csv)")
    try:
        return cls(input_shape=tuple(input_shape), num_classes=num_classes, **space_args)
    except TypeError as err:
        raise TypeError(f"space {name!r} rejected space_args {space_args}: {err}") from None
