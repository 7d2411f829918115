"""``nni-nas export EXPERIMENT_ID``: the best architectures of an experiment as plain PyTorch
(:mod:`nni_nas.export`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nni_nas.commands import add_pareto_arguments, count, pareto_choice
from nni_nas.errors import NasError
from nni_nas.export.layout import EXPORT_FORMATS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment_id", help="NNI experiment id (nnictl experiment list --all)")
    parser.add_argument("--top", type=count, default=1, help="how many of the best architectures (default 1)")
    parser.add_argument("--out", help="output folder (default exported/<experiment id>)")
    parser.add_argument("--format", action="append", metavar="NAME",
                        help=f"formats to write, comma-separated or repeated: {', '.join(EXPORT_FORMATS)} "
                             "(default all); arch.json, metrics.json and README.md are always written")
    parser.add_argument("--trial", help="export this trial (by id) instead of the top ones")
    parser.add_argument("--force", action="store_true",
                        help="rewrite output folders that already exist (default: keep them and export the rest)")
    add_pareto_arguments(parser, "export every architecture of the Pareto front (each into its trial-<id> folder) "
                                 "instead of the top ones")


def run(args: argparse.Namespace) -> int:
    from nni_nas.export import export_trials
    from nni_nas.export.ranking import RANKING_MD, earlier_layout_folders

    formats = parse_formats(args.format)
    pareto = pareto_choice(args)
    if pareto and args.trial:
        raise NasError("--pareto exports the whole front and --trial one trial; give one of them")
    out = Path(args.out) if args.out else Path("exported") / args.experiment_id
    results = export_trials(args.experiment_id, top=args.top, out=out, force=args.force, formats=formats,
                            trial=args.trial, pareto=pareto)
    for result in results:
        where = f"rank {result.rank}" if result.rank is not None else "front" if args.pareto else "trial"
        if result.kept:
            print(f"{where} {result.trial_id}: {result.folder} already exists, kept as it is (--force rewrites it)")
            continue
        print(f"{where} {result.trial_id} -> {result.folder} ({', '.join(result.files)})")
        if result.max_abs_diff:
            worst = max(result.max_abs_diff.values())
            print(f"    every format reproduces the trained network (max |logit difference| {worst:.2g})")
    print(f"ranking of the trials exported there: {out / RANKING_MD} (rewritten at each export)")
    earlier = earlier_layout_folders(out)
    if earlier:
        names = ", ".join(p.name for p in earlier)
        print(f"{out} also holds {len(earlier)} folder(s) an earlier nni-nas named by rank ({names}), left as they "
              "are; the rank in their names may be out of date: delete them when you no longer need them")
    missing = [r for r in results if r.weights_missing]
    for result in missing:
        print(f"nni-nas export: error: trial {result.trial_id} has no trained weights ({result.weights_missing}); "
              f"exported its architecture only, to {result.folder}", file=sys.stderr)
    return 1 if missing else 0


def parse_formats(values: list[str] | None) -> tuple[str, ...]:
    """``--format`` values (repeated or comma-separated) as format names; all formats when none is given."""
    if not values:
        return tuple(EXPORT_FORMATS)
    names = [name.strip().lower() for value in values for name in value.split(",") if name.strip()]
    aliases = {"py": "source", "pt": "weights", "ts": "torchscript", "model.py": "source", "weights.pt": "weights",
               "model.ts": "torchscript", "model.onnx": "onnx", "pt2": "torch_export", "model.pt2": "torch_export",
               "torch.export": "torch_export"}
    names = [aliases.get(name, name) for name in names]
    unknown = [name for name in names if name not in EXPORT_FORMATS]
    if unknown:
        raise NasError(f"unknown --format {', '.join(unknown)}; choose from {', '.join(EXPORT_FORMATS)}")
    return tuple(name for name in EXPORT_FORMATS if name in names)
