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
        problems = check_config(path)
        if problems:
            failed += 1
            for problem in problems:
                print(f"{path}: {problem}", file=sys.stderr)
        else:
            print(f"{path}: ok")
    return 1 if failed else 0
