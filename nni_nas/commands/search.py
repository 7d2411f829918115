"""``nni-nas search CONFIG``: the main job. Check the config, start it with the real ``nnictl create``,
follow it in the terminal while the web portal shows every trial, then print the top architectures and
export the best one to plain PyTorch."""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

from nni_nas.commands import count
from nni_nas.manager.nnictl import tool_command  # noqa: E402,F401  (kept importable from here)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="experiment config, e.g. configs/digits_evolution.yml")
    parser.add_argument("--port", type=int, default=8080, help="web portal port (default 8080)")
    add_follow_arguments(parser)


def add_follow_arguments(parser: argparse.ArgumentParser) -> None:
    """What ``search`` and ``resume`` share: how long to follow, what to print, export and stop at the end."""
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
    from nni_nas.manager.nnictl import create_experiment, nni_env

    found = check_config(args.config)
    for warning in [p for p in found if p.startswith("warning: ")]:
        print(warning, file=sys.stderr)
    problems = [p for p in found if not p.startswith("warning: ")]
    if problems:
        raise NasError(f"{args.config} has {len(problems)} problem(s): " + " | ".join(problems))
    if port_in_use(args.port):
        raise NasError(port_taken_message(args.port))
    if args.listen_all:
        warn_listen_all(args.port)
    experiment_id = create_experiment(Path(args.config), args.port, env=nni_env(listen_all=args.listen_all))
    print(f"experiment {experiment_id} started; web portal: http://127.0.0.1:{args.port}", flush=True)
    return follow_to_the_end(experiment_id, args)


def follow_to_the_end(experiment_id: str, args: argparse.Namespace) -> int:
    """Follow the running experiment on ``args.port`` until it ends, then print the top table, export the best
    (unless ``args.no_export``) and stop it (``args.stop``); 0 when a trial is ranked, else 1 (``search`` and
    ``resume``)."""
    from nni_nas.errors import DiskFullError, ManagerLostError
    from nni_nas.manager.nnictl import stop_experiment
    from nni_nas.results.records import load_experiment
    from nni_nas.results.tables import top_table, unranked_note

    try:
        status = follow(args.port, args.timeout)
    except DiskFullError:
        stop_experiment(experiment_id)  # its manager, trials and warm worker: nothing more can be recorded
        raise
    except ManagerLostError as err:
        if err.died and err.folder is not None:  # its tuner would join a resumed manager (nni_nas.manager.orphans); its
            from nni_nas.manager.orphans import end_leftovers  # trials and worker end at their next call to the manager

            end_leftovers(experiment_id, err.folder, grace=0.0, tuner_only=True)
        raise
    except KeyboardInterrupt:
        print(f"\nthe search goes on in NNI; follow it at http://127.0.0.1:{args.port}, "
              f"stop it with: {tool_command('nni-nas')} stop {experiment_id}")
        raise
    print(f"experiment {experiment_id} finished: {status.get('status')}")
    record = load_experiment(experiment_id)
    print(top_table(record, args.top))
    note = unranked_note(record)
    if note:
        print(note)
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
        print(f"the web portal stays up at http://127.0.0.1:{args.port}; stop it with: {tool_command('nni-nas')} stop "
              f"{experiment_id}")
    return 0 if record.ranked() else 1


def port_taken_message(port: int) -> str:
    """Why ``port`` cannot serve the portal: the NNI experiment that holds it (asked through its REST API), and the
    two ways to pick another port."""
    from http.client import HTTPException

    from nni_nas.manager.nnictl import rest_get

    try:
        holder = rest_get(port, "experiment", timeout=3.0).get("id")
    except (OSError, HTTPException, ValueError, AttributeError):
        holder = None
    who = (f"NNI experiment {holder} holds it (stop it with: {tool_command('nni-nas')} stop {holder})" if holder
           else "a program that is not an NNI manager holds it")
    return (f"port {port} is already in use: {who}; pass --port with a free port (the quick start: PORT=8090 bash "
            "scripts/quickstart.sh)")


def warn_listen_all(port: int) -> None:
    print(f"warning: the web portal will listen on every network interface (port {port}); anyone who can "
          "reach it can read every trial's files and delete trials (NNI's REST API has no authentication)",
          file=sys.stderr)


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def follow(port: int, timeout: float, poll: float = 3.0, stream=None) -> dict:
    """Follow the experiment on ``port`` until it ends, drawing :class:`nni_nas.progress.SearchProgress`; return
    the manager's last status. A dead manager is :class:`nni_nas.errors.ManagerLostError` (within
    :data:`nni_nas.manager.nnictl.MANAGER_LOST_AFTER_S`); a trial that failed on a disk with no room left, or the
    manager's own ``SQLITE_FULL``, is :class:`nni_nas.errors.DiskFullError`."""
    from nni_nas.disk import disk_problem
    from nni_nas.manager.nnictl import ManagerWatch, rest_get, trial_jobs, wait_until_finished
    from nni_nas.progress import SearchProgress

    try:
        profile = rest_get(port, "experiment")
    except (OSError, ValueError):
        profile = {}
    params = profile.get("params") or {}
    class_args = (params.get("tuner") or {}).get("classArgs") or {}
    metric = (class_args.get("evaluator") or {}).get("metric") if isinstance(class_args.get("evaluator"), dict) \
        else None
    from nni_nas.config import DEFAULT_MONITOR, optimize_mode_of

    module = class_args.get("module") or "classification"
    progress = SearchProgress(params.get("maxTrialNumber"), stream=stream,
                              maximize=optimize_mode_of(class_args) != "minimize",
                              label=metric or class_args.get("monitor") or DEFAULT_MONITOR.get(module, "val_acc"))
    watch = ManagerWatch(port)
    root = Path(profile["logDir"]).parent if profile.get("logDir") else None
    failed: set[str] = set()

    def on_poll(_status: dict) -> None:
        try:
            jobs = trial_jobs(port)
        except OSError:  # the manager is briefly unreachable: keep the last drawing (the watch judges it)
            return
        progress.update(jobs)
        newly_failed = {job["trialJobId"] for job in jobs if job.get("status") == "FAILED"} - failed
        failed.update(newly_failed)
        if newly_failed and root is not None:  # a trial that failed for want of room: every next one would too
            problem = disk_problem(root)
            if problem:
                raise watch.disk_full(f"trial {', '.join(sorted(newly_failed))} failed with no room left")

    try:
        return wait_until_finished(port, timeout, poll=poll, on_poll=on_poll, watch=watch)
    finally:
        progress.close()
