"""``nni-nas top EXPERIMENT_ID``: the best architectures of an experiment, from NNI's records."""

from __future__ import annotations

import argparse

from nni_nas.commands import count


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment_id")
    parser.add_argument("--top", type=count, default=5, help="how many architectures (default 5)")
    parser.add_argument("--k", dest="top", type=count, help=argparse.SUPPRESS)  # the old name of --top
    parser.add_argument("--full-arch", action="store_true", help="show each architecture whole (default: cut to 70 "
                                                                 "characters)")


def run(args: argparse.Namespace) -> int:
    from nni_nas.results.records import load_experiment
    from nni_nas.results.tables import top_table

    print(top_table(load_experiment(args.experiment_id), args.top, arch_width=None if args.full_arch else 70))
    return 0
