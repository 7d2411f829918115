"""A user's own data, named in a config as ``data: "file.py:function"`` (or ``"module:function"``) with ``data_args``.

The function returns one of:

- a ``LightningDataModule`` (its ``setup`` is called, then ``train_dataloader``, ``val_dataloader`` and, when it
  defines one, ``test_dataloader``);
- ``(train, val)`` or ``(train, val, test)``, each a torch ``Dataset`` or a ``DataLoader``.

Datasets are batched with ``train.batch_size`` (the training split shuffled, seeded); DataLoaders are used as they
are. The input shape is read from the first training batch; for classification the classes are counted from the
training labels (integer ids ``0..K-1``), for regression the number of targets is the network's output size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nni_nas import user_code
from nni_nas.data.registry import DataBundle
from nni_nas.errors import DataFormatError

TASKS = ("classification", "regression")


def load_user_data(ref: str, data_args: dict[str, Any], task: str = "classification",
                   code_dir: str | Path | None = None) -> DataBundle:
    """The splits ``ref``'s function returns, with the input shape and classes (or targets) they show."""
    fn = user_code.load_object(ref, "data", code_dir)
    if not callable(fn):
        raise user_code.UserCodeError(f"data {ref!r} is a {type(fn).__name__}, not a function that returns the data")
    problem = user_code.keyword_problem(fn, data_args, f"data function {ref!r}")
    if problem:
        raise user_code.UserCodeError(f"tuner.classArgs.data_args: {problem}")
    returned = user_code.call(fn, f"data function {ref!r}", **data_args)
    train, val, test = _splits(returned, ref)
    x, y = _first_batch(train, ref)
    input_shape = tuple(int(s) for s in x.shape[1:])
    num_classes = _classes(train, ref) if task == "classification" else _targets(y)
    return DataBundle(ref, train, val, test, input_shape, num_classes)


def _splits(returned: Any, ref: str) -> tuple[Any, Any, Any]:
    import pytorch_lightning as pl

    if isinstance(returned, pl.LightningDataModule):
        return _from_datamodule(returned, ref)
    if isinstance(returned, tuple | list) and len(returned) in (2, 3):
        splits = [_split(item, ref, name) for item, name in zip(returned, ("train", "val", "test"), strict=False)]
        return splits[0], splits[1], splits[2] if len(splits) == 3 else None
    raise DataFormatError(f"data function {ref!r} returned {_describe(returned)}; it must return a "
                          "LightningDataModule, or (train, val) or (train, val, test) Datasets or DataLoaders")


def _from_datamodule(module: Any, ref: str) -> tuple[Any, Any, Any]:
    what = f"data function {ref!r}'s {type(module).__name__}"
    user_code.call(module.prepare_data, f"{what}.prepare_data")
    user_code.call(module.setup, f"{what}.setup", "fit")
    train = user_code.call(module.train_dataloader, f"{what}.train_dataloader")
    val = user_code.call(module.val_dataloader, f"{what}.val_dataloader")
    test = None
    if _overrides(module, "test_dataloader"):
        user_code.call(module.setup, f"{what}.setup", "test")
        test = user_code.call(module.test_dataloader, f"{what}.test_dataloader")
    return _split(train, ref, "train"), _split(val, ref, "val"), _split(test, ref, "test") if test else None


def _overrides(module: Any, method: str) -> bool:
    import pytorch_lightning as pl

    return getattr(type(module), method, None) is not getattr(pl.LightningDataModule, method, None)


def _split(item: Any, ref: str, name: str) -> Any:
    from torch.utils.data import DataLoader, Dataset

    if isinstance(item, DataLoader | Dataset):
        if _length(item) == 0:
            raise DataFormatError(f"data function {ref!r}: the {name} split is empty")
        return item
    raise DataFormatError(f"data function {ref!r}: the {name} split is {_describe(item)}, not a torch Dataset or "
                          "DataLoader")


def _length(item: Any) -> int | None:
    try:
        return len(item)
    except TypeError:  # an IterableDataset has no length
        return None


def _batches(split: Any):
    from torch.utils.data import DataLoader

    return split if isinstance(split, DataLoader) else DataLoader(split, batch_size=256)


def _first_batch(train: Any, ref: str) -> tuple[Any, Any]:
    import torch

    batch = user_code.call(lambda: next(iter(_batches(train))), f"data function {ref!r}: reading a training batch")
    if not (isinstance(batch, tuple | list) and len(batch) == 2 and all(isinstance(t, torch.Tensor) for t in batch)):
        raise DataFormatError(f"data function {ref!r}: a training batch is {_describe(batch)}; nni-nas trains on "
                              "(inputs, targets) pairs of tensors")
    x, y = batch
    if x.dim() < 2:
        raise DataFormatError(f"data function {ref!r}: inputs of shape {tuple(x.shape)} have no sample dimension "
                              "beyond the batch; each sample must be a tensor of at least one dimension")
    return x, y


def _classes(train: Any, ref: str) -> int:
    """The number of classes: the largest integer label of the training split, plus one."""
    import torch

    tensors = getattr(train, "tensors", None)  # a TensorDataset: its labels at once
    labels = [tensors[-1]] if tensors else [batch[1] for batch in _batches(train)]
    y = torch.cat([label.reshape(-1) for label in labels])
    if y.is_floating_point() or y.dtype == torch.bool or y.numel() == 0 or int(y.min()) < 0:
        raise DataFormatError(f"data function {ref!r}: classification needs integer class ids 0..K-1 as targets, got "
                              f"{y.dtype} values from {float(y.min()) if y.numel() else 'none'}; for real-valued "
                              "targets set module: regression")
    classes = int(y.max()) + 1
    if classes < 2:
        raise DataFormatError(f"data function {ref!r}: every training label is {int(y.max())}; classification "
                              "needs at least two classes")
    return classes


def _targets(y: Any) -> int:
    """A regression network's output size: 1 for targets of shape (N,) or (N, 1), else the targets per sample."""
    return 1 if y.dim() == 1 else int(y[0].numel())


def _describe(value: Any) -> str:
    name = type(value).__name__
    article = "an" if name[:1].lower() in "aeiou" else "a"
    if isinstance(value, tuple | list):
        return f"{article} {name} of {len(value)} ({', '.join(type(v).__name__ for v in value[:4])})"
    return f"{article} {name}"
