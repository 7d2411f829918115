"""What the Python API accepts as data, checked before anything starts: images, signals, texts and labels.

Every mistake is one :class:`nni_nas.errors.DataFormatError` naming the argument and what is wrong with it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nni_nas.errors import DataFormatError

MIN_SIDE = 4  # as for npz files: smaller images leave a convolution no neighbourhood
MAX_CLASSES = 10_000
# The largest array fit takes in memory: the float32 copy it scales and writes to data.npz (every trial loads that
# file whole). fit holds about three such copies at once (the input as float32, its scaled copy, the written
# file's buffer), so 1 GiB means a few GiB of memory; CIFAR-10's 50,000 32x32 colour images are 0.6 GiB.
MAX_ARRAY_BYTES = 1 << 30


IMAGES_FIX = ("resize them to one size, or put them in class folders and pass the folder (image_size resizes "
              "them)")


def to_numpy(value: Any, name: str, items: str = "images", fix: str = IMAGES_FIX) -> np.ndarray:
    """A numpy view of a numpy array, a torch tensor or a (nested) list; a list of ``items`` of mixed sizes is an
    error that says ``fix``."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, without importing torch here
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, list | tuple):
        shapes = {np.shape(item) for item in value}
        if len(shapes) > 1:
            raise DataFormatError(f"{name} holds {items} of mixed sizes {sorted(shapes)[:3]}; {fix}")
        try:
            return np.asarray(value)
        except (TypeError, ValueError) as err:
            raise DataFormatError(f"{name} cannot be read as an array ({err})") from None
    raise DataFormatError(f"{name} must be a numpy array, a torch tensor or a list, got {type(value).__name__}")


def shape_of(value: Any) -> tuple[int, ...]:
    """The shape of an array, a tensor or a list of equally shaped items, without copying anything."""
    if hasattr(value, "shape"):
        return tuple(value.shape)
    if isinstance(value, list | tuple):
        return (len(value), *np.shape(value[0])) if len(value) else (0,)
    return ()


def check_size(value: Any, name: str, items: str, fix: str) -> None:
    """Refuse, before anything is copied, data whose float32 array would exceed :data:`MAX_ARRAY_BYTES`."""
    shape = shape_of(value)
    size = 4 * int(np.prod(shape, dtype=np.float64)) if shape else 0
    if size > MAX_ARRAY_BYTES:
        raise DataFormatError(f"{name} holds {shape[0]} {items} of shape {shape[1:]}: {size / 2**30:.1f} GiB as the "
                              f"float32 array fit writes, above the Python API's limit of "
                              f"{MAX_ARRAY_BYTES / 2**30:g} GiB; {fix}")


def images(value: Any, name: str = "x") -> np.ndarray:
    """Images as float32 ``(N, C, H, W)``. Accepts ``(N, H, W)``, ``(N, C, H, W)`` with C of 1 or 3, and
    channels-last ``(N, H, W, C)`` with C of 1, 3 or 4; at most :data:`MAX_ARRAY_BYTES` as float32."""
    check_size(value, name, "images", "put them in class sub-folders and pass the folder with the image_size to "
               "train at (fit(folder, image_size=(64, 64)) reads and resizes them), or resize them before fit")
    x = to_numpy(value, name)
    if x.dtype == object:
        raise DataFormatError(f"{name} holds images of mixed sizes or non-numbers (an object array); give one "
                              "array of shape (N, H, W), (N, C, H, W) or (N, H, W, C)")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise DataFormatError(f"{name} must hold real numbers, got dtype {x.dtype}")
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[1] not in (1, 3) and x.shape[-1] in (1, 3, 4):
        x = x.transpose(0, 3, 1, 2)  # channels last
    if x.ndim != 4:
        hint = "; sequences or signals, (N, L) or (N, C, L), go to SignalClassifier" if x.ndim == 2 else ""
        raise DataFormatError(f"{name} must have shape (N, H, W), (N, C, H, W) or (N, H, W, C), got {x.shape}{hint}")
    if len(x) == 0:
        raise DataFormatError(f"{name} holds no images")
    if min(x.shape[2:]) < MIN_SIDE:
        raise DataFormatError(f"{name}: images are {x.shape[2]}x{x.shape[3]}; at least {MIN_SIDE}x{MIN_SIDE} pixels "
                              "are needed")
    x = x.astype(np.float32)
    bad = int((~np.isfinite(x)).sum())
    if bad:
        raise DataFormatError(f"{name} holds NaN or infinite values ({bad} of them)")
    return x


