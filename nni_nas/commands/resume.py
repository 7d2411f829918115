"""``nni-nas resume EXPERIMENT_ID``: continue a search whose manager was stopped, killed or lost to a full disk,
and follow it as ``search`` does (progress, top table, export of the best).

It is ``nnictl resume ID --port PORT`` (on the experiment's own port unless ``--port`` says otherwise) with what
plain nnictl lacks: the web portal on 127.0.0.1 only (nni-nas's manager preloads,
:func:`nni_nas.manager.nnictl.nni_env`; plain ``nnictl resume`` listens on every interface), a patient manager start,
the disk probed first. NNI 3.0 runs the trials that were RUNNING when the manager went away again, under their own ids.
A trial that NNI recorded as FAILED because it was interrupted (its manager lost, a full disk:
:mod:`nni_nas.runtime.interruptions`) is not lost either: the budget grows by one trial for each, and the tuner hands
out its architecture again.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nni_nas.commands.search import add_follow_arguments

    parser.add_argument("experiment_id", metavar="EXPERIMENT_ID", help="the experiment to resume")
    parser.add_argument("--port", type=int, help="web portal port (default: the experiment's own)")
    add_follow_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from nni_nas.commands.search import follow_to_the_end, port_in_use, port_taken_message, tool_command
    from nni_nas.errors import NasError
    from nni_nas.manager.nnictl import nni_env, process_alive, resume_experiment
    from nni_nas.results.records import experiment_status, load_experiment

    record = load_experiment(args.experiment_id, fetch_remote=False)  # an unknown id or damaged records: one line
    meta = experiment_status(args.experiment_id) or {}
    pid = meta.get("pid")
    if meta.get("status") not in ("STOPPED", "DONE", "ERROR", None) and isinstance(pid, int) and process_alive(pid):
        raise NasError(f"experiment {args.experiment_id} is running (its manager, pid {pid}, serves "
                       f"http://127.0.0.1:{meta.get('port')}); stop it first with: {tool_command('nni-nas')} stop "
                       f"{args.experiment_id}")
    args.port = args.port or meta.get("port") or 8080
    if port_in_use(args.port):
        raise NasError(port_taken_message(args.port))
    service = record.config.get("trainingService")
    if isinstance(service, dict) and service.get("platform") == "remote":
        raise NasError(f"experiment {args.experiment_id} runs trials on remote machines: resume it with nnictl "
                       f"resume {args.experiment_id} and NODE_OPTIONS as docs/portal.md shows (nni-nas resume "
                       "handles local searches)")
    interrupted = interrupted_trials(record)
    if args.listen_all:
        from nni_nas.commands.search import warn_listen_all

        warn_listen_all(args.port)
    ended = resume_experiment(args.experiment_id, args.port, env=nni_env(listen_all=args.listen_all))
    if ended:
        print(f"ended {len(ended)} process(es) left by the earlier manager of {args.experiment_id} (its tuner, "
              f"trials or warm worker: pids {' '.join(map(str, ended))}), which would have joined the resumed one",
              file=sys.stderr)
    budget = record.config.get("maxTrialNumber")
    if interrupted and isinstance(budget, int):
        _raise_budget(args.experiment_id, budget + len(interrupted))
    finished = sum(t.status == "SUCCEEDED" for t in record.trials)
    again = f"; {len(interrupted)} interrupted trial(s) run again" if interrupted else ""
    print(f"experiment {args.experiment_id} resumed ({finished} finished trial(s) kept{again}); web portal: "
          f"http://127.0.0.1:{args.port}", flush=True)
    return follow_to_the_end(args.experiment_id, args)


def interrupted_trials(record) -> list:
    """The trials NNI recorded as FAILED that were interrupted (:func:`nni_nas.runtime.interruptions.is_interrupted`)
    and whose architecture no later trial has run: each is run again on resume."""
    from nni_nas.arch import arch_key
    from nni_nas.results.failures import first_error_line
    from nni_nas.runtime.interruptions import is_interrupted

    found = []
    for index, trial in enumerate(record.trials):
        if trial.status != "FAILED" or not is_interrupted(first_error_line(trial.trial_dir, stderr=False)):
            continue
        key = arch_key(trial.parameters)
        if not any(arch_key(later.parameters) == key for later in record.trials[index + 1:]):
            found.append(trial)
    return found


def _raise_budget(experiment_id: str, total: int) -> None:
    from nni_nas.tasks.project import _nnictl

    _nnictl("update", "trialnum", experiment_id, "--value", str(total))
