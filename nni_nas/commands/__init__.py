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


def add_pareto_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """``--pareto`` and ``--objectives`` (``top``, ``export``)."""
    parser.add_argument("--pareto", action="store_true", help=what)
    parser.add_argument("--objectives", metavar="METRIC:MODE,...",
                        help="objectives of the front, e.g. val_acc:max,params:min (default: the experiment's own "
                             "objectives, else val_acc:max,params:min); implies --pareto")


def pareto_choice(args: argparse.Namespace) -> str | bool:
    """What ``--pareto`` / ``--objectives`` ask for: the objectives' text, True (default objectives) or False."""
    if args.objectives is not None:
        args.pareto = True
        return args.objectives
    return bool(args.pareto)
