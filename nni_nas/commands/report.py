"""``nni-nas report EXPERIMENT_ID [EXPERIMENT_ID ...]``: the top-k table and plots of searches
(:mod:`nni_nas.results.report`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from nni_nas.commands import count
from nni_nas.errors import NasError
from nni_nas.results.report import REPORT_FOLDER


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment_ids", nargs="+", metavar="EXPERIMENT_ID",
                        help="one or more NNI experiment ids (several: their strategies are compared)")
    parser.add_argument("--top", type=count, default=5, help="rows of each table (default 5)")
    parser.add_argument("--out", help=f"folder for the plots (default <first experiment>/{REPORT_FOLDER})")
    parser.add_argument("--metric", default="default",
                        help="final-result key to rank and plot (default: default, the validation accuracy)")


def run(args: argparse.Namespace) -> int:
    from nni_nas.results.records import load_experiment
    from nni_nas.results.report import default_folder, report_text, save_plots, succeeded_with

    records = [load_experiment(experiment_id) for experiment_id in dict.fromkeys(args.experiment_ids)]
    if not any(succeeded_with(record, args.metric) for record in records):
        ids = ", ".join(r.experiment_id for r in records)
        reported = sorted({key for r in records for t in r.succeeded() for key in (t.final or {})})
        if reported:
            raise NasError(f"no succeeded trial of {ids} reports {args.metric!r}; their final results have: "
                           f"{', '.join(reported)}")
        print(report_text(records, args.top, args.metric))
        raise NasError(f"no succeeded trial with a final {args.metric!r} in {ids} yet; nothing to plot "
                       "(run the report again once trials finish)")
    print(report_text(records, args.top, args.metric))
    out = Path(args.out) if args.out else default_folder(records)
    for path in save_plots(records, out, args.metric):
        print(f"saved {path}")
    _label_importance(records, out, args.metric)
    return 0


def _label_importance(records, out: Path, metric: str) -> None:
    """Which labels' choices matter most, over the experiments of the first one's space (a text line and a plot)."""
    from nni_nas.results.importance import importance_text, save_importance_plot
    from nni_nas.results.report import metric_label

    same_space = [r for r in records if r.class_args.get("space") == records[0].class_args.get("space")]
    path, importances = save_importance_plot(same_space, out, metric, metric_label(metric))
    print(importance_text(importances, records[0].optimize_mode == "maximize"))
    if path is not None:
        print(f"saved {path}")
