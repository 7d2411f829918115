"""nni-nas: neural architecture search on Microsoft NNI, from the command line.

Verbs: ``search`` (launch a config with nnictl, follow it, print the top architectures, export the best),
``check`` (validate configs), ``space`` (print a space's choices), ``trial`` (train one architecture),
``register`` / ``unregister`` (make ``tuner: {name: NasEvolution}`` work the NNI way), ``top``,
``export``, ``report``, ``stop``, ``resume`` and ``completion`` (a bash or zsh completion script). User errors print
one line without a traceback and exit non-zero.

Building the parser imports no torch, nni, numpy, Lightning or matplotlib: each verb's module adds its arguments
with the standard library only and imports what it needs inside ``run``, so ``--help`` answers at once
(``tests/nni_nas/test_cli.py`` guards this; ``benchmarks/cli_startup.py`` measures it).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from nni_nas import __version__  # also filters NNI's import warning before anything imports NNI

# verb -> module providing add_arguments(parser) and run(args) -> int
VERBS = {
    "search": "nni_nas.commands.search",
    "check": "nni_nas.commands.check",
    "space": "nni_nas.commands.space",
    "trial": "nni_nas.commands.trial",
    "register": "nni_nas.commands.register",
    "unregister": "nni_nas.commands.register",
    "top": "nni_nas.commands.top",
    "export": "nni_nas.commands.export",
    "report": "nni_nas.commands.report",
    "completion": "nni_nas.commands.completion",
    "schema": "nni_nas.commands.schema",
    "stop": "nni_nas.commands.stop",
    "resume": "nni_nas.commands.resume",
}

HELP = {
    "search": "run a search with nnictl, follow it in the terminal, print the top architectures, export the best",
    "check": "validate configs: NNI's schema and every NAS field",
    "space": "list the registered spaces, or print one space's labels, choices and size",
    "trial": "train one architecture outside nnictl (debugging)",
    "register": "register the nni-nas tuners with NNI (tuner: {name: NasEvolution})",
    "unregister": "remove the nni-nas tuners from NNI's registered algorithms",
    "top": "print the best architectures of an experiment",
    "export": "export the top architectures of an experiment to plain PyTorch",
    "report": "table and plots of one or more experiments",
    "completion": "print a shell completion script (bash or zsh)",
    "schema": "print the JSON Schema of the NAS part of a config (tuner.classArgs), for editors",
    "stop": "stop experiments by id (nnictl stop, without its warnings)",
    "resume": "resume a stopped or interrupted search (nnictl resume, portal on 127.0.0.1) and follow it",
}


def build_parser() -> argparse.ArgumentParser:
    """The whole ``nni-nas`` parser; imports only the verbs' light argument modules."""
    parser = argparse.ArgumentParser(prog="nni-nas", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"nni-nas {__version__}")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb, module_name in VERBS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name != module_name:
                raise
            continue  # a verb whose module is not installed in this version
        verb_parser = sub.add_parser(verb, help=HELP[verb], description=HELP[verb])
        module.add_arguments(verb_parser) if verb != "unregister" else module.add_unregister_arguments(verb_parser)
        verb_parser.set_defaults(handler=module.run if verb != "unregister" else module.run_unregister)
    return parser


def main(argv: list[str] | None = None) -> int:
    from nni_nas.errors import NasError, one_line

    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (NasError, OSError) as err:  # a user's mistake, or a file that cannot be read or written
        print(f"nni-nas {args.verb}: error: {one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nni-nas {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
