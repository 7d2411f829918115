"""``nni-nas schema``: print the JSON Schema of the NAS part of a config, for editors (:mod:`nni_nas.schema`)."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", help="write it to this file instead of standard output")


def schema_text() -> str:
    from nni_nas.schema import config_schema

    return json.dumps(config_schema(), indent=2) + "\n"


def run(args: argparse.Namespace) -> int:
    text = schema_text()
    if args.out:
        from pathlib import Path

        from nni_nas.runtime.trial_files import write_text_atomic

        write_text_atomic(Path(args.out), text)
    else:
        print(text, end="")
    return 0