def signals(value: Any, name: str = "x") -> np.ndarray:
    """Signals as float32 ``(N, C, L)``: ``(N, L)`` sequences (one channel) or ``(N, C, L)`` channels first, at least
    :data:`nni_nas.data.signals.MIN_LENGTH` steps, finite (the npz data set's rule, :mod:`nni_nas.data.signals`)."""
    from nni_nas.data.signals import as_signals

    check_size(value, name, "sequences", "downsample or cut them (shorter windows), or search on a sample of them")
    x = to_numpy(value, name, "sequences", "pad or cut them to one length")
    if x.dtype == object:
        raise DataFormatError(f"{name} holds sequences of mixed lengths or non-numbers (an object array); pad or cut "
                              "them to one length and give one array of shape (N, L) or (N, C, L)")
    return as_signals(x, name)


def texts(value: Any, name: str = "x") -> list[str]:
    """A list of strings (a list, tuple, numpy array of strings or pandas Series)."""
    if isinstance(value, str):
        raise DataFormatError(f"{name} must be a list of texts, got one string")
    try:
        items = list(value)
    except TypeError:
        raise DataFormatError(f"{name} must be a list of texts, got {type(value).__name__}") from None
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise DataFormatError(f"{name}[{i}] is {type(item).__name__} {item!r:.40}, not a text (str)")
    if not items:
        raise DataFormatError(f"{name} holds no texts")
    return items


def labels(value: Any, name: str = "y") -> np.ndarray:
    """One label per sample: integers (or whole floats) or strings; a column ``(N, 1)`` is flattened."""
    y = to_numpy(value, name)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataFormatError(f"{name} must hold one label per sample, shape (N,), got {y.shape} (one-hot labels: "
                              "pass y.argmax(1))")
    if y.dtype == object:
        kinds = {type(v).__name__ for v in y}
        if all(isinstance(v, str) for v in y):
            return y.astype(str)
        if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in y):
            return y.astype(np.int64)
        raise DataFormatError(f"{name} must hold integers or strings, got {', '.join(sorted(kinds))}")
    if y.dtype.kind in "US":
        return y.astype(str)
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise DataFormatError(f"{name} holds NaN or infinite labels ({int((~np.isfinite(y)).sum())} of them)")
        if (y != np.round(y)).any():
            raise DataFormatError(f"{name} must hold integer class ids or strings, got fractions (dtype {y.dtype}); "
                                  "this API classifies, it does not regress")
        return y.astype(np.int64)
    if y.dtype.kind in "iu":
        return y.astype(np.int64)
    raise DataFormatError(f"{name} must hold integer class ids or strings, got dtype {y.dtype}")


def class_ids(y: np.ndarray, classes: np.ndarray, name: str = "y") -> np.ndarray:
    """Labels as ids into ``classes`` (sorted); an unknown label is an error."""
    ids = np.searchsorted(classes, y)
    ids = np.clip(ids, 0, len(classes) - 1)
    unknown = y[classes[ids] != y] if len(y) else y
    if len(unknown):
        raise DataFormatError(f"{name} holds labels the training labels lack: {sorted(set(unknown.tolist()))[:5]}")
    return ids.astype(np.int64)


def classes_of(y: np.ndarray, name: str = "y") -> np.ndarray:
    """The sorted distinct labels; at least two, at most :data:`MAX_CLASSES`."""
    classes = np.unique(y)
    if len(classes) < 2:
        raise DataFormatError(f"{name} holds a single class ({classes[0].item()!r}); classification needs at least two")
    if len(classes) > MAX_CLASSES:
        raise DataFormatError(f"{name} holds {len(classes)} classes; at most {MAX_CLASSES} are supported")
    return classes


def same_length(x: Any, y: Any, names: tuple[str, str] = ("x", "y")) -> None:
    if len(x) != len(y):
        raise DataFormatError(f"{names[0]} has {len(x)} samples but {names[1]} has {len(y)} labels")
