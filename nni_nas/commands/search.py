"""``nni-nas search CONFIG``: the main job. Check the config, start it with the real ``nnictl create``,
follow it in the terminal while the web portal shows every trial, then print the top architectures and
export the best one to plain PyTorch."""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path

from nni_nas.commands import count


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="experiment config, e.g. configs/digits_evolution.yml")
    parser.add_argument("--port", type=int, default=8080, help="web portal port (default 8080)")
    parser.add_argument("--timeout", type=float, default=3 * 3600, help="seconds to wait for the search")
    parser.add_argument("--top", type=count, default=5, help="rows of the final table")
    parser.add_argument("--export-dir", default="exported", help="where the best model is exported")
    parser.add_argument("--no-export", action="store_true", help="skip exporting the best model")
    parser.add_argument("--stop", action="store_true", help="stop the experiment (and its portal) at the end")
    parser.add_argument("--listen-all", action="store_true",
                        help="let the web portal listen on every network interface (default: 127.0.0.1 only); its "
                             "REST API has no authentication, so anyone who can reach the port can read and delete "
                             "trials")


def run(args: argparse.Namespace) -> int:
    from nni_nas.checks import check_config
    from nni_nas.errors import NasError
    from nni_nas.nnictl import create_experiment, nni_env, stop_experiment, wait_until_finished
    from nni_nas.results.records import load_experiment
    from nni_nas.results.tables import top_table

    found = check_config(args.config)
    for warning in [p for p in found if p.startswith("warning: ")]:
        print(warning, file=sys.stderr)
    problems = [p for p in found if not p.startswith("warning: ")]
    if problems:
        raise NasError(f"{args.config} has {len(problems)} problem(s): " + " | ".join(problems))
    if _port_in_use(args.port):
        raise NasError(f"port {args.port} is already in use (another experiment?); pass --port with a free port")
    if args.listen_all:
        print(f"warning: the web portal will listen on every network interface (port {args.port}); anyone who can "
              "reach it can read every trial's files and delete trials (NNI's REST API has no authentication)",
              file=sys.stderr)
    experiment_id = create_experiment(Path(args.config), args.port, env=nni_env(listen_all=args.listen_all))
    print(f"experiment {experiment_id} started; web portal: http://127.0.0.1:{args.port}", flush=True)
    progress = _Progress(args.port)
    try:
        status = wait_until_finished(args.port, args.timeout, poll=3.0, on_poll=progress)
    except KeyboardInterrupt:
        print(f"\nthe search goes on in NNI; follow it at http://127.0.0.1:{args.port}, "
              f"stop it with: nnictl stop {experiment_id}")
        raise
    print(f"experiment {experiment_id} finished: {status.get('status')}")
    record = load_experiment(experiment_id)
    print(top_table(record, args.top))
    if not args.no_export and record.ranked():
        from nni_nas.export import export_trials

        best = export_trials(experiment_id, top=1, out=Path(args.export_dir) / experiment_id, force=True)[0]
        if best.weights_missing:
            print(f"warning: the best trial {best.trial_id} saved no weights ({best.weights_missing}); "
                  f"its architecture only is exported to {best.folder}", file=sys.stderr)
        else:
            print(f"best model exported to {best.folder} (plain PyTorch: see its README.md)")
    if args.stop:
        stop_experiment(experiment_id)
        print(f"experiment {experiment_id} stopped")
    else:
        print(f"the web portal stays up at http://127.0.0.1:{args.port}; stop it with: nnictl stop {experiment_id}")
    return 0 if record.ranked() else 1


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class _Progress:
    """Print a line whenever the trial counts or the best result change."""

    def __init__(self, port: int):
        self.port = port
        self.last = ""
        self.start = time.monotonic()

    def __call__(self, status: dict) -> None:
        from nni_nas.nnictl import trial_jobs
        from nni_nas.results.records import status_summary

        try:
            jobs = trial_jobs(self.port)
        except OSError:
            return
        best = None
        for job in jobs:
            for final in job["final"]:
                value = final.get("default") if isinstance(final, dict) else final
                if value is not None and (best is None or value > best):
                    best = value
        summary = status_summary((job["status"] for job in jobs), empty="starting")
        line = f"[{time.monotonic() - self.start:6.0f}s] trials: {summary}"
        if best is not None:
            line += f"; best val_acc {best:.4f}"
        if line.split("] ", 1)[1] != self.last:
            self.last = line.split("] ", 1)[1]
            print(line, flush=True)
