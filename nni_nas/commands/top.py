"""``nni-nas top EXPERIMENT_ID``: the best architectures of an experiment, from NNI's records."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment_id")
    parser.add_argument("--k", type=int, default=5, help="how many architectures")


def run(args: argparse.Namespace) -> int:
    from nni_nas.results.records import load_experiment
    from nni_nas.results.tables import top_table

    print(top_table(load_experiment(args.experiment_id), args.k))
    return 0
