"""Collect the ``pydocs`` texts: standard-library docstrings labelled by the family of the module they document.

Standard library only, and run as a script in a fresh interpreter (``python -I``) by
:func:`nni_nas.data.text.pydocs_corpus`, so the texts do not depend on what the calling process has imported or
patched. Prints ``[texts, labels]`` as JSON.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import warnings
from typing import Any

# family -> modules whose public members' docstrings carry that label (order fixes the label ids)
PYDOCS_FAMILIES: dict[str, tuple[str, ...]] = {
    "files": ("os", "os.path", "shutil", "pathlib", "glob", "fnmatch", "tempfile", "filecmp", "stat", "io"),
    "text": ("re", "string", "textwrap", "difflib", "unicodedata", "codecs", "html", "html.parser"),
    "numbers": ("math", "cmath", "statistics", "decimal", "fractions", "random", "numbers"),
    "network": ("socket", "ssl", "http.client", "http.server", "http.cookies", "urllib.request", "urllib.parse",
                "ftplib", "smtplib", "email.message", "email.utils", "ipaddress", "socketserver"),
    "concurrency": ("threading", "multiprocessing", "concurrent.futures", "asyncio", "queue", "subprocess", "sched",
                    "selectors"),
    "formats": ("json", "csv", "pickle", "struct", "base64", "zlib", "gzip", "bz2", "lzma", "tarfile", "zipfile",
                "configparser", "xml.etree.ElementTree", "plistlib", "sqlite3"),
    "time": ("datetime", "time", "calendar", "zoneinfo"),
    "language": ("collections", "itertools", "functools", "operator", "typing", "inspect", "dataclasses", "enum",
                 "abc", "types", "copy", "contextlib", "ast", "dis"),
}
MIN_DOC_CHARS = 40
DEDUP_BYTES = 128  # docstrings that share their first 128 bytes (os.execv / os.execve, ...) are kept once


def _from_stdlib(member: Any) -> bool:
    """Whether ``member`` is the standard library's own, not something a library put in its place."""
    module = getattr(member, "__module__", None)
    return not isinstance(module, str) or module.split(".")[0] in sys.stdlib_module_names


def collect() -> tuple[list[str], list[int]]:
    """The docstrings (whitespace collapsed, at least 40 characters) of the public members of the
    ``PYDOCS_FAMILIES`` modules and of their classes' public members, in a fixed order; labels by family.
    Only the first of the docstrings that share their first ``DEDUP_BYTES`` bytes is kept (an inherited or
    re-exported member, or a near-copy), so no text is in two splits at ``max_len`` <= 128."""
    texts: list[str] = []
    labels: list[int] = []
    seen: set[bytes] = set()

    def visit(obj: Any, label: int, depth: int) -> None:
        for name in sorted(dir(obj)):
            if name.startswith("_"):
                continue
            try:
                member = getattr(obj, name)
            except Exception:  # noqa: BLE001 - some attributes raise on access (platform-dependent)
                continue
            if inspect.ismodule(member) or not callable(member) or not _from_stdlib(member):
                continue
            doc = inspect.getdoc(member)
            if not doc:
                continue
            doc = " ".join(doc.split())
            key = doc.encode("utf-8")[:DEDUP_BYTES]
            if len(doc) < MIN_DOC_CHARS or key in seen:
                continue
            seen.add(key)
            texts.append(doc)
            labels.append(label)
            if depth == 0 and inspect.isclass(member):
                visit(member, label, 1)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated aliases (typing.io, ...) warn on access
        for label, modules in enumerate(PYDOCS_FAMILIES.values()):
            for module in modules:
                visit(importlib.import_module(module), label, 0)
    return texts, labels


def _from_stdlib(member: Any) -> bool:
    """Whether ``member`` is the standard library's own: a test runner or library may have replaced it at run time
    (pytest swaps ``threading.excepthook``), and the corpus must be the same in every process."""
    module = getattr(member, "__module__", None)
    return not isinstance(module, str) or module.split(".")[0] in sys.stdlib_module_names


if __name__ == "__main__":
    json.dump(collect(), sys.stdout)
