"""``nni-nas check CONFIG...``: validate configs before anything starts."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("configs", nargs="+", metavar="CONFIG", help="experiment config files")


def run(args: argparse.Namespace) -> int:
    from nni_nas.checks import check_config

    failed = 0
    for path in args.configs:
        found = check_config(path)
        for warning in [p for p in found if p.startswith("warning: ")]:
            print(f"{path}: {warning}", file=sys.stderr)
        problems = [p for p in found if not p.startswith("warning: ")]
        if problems:
            failed += 1
            for problem in problems:
                print(f"{path}: {problem}", file=sys.stderr)
        else:
            print(f"{path}: ok")
    return 1 if failed else 0
