"""``nni-nas trial --config CONFIG --arch ...``: train one architecture outside nnictl."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="the experiment config (its tuner.classArgs)")
    parser.add_argument("--arch", help="an arch as JSON, a path to a JSON file, or 'random'")
    parser.add_argument("--out", help="output folder (default runs/trial-<time>)")
    parser.add_argument("--epochs", type=int, help="override train.epochs")


def run(args: argparse.Namespace) -> int:
    import json

    from nni_nas.runtime.trial import run as run_trial

    print(json.dumps(run_trial(args)))
    return 0
