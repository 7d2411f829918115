"""``nni-nas register`` / ``unregister``: the nni-nas tuners in NNI's registered algorithms, so a config can
say ``tuner: {name: NasEvolution}`` like a built-in. Writes ``<env>/nni/registered_algorithms.yml``."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--list", action="store_true", help="only show what is registered")


def add_unregister_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from nni.tools.package_utils.common import AlgoMeta
    from nni.tools.package_utils.config_manager import get_algo_meta, register_algo_meta

    from strategies import STRATEGIES

    for entry in STRATEGIES.values():
        if not args.list:
            register_algo_meta(AlgoMeta(entry.builtin_name, None, entry.class_path, True, None, None, "tuner", False,
                                        False, None))
        meta = get_algo_meta(entry.builtin_name)
        state = f"registered -> {meta.class_name}" if meta else "not registered"
        print(f"{entry.builtin_name:12s} ({entry.name}) {state}")
    return 0


def run_unregister(args: argparse.Namespace) -> int:
    from nni.tools.package_utils.config_manager import unregister_algo_meta

    from strategies import STRATEGIES

    for entry in STRATEGIES.values():
        unregister_algo_meta(entry.builtin_name)
        print(f"{entry.builtin_name:12s} unregistered")
    return 0
