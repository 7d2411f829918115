"""``nni-nas stop EXPERIMENT_ID [...]``: stop experiments (their manager, portal and trials) by id, never all.

The same as ``nnictl stop ID``, run through nni-nas's nnictl (:func:`nni_nas.manager.nnictl.nnictl_command`), so it
prints no ``pkg_resources`` deprecation warning, and an id NNI does not know is an error instead of "not running".
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment_ids", nargs="+", metavar="EXPERIMENT_ID", help="the experiment(s) to stop")


def run(args: argparse.Namespace) -> int:
    import subprocess

    from nni_nas.errors import NasError
    from nni_nas.manager.nnictl import nni_env, nnictl_command
    from nni_nas.results.records import experiment_status, experiments_root

    unknown = [eid for eid in args.experiment_ids if experiment_status(eid) is None]
    if unknown:
        raise NasError(f"no experiment {', '.join(map(repr, unknown))} in {experiments_root()} (`nnictl experiment "
                       "list --all` lists them; NNI_EXPERIMENTS_DIR or HOME may point elsewhere)")
    failed = 0
    for experiment_id in args.experiment_ids:
        proc = subprocess.run([*nnictl_command(), "stop", experiment_id], env=nni_env(), capture_output=True,
                              text=True, timeout=120)
        said = " ".join(line.removeprefix("INFO:").strip() for line in proc.stdout.splitlines() if line.strip())
        if proc.returncode != 0:
            failed += 1
            print(f"experiment {experiment_id}: nnictl stop failed: {said} {proc.stderr.strip()[-300:]}")
        else:
            print(f"experiment {experiment_id}: {said or 'stopped'}")
    return 1 if failed else 0
