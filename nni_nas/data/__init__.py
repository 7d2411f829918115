"""Data sets by name, each with train / validation / test splits as torch datasets (:class:`DataBundle`).

- :mod:`nni_nas.data.registry`: ``register_data``, ``load_data``, ``data_info`` (shape and classes, cheaply);
- :mod:`nni_nas.data.images`: ``digits`` (embedded, the default), ``cifar10`` (a local folder), ``npz`` (arrays);
- :mod:`nni_nas.data.image_folder`: ``image_folder`` (your images in class sub-folders);
- :mod:`nni_nas.data.text`: ``pydocs`` (embedded texts) and ``text_csv`` (your file), byte-encoded;
- :mod:`nni_nas.data.splits`: the stratified, seeded splits they share.

Nothing is downloaded unless a config asks for it (``download: true``).
"""

from __future__ import annotations

from nni_nas.data import image_folder, images, text  # noqa: F401  (the built-in data sets register themselves on import)
from nni_nas.data.registry import DataBundle, data_info, data_names, get_loader, load_data, register_data
from nni_nas.errors import DataNotFoundError, UnknownDataError

__all__ = ["DataBundle", "DataNotFoundError", "UnknownDataError", "data_info", "data_names", "get_loader",
           "load_data", "register_data"]
