"""The space and the data a config names, built from its :class:`~nni_nas.config.NasSettings`: the one place that
knows a registered name from a user's ``file.py:Name`` (:mod:`nni_nas.user_code`), so the tuner, the trial,
``check``, ``space``, ``export`` and the one-shot strategies build the same network from the same settings.

The data is read only where it is needed: a registered data set answers its input shape and classes cheaply
(``data_info``); a user's data function is called (and its training labels counted) only when the space's
constructor wants ``input_shape`` or ``num_classes`` that ``space_args`` does not give.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nni_nas.user_code as user_code

if TYPE_CHECKING:
    from nni_nas.config import NasSettings
    from nni_nas.data import DataBundle

Info = tuple[tuple[int, ...], int]  # (input_shape, num_classes), num_classes the targets for regression


def data_args(settings: NasSettings) -> dict:
    """``settings.data_args`` with relative data paths taken from ``trialCodeDirectory``, where a trial runs: the
    check, the tuner and the trial then read the same file whatever directory each was started in."""
    from nni_nas.data.registry import PATH_KEYS

    args = dict(settings.data_args)
    for key in PATH_KEYS:
        value = args.get(key)
        if settings.code_dir is not None and isinstance(value, str) and value and not value.startswith("~") \
                and not os.path.isabs(value):
            args[key] = str(Path(settings.code_dir) / value)
    return args


def load_bundle(settings: NasSettings) -> DataBundle:
    """The configured data's splits and what they show (input shape, classes)."""
    from nni_nas.data import load_data

    if user_code.is_reference(settings.data):
        from nni_nas.data.user import load_user_data

        return load_user_data(settings.data, settings.data_args, settings.task, settings.code_dir)
    return load_data(settings.data, **data_args(settings))


def data_shape(settings: NasSettings) -> Info:
    """``(input_shape, num_classes)`` of the configured data (a user's data function is called for it)."""
    if user_code.is_reference(settings.data):
        bundle = load_bundle(settings)
        return bundle.input_shape, bundle.num_classes
    from nni_nas.data import data_info

    return data_info(settings.data, **data_args(settings))


def space_info(settings: NasSettings, info: Info | None = None) -> tuple[tuple[int, ...] | None, int | None]:
    """What the space is built for: ``info`` (or the data's) when the space needs it, else ``(None, None)``."""
    import model_spaces

    if info is not None:
        return info
    if model_spaces.data_needed(settings.space, settings.space_args, settings.code_dir):
        return data_shape(settings)
    return None, None


def space_factory(settings: NasSettings, info: Info | None = None, **space_args: Any) -> Callable[[], Any]:
    """A function that builds a fresh space of the settings at every call (``space_args`` override the config's)."""
    import model_spaces

    input_shape, num_classes = space_info(settings, info)
    return model_spaces.factory(settings.space, input_shape, num_classes, {**settings.space_args, **space_args},
                                settings.code_dir)


def build_space(settings: NasSettings, info: Info | None = None, **space_args: Any) -> Any:
    """A fresh space of the settings, for the data's ``info`` (read when needed and not given)."""
    return space_factory(settings, info, **space_args)()
