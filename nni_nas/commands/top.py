"""``nni-nas top EXPERIMENT_ID``: the best architectures of an experiment, from NNI's records; ``--pareto``: the
architectures of its Pareto front."""

from __future__ import annotations

import argparse

from nni_nas.commands import add_pareto_arguments, count, pareto_choice


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment_id")
    parser.add_argument("--top", type=count, default=5, help="how many architectures (default 5)")
    parser.add_argument("--k", dest="top", type=count, help=argparse.SUPPRESS)  # the old name of --top
    parser.add_argument("--full-arch", action="store_true", help="show each architecture whole (default: cut to 70 "
                                                                 "characters)")
    add_pareto_arguments(parser, "print every architecture of the Pareto front (no other trial is as good or "
                                 "better on every objective) instead of the top ones")


def run(args: argparse.Namespace) -> int:
    from nni_nas.results.records import load_experiment
    from nni_nas.results.tables import pareto_table, top_table, unranked_note

    record = load_experiment(args.experiment_id)
    pareto = pareto_choice(args)
    if pareto:
        print(pareto_table(record, None if pareto is True else pareto))
        return 0
    print(top_table(record, args.top, arch_width=None if args.full_arch else 70))
    note = unranked_note(record)
    if note:
        print(note)
    return 0 if record.ranked() else 1  # nothing to rank: a script reading the table must not take it as a result
