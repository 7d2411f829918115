"""One module per ``nni-nas`` verb: ``add_arguments(parser)`` and ``run(args) -> int``."""

from __future__ import annotations

import argparse


def count(text: str) -> int:
    """An argparse type: a whole number >= 1 (``--top 0`` or ``--top -1`` is a usage error, not an empty table)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value
