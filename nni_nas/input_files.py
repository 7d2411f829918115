"""Reading the files a user points at strictly: what PyYAML, NNI and `open` accept silently, in one line each.

- A key given twice in one mapping (``maxTrialNumber: 2`` ... ``maxTrialNumber: 500``): YAML 1.2 forbids it, PyYAML
  and NNI keep the last value without a word. Every duplicate is named, with both line numbers.
- A file that is not text (a binary file, a compressed config): named as such, not a ``UnicodeDecodeError``.
- A path that is not a regular file (a FIFO, a folder, a device): named as what it is, not "not found". Reading a FIFO
  blocks until someone writes to it, which is how a search can hang without a word.

This module imports nothing heavy (PyYAML only): ``check``, NNI's dispatcher and the trial read configs through it;
the data sets check their paths with it.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import yaml

from nni_nas.errors import ConfigError

KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
         (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def not_a_regular_file(path: str | Path) -> str | None:
    """What ``path`` is when it exists but is not a regular file (``a FIFO (named pipe)``, ``a folder``, ...); None
    when it is a regular file or does not exist. Never opens it (opening a FIFO blocks)."""
    try:
        mode = Path(path).stat().st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    return next((kind for test, kind in KINDS if test(mode)), "not a regular file")


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader that records every key given twice in one mapping, with both lines."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.duplicates: list[str] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            try:
                key = self.construct_object(key_node, deep=True)
                hash(key)
            except (TypeError, yaml.YAMLError):
                continue  # an unhashable key: PyYAML's own construct_mapping names it
            line = key_node.start_mark.line + 1
            if key in first_line and key != "<<":
                self.duplicates.append(f"key {key!r} is given twice in one mapping (lines {first_line[key]} and "
                                       f"{line}): YAML keeps the last value without a word; keep one")
            first_line.setdefault(key, line)
        return super().construct_mapping(node, deep=deep)


def load_config_text(path: Path) -> Any:
    """The YAML document in ``path``; :class:`ConfigError` (one problem per duplicate key) for what is not a clean
    text YAML file."""
    kind = not_a_regular_file(path)
    if kind is not None:
        raise ConfigError(f"{path} is {kind}, not a config file; give the path of a YAML file")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
        if "\0" in text:  # valid UTF-8 still, but no text file holds a NUL
            raise UnicodeDecodeError("utf-8", data, data.index(b"\0"), data.index(b"\0") + 1, "a NUL byte")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path} is not a text YAML file (byte {err.start} is {data[err.start:err.start + 1]!r}: "
                          "it looks binary, or is not UTF-8); give the experiment's .yml file") from None
    loader = _StrictLoader(text)
    try:
        raw = loader.get_single_data()
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    finally:
        loader.dispose()
    if loader.duplicates:
        raise ConfigError(f"{path}: " + " | ".join(loader.duplicates), loader.duplicates)
    return raw
