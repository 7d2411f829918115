"""User code named in a config: ``"file.py:Name"`` or ``"package.module:Name"``, for spaces, modules and data.

One loader for the three registries (:mod:`model_spaces`, :mod:`nni_nas.evaluation.modules`, :mod:`nni_nas.data`),
so the tuner, the trial, ``check``, ``space``, ``export`` and the Python API agree on what a name means:

- ``my_space.py:MySpace``: a file, relative to the experiment's code folder (NNI's ``trialCodeDirectory``, which NNI
  resolves against the config's folder); its folder is put on ``sys.path`` so it may import its neighbours;
- ``nni.nas.hub.pytorch:NasBench201``: a module importable from the code folder or the environment.

A file is imported once per process under a name derived from its path, so the tuner and every trial build the
same classes. An exception raised inside user code is reported as one line naming the user's ``file:line`` and the
message (:class:`UserCodeError`), not as a traceback through nni-nas.

This module imports nothing heavy: NNI's dispatcher imports it at start-up.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nni_nas.errors import NasError, did_you_mean

USER_MODULE_PREFIX = "nni_nas_user."  # the private name a user's file is imported under (one per path)


class UserCodeError(NasError, ValueError):
    """User code named in a config cannot be found or imported, is not what its role needs, or raised an error."""


def is_reference(name: Any) -> bool:
    """``name`` names user code (``file.py:Name`` or ``module:Name``) rather than a registered entry."""
    return isinstance(name, str) and ":" in name


def split_reference(ref: str, what: str) -> tuple[str, str]:
    """``("my_space.py", "MySpace")`` of ``"my_space.py:MySpace"``; one clear error for a malformed reference."""
    target, _, attr = ref.rpartition(":")
    if not target or not attr or not attr.replace(".", "_").isidentifier():
        raise UserCodeError(f"{what} {ref!r} is not a reference to code: write 'file.py:Name' (a file in the "
                            "experiment's code folder) or 'package.module:Name'")
    return target, attr


def absolute_reference(value: Any, what: str) -> Any:
    """For the Python API: a registered name unchanged; ``"file.py:Name"`` with the file's path made absolute
    (relative to the current folder); a class or function defined in a file as ``"/abs/file.py:Name"``."""
    if isinstance(value, str):
        if not is_reference(value):
            return value
        target, attr = split_reference(value, what)
        if _is_file(target):
            return f"{Path(os.path.expanduser(target)).resolve()}:{attr}"
        return value
    if callable(value) and hasattr(value, "__qualname__"):
        module = sys.modules.get(getattr(value, "__module__", ""), None)
        path = getattr(module, "__file__", None)
        if not path or "<" in value.__qualname__:
            raise UserCodeError(f"{what} {value!r} is not defined at the top level of a file (a notebook cell, a "
                                "function's body); NNI's trials import it by name: move it into a .py file")
        return f"{Path(path).resolve()}:{value.__qualname__}"
    raise UserCodeError(f"{what} must be a registered name, 'file.py:Name' or a class or function, got {value!r}")


def _is_file(target: str) -> bool:
    return target.endswith(".py") or "/" in target or os.sep in target


def code_dir(default: Path | str | None = None) -> Path:
    """Where relative user files are found: ``default`` when given (the config's ``trialCodeDirectory``), else the
    current folder (NNI starts each trial in its code folder)."""
    return Path(default if default is not None else os.getcwd()).resolve()


def load_object(ref: str, what: str, base: Path | str | None = None) -> Any:
    """The object ``ref`` names (a class or a function), imported from a file or a module."""
    target, attr = split_reference(ref, what)
    folder = code_dir(base)
    if _is_file(target):
        module = _import_file((folder / os.path.expanduser(target)).resolve(), ref, what)
    else:
        module = _import_module(target, folder, ref, what)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            raise UserCodeError(f"{what} {ref!r}: {target} has no {part!r}{did_you_mean(part, names)}")
        obj = getattr(obj, part)
    return obj


def _import_file(path: Path, ref: str, what: str) -> Any:
    if not path.is_file():
        raise UserCodeError(f"{what} {ref!r}: file not found: {path} (a path relative to the experiment's code "
                            "folder, trialCodeDirectory)")
    name = f"{USER_MODULE_PREFIX}{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    if str(path.parent) not in sys.path:  # the file may import its neighbours
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UserCodeError(f"{what} {ref!r}: {path} cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as err:
        del sys.modules[name]
        if isinstance(err, KeyboardInterrupt | SystemExit):
            raise
        raise UserCodeError(f"{what} {ref!r}: importing {path.name} failed: {where(err)}") from None
    return module


def _import_module(target: str, folder: Path, ref: str, what: str) -> Any:
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as err:
        if err.name and target.startswith(err.name):
            raise UserCodeError(f"{what} {ref!r}: no module {err.name!r} in {folder} or the environment (a file "
                                "is written 'file.py:Name')") from None
        raise UserCodeError(f"{what} {ref!r}: importing {target} failed: {where(err)}") from None
    except Exception as err:  # noqa: BLE001 - anything the user's module raises at import
        raise UserCodeError(f"{what} {ref!r}: importing {target} failed: {where(err)}") from None


def call(fn: Callable[..., Any], what: str, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` for user code: an exception inside it becomes one :class:`UserCodeError` naming the
    user's ``file:line``; nni-nas's own errors (a user mistake found deeper) pass through unchanged."""
    try:
        return fn(*args, **kwargs)
    except NasError:
        raise
    except Exception as err:  # noqa: BLE001 - whatever the user's code raises
        raise UserCodeError(f"{what} failed: {where(err)}") from None


def where(err: BaseException) -> str:
    """``file.py:12: ValueError: message`` for the innermost frame outside nni-nas, torch and NNI (the user's)."""
    frames = traceback.extract_tb(err.__traceback__)
    if isinstance(err, SyntaxError) and err.filename:
        return f"{Path(err.filename).name}:{err.lineno}: SyntaxError: {err.msg}"
    own = [f for f in frames if not _library_frame(f.filename)]
    frame = own[-1] if own else (frames[-1] if frames else None)
    message = " ".join(f"{type(err).__name__}: {err}".split())
    if frame is None:
        return message
    return f"{Path(frame.filename).name}:{frame.lineno}: {message}"


_LIBRARIES = tuple(str(Path(p).resolve()) for p in {
    Path(__file__).parent, Path(__file__).parent.parent / "model_spaces", Path(__file__).parent.parent / "strategies",
    Path(importlib.__file__).parent.parent,
})


def _library_frame(filename: str) -> bool:
    resolved = str(Path(filename).resolve()) if filename and not filename.startswith("<") else filename
    return resolved.startswith(_LIBRARIES) or "site-packages" in resolved or "<frozen" in resolved


def init_signature(cls: type) -> inspect.Signature | None:
    """The signature of ``cls``'s own constructor (NNI wraps a ``ModelSpace``'s ``__init__`` in ``*args, **kwargs``:
    the original is its ``_init_wrapped``), without ``self``; None when it cannot be read."""
    init = cls.__dict__.get("_init_wrapped") or getattr(cls, "_init_wrapped", None) or cls.__init__
    try:
        signature = inspect.signature(inspect.unwrap(init))
    except (TypeError, ValueError):
        return None
    params = list(signature.parameters.values())
    if params and params[0].name == "self":
        params = params[1:]
    return signature.replace(parameters=params)


def keyword_problem(fn: Callable[..., Any] | type, given: dict[str, Any], what: str,
                    signature: inspect.Signature | None = None) -> str | None:
    """Keywords in ``given`` that ``fn`` does not take (with did-you-mean against its signature), or None."""
    signature = signature or (init_signature(fn) if isinstance(fn, type) else _signature(fn))
    if signature is None:
        return None
    params = signature.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    names = [p.name for p in params if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                   inspect.Parameter.KEYWORD_ONLY)]
    unknown = [key for key in given if key not in names]
    if not unknown:
        return None
    hints = "; ".join(f"{key!r}{did_you_mean(key, names)}" for key in unknown)
    return f"{what} takes no {hints}; it takes {names}"


def takes(fn: Callable[..., Any] | type, name: str) -> bool:
    """``fn`` (a function, or a class's constructor) has a parameter ``name``."""
    signature = init_signature(fn) if isinstance(fn, type) else _signature(fn)
    return signature is not None and name in signature.parameters


def _signature(fn: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None
