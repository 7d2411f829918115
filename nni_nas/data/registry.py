"""The data-set registry: a loader and a cheap ``info`` function per name, and the :class:`DataBundle` they return.

Built-in data sets register themselves in :mod:`nni_nas.data.images` and :mod:`nni_nas.data.text`; a user's own
loader registers the same way (``@register_data("mine", info=...)``) before the search starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nni_nas.errors import ConfigError, UnknownDataError, did_you_mean
from nni_nas.input_files import not_a_regular_file


@dataclass
class DataBundle:
    """Splits of one data set plus what a space needs to know about it."""

    name: str
    train: Any  # torch Datasets
    val: Any
    test: Any  # None: no test split (test_fraction 0 and none given), so a trial reports no test_* value
    input_shape: tuple[int, ...]  # (C, H, W) for images, (max_len,) for byte-encoded texts
    num_classes: int
    # how raw inputs become the network's input, when the data set scales them itself (image_folder: per-channel
    # mean and std of the training split); saved with every trial, shown in an exported model's README
    preprocessing: dict[str, Any] | None = None


_LOADERS: dict[str, Callable[..., DataBundle]] = {}
# name -> fn(**data_args) -> (input_shape, num_classes) without loading the data (tuners and checks use it)
_INFO: dict[str, Callable[..., tuple[tuple[int, ...], int]]] = {}


def register_data(name: str, info: Callable[..., tuple[tuple[int, ...], int]]):
    """Decorator: make a loader ``fn(**data_args) -> DataBundle`` available under ``name``.

    ``info(**data_args)`` returns ``(input_shape, num_classes)`` cheaply and raises
    :class:`nni_nas.errors.DataNotFoundError` when the data's files are missing.
    """

    def decorator(fn: Callable[..., DataBundle]) -> Callable[..., DataBundle]:
        _LOADERS[name] = fn
        _INFO[name] = info
        return fn

    return decorator


def data_names() -> list[str]:
    """Names of every registered data set."""
    return sorted(_LOADERS)


def get_loader(name: str) -> Callable[..., DataBundle]:
    """The loader registered under ``name``; a clear error lists the known ones."""
    try:
        return _LOADERS[name]
    except KeyError:
        raise UnknownDataError(f"unknown data set {name!r}{did_you_mean(name, data_names())}; known data sets: "
                               f"{', '.join(data_names())}") from None


def data_info(name: str, **data_args: Any) -> tuple[tuple[int, ...], int]:
    """``(input_shape, num_classes)`` of a data set without loading it; checks that its files exist."""
    get_loader(name)
    check_common_args(name, data_args)
    return _INFO[name](**data_args)


PATH_KEYS = ("path", "val_path", "test_path", "root")  # what data sets read: files, and a folder (root)


def check_common_args(name: str, data_args: dict[str, Any]) -> None:
    """The arguments several data sets share, by value: a seed numpy and scikit-learn accept, fractions in (0, 1)
    (``test_fraction`` may be 0: no test split is held out, and the trials report validation values only), paths
    that are what they must be (a path that is a FIFO, a device or a folder is named as such)."""
    problems = []
    seed = data_args.get("split_seed", 0)
    if not (isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < 2**32):
        problems.append(f"split_seed must be an integer in [0, 2**32), got {seed!r}")
    for key, low in (("val_fraction", None), ("test_fraction", 0)):
        value = data_args.get(key, 0.2)
        if not (isinstance(value, int | float) and not isinstance(value, bool) and (value == low or 0 < value < 1)):
            allowed = "between 0 and 1" if low is None else "from 0 (no test split) to below 1"
            problems.append(f"{key} must be a number {allowed}, got {value!r}")
    for key in PATH_KEYS:  # a FIFO would block the reader for ever (a search that hangs without a word)
        kind = not_a_regular_file(data_args[key]) if isinstance(data_args.get(key), str) else None
        wanted = "a folder" if key == "root" else "a file"
        if kind is not None and kind != wanted:
            problems.append(f"{key} {data_args[key]!r} is {kind}, not {wanted}; set data_args.{key} to {wanted} "
                            f"{name} can read")
    if problems:
        raise ConfigError(f"data_args of {name}: " + "; ".join(problems))


def load_data(name: str, **data_args: Any) -> DataBundle:
    """Load the data set ``name`` with its ``data_args`` (see each loader's docstring)."""
    loader = get_loader(name)
    check_common_args(name, data_args)
    try:
        return loader(**data_args)
    except TypeError as err:
        raise ConfigError(f"data set {name!r} rejected data_args {data_args}: {err}") from None
