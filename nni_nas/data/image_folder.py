"""``image_folder``: your own images in class sub-folders (torchvision's ``ImageFolder`` layout)::

    root/cat/001.png  root/dog/xyz.jpg ...                         (split here: seeded, stratified)
    root/train/cat/001.png  root/val/cat/...  root/test/cat/...    (your own splits; val and test optional)

Every image is converted to one channel (grayscale) or three (RGB), resized to ``image_size`` and held in memory as
float32 (C*H*W*4 bytes per image). Pixels become [0, 1], then are standardised per channel with the mean and
standard deviation of the *training* split; :attr:`DataBundle.preprocessing` records them, so trials save them beside
their weights and an exported model's README and the Python API's ``predict`` scale new images the same way.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import nni
import numpy as np
import torch
from torch.utils.data import TensorDataset

from nni_nas.data import splits
from nni_nas.data.registry import DataBundle, register_data
from nni_nas.errors import ConfigError, DataFormatError, DataNotFoundError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
SPLIT_FOLDERS = ("train", "val", "test")
MAX_SIDE = 1024
GRAYSCALE_MODES = ("1", "L", "LA", "I", "I;16", "F", "P;L")


def _check_args(image_size: Any, channels: Any) -> tuple[int, int]:
    if (not isinstance(image_size, list | tuple) or len(image_size) != 2
            or not all(isinstance(s, int) and not isinstance(s, bool) and 4 <= s <= MAX_SIDE for s in image_size)):
        raise ConfigError(f"image_size must be [height, width], integers from 4 to {MAX_SIDE}, got {image_size!r}")
    if channels not in (None, 1, 3):
        raise ConfigError(f"channels must be 1 (grayscale), 3 (RGB) or left out (from the first image), got "
                          f"{channels!r}")
    return int(image_size[0]), int(image_size[1])


def scan(root: str) -> dict[str | None, list[tuple[Path, str]]]:
    """The image files under ``root`` with their class (the sub-folder's name), per split folder when ``root`` has
    ``train`` (and optionally ``val``, ``test``) sub-folders, else under the key ``None``. One clear error when the
    folder is missing, holds no images or a single class."""
    base = Path(os.path.expanduser(root))
    if not base.is_dir():
        raise DataNotFoundError(f"image folder not found: {str(base)!r}; set data_args.root to a folder with one "
                                "sub-folder of images per class")
    present = [name for name in SPLIT_FOLDERS if (base / name).is_dir()]
    if present and "train" not in present:
        raise DataFormatError(f"{base} has {'/'.join(present)} but no train sub-folder; put the training images in "
                              f"{base / 'train'}/<class>/")
    layout = {name: _class_files(base / name) for name in present} if present else {None: _class_files(base)}
    train = layout.get("train", layout.get(None))
    classes = sorted({label for _, label in train})
    if not train:
        raise DataFormatError(f"{base / 'train' if present else base} holds no images ({', '.join(IMAGE_EXTENSIONS)}) "
                              "in class sub-folders (<root>/<class>/<image>)")
    if len(classes) < 2:
        raise DataFormatError(f"{base} holds a single class ({classes[0]!r}); classification needs at least two "
                              "class sub-folders")
    for name, files in layout.items():
        unknown = sorted({label for _, label in files} - set(classes))
        if unknown:
            raise DataFormatError(f"{base / name} has classes {unknown} that the train folder lacks")
    return layout


def _class_files(folder: Path) -> list[tuple[Path, str]]:
    files = []
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files += [(path, class_dir.name) for path in sorted(class_dir.rglob("*"))
                  if path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file()]
    return files


def _image_channels(path: Path) -> int:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return 1 if image.mode in GRAYSCALE_MODES else 3
    except (OSError, UnidentifiedImageError) as err:
        raise DataFormatError(f"{path} cannot be read as an image ({err}); remove or replace it") from None


def _read_images(files: list[tuple[Path, str]], size: tuple[int, int], channels: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    out = np.empty((len(files), channels, *size), dtype=np.float32)
    mode = "L" if channels == 1 else "RGB"
    for i, (path, _) in enumerate(files):
        try:
            with Image.open(path) as image:
                pixels = image.convert(mode).resize((size[1], size[0]), Image.Resampling.BILINEAR)
                array = np.asarray(pixels, dtype=np.float32) / 255.0
        except (OSError, UnidentifiedImageError, ValueError) as err:
            raise DataFormatError(f"{path} cannot be read as an image ({err}); remove or replace it") from None
        out[i] = array[None] if channels == 1 else array.transpose(2, 0, 1)
    return out


@functools.lru_cache(maxsize=2)
def _splits(root: str, image_size: tuple[int, int], channels: int | None, val_fraction: float,
            test_fraction: float, split_seed: int) -> dict[str, Any]:
    """Every split as standardised arrays, read once per process (the three datasets share it)."""
    layout = scan(root)
    train_files = layout.get("train", layout.get(None))
    channels = channels or _image_channels(train_files[0][0])
    classes = sorted({label for _, label in train_files})
    ids = {label: i for i, label in enumerate(classes)}
    parts: dict[str, list[tuple[Path, str]]] = {}
    y_train = np.asarray([ids[label] for _, label in train_files], dtype=np.int64)
    idx = np.arange(len(train_files))
    for split, fraction in (("test", test_fraction), ("val", val_fraction)):
        if split in layout:
            parts[split] = layout[split]
        elif fraction == 0:  # test_fraction 0 and no test sub-folder: no test split
            continue
        else:  # held out of the training images, stratified and seeded
            try:
                idx, held = splits.holdout(idx, y_train, fraction, split_seed)
            except ValueError as err:  # too few images to hold out a stratified share
                raise DataFormatError(f"{root}: cannot hold out a {split} split of {fraction} from {len(idx)} training "
                                      f"images of {len(classes)} classes ({err}); add images or a {split} "
                                      "sub-folder") from None
            parts[split] = [train_files[i] for i in held]
    parts["train"] = [train_files[i] for i in idx]
    arrays = {split: _read_images(files, image_size, channels) for split, files in parts.items()}
    mean = arrays["train"].mean(axis=(0, 2, 3))
    std = np.maximum(arrays["train"].std(axis=(0, 2, 3)), 1e-6)
    preprocessing = {"scale": 1 / 255, "mean": [round(float(m), 6) for m in mean],
                     "std": [round(float(s), 6) for s in std], "image_size": list(image_size), "channels": channels,
                     "classes": classes}
    result: dict[str, Any] = {"classes": classes, "channels": channels, "preprocessing": preprocessing}
    for split, x in arrays.items():
        x = (x - mean[None, :, None, None]) / std[None, :, None, None]
        y = np.asarray([ids[label] for _, label in parts[split]], dtype=np.int64)
        result[split] = (torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y))
    return result


@nni.trace
class ImageFolderDataset(TensorDataset):
    """One split of an image folder (see the module docstring), standardised with the training split's statistics."""

    def __init__(self, root: str, split: str, image_size: tuple[int, int] = (32, 32), channels: int | None = None,
                 val_fraction: float = 0.2, test_fraction: float = 0.2, split_seed: int = 0):
        data = _splits(root, tuple(image_size), channels, val_fraction, test_fraction, split_seed)
        super().__init__(*data[split])


def _image_folder_info(root: str, image_size: list[int] | tuple[int, int] = (32, 32), channels: int | None = None,
                       **_: Any) -> tuple[tuple[int, ...], int]:
    size = _check_args(image_size, channels)
    layout = scan(root)
    train = layout.get("train", layout.get(None))
    _check_readable([path for files in layout.values() for path, _ in files])
    channels = channels or _image_channels(train[0][0])
    return (channels, *size), len({label for _, label in train})


def _check_readable(paths: list[Path]) -> None:
    """Every file opens as an image (its header; a file cut short is named when it is read)."""
    from PIL import Image, UnidentifiedImageError

    bad = []
    for path in paths:
        try:
            with Image.open(path):
                pass
        except (OSError, UnidentifiedImageError):
            bad.append(str(path))
    if bad:
        raise DataFormatError(f"{len(bad)} file(s) cannot be read as images: {', '.join(bad[:3])}"
                              f"{' ...' if len(bad) > 3 else ''}; remove or replace them")


@register_data("image_folder", info=_image_folder_info)
def load_image_folder(root: str, image_size: list[int] | tuple[int, int] = (32, 32), channels: int | None = None,
                      val_fraction: float = 0.2, test_fraction: float = 0.2, split_seed: int = 0) -> DataBundle:
    """Images in class sub-folders under ``root`` (see the module docstring), resized to ``image_size``."""
    _image_folder_info(root, image_size, channels)  # the folder's mistakes, named before anything is read
    size = _check_args(image_size, channels)
    root = str(Path(os.path.expanduser(root)).resolve())
    data = _splits(root, size, channels, val_fraction, test_fraction, split_seed)
    make = lambda split: ImageFolderDataset(root, split, size, channels, val_fraction, test_fraction,  # noqa: E731
                                            split_seed)
    return DataBundle("image_folder", make("train"), make("val"), make("test") if "test" in data else None,
                      (data["channels"], *size),
                      len(data["classes"]), preprocessing=data["preprocessing"])
