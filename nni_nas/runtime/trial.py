"""The trial entry point that ``nnictl`` runs: ``python -m nni_nas.trial --config CONFIG``.

Under NNI it asks the tuner for an architecture, builds a **fresh** space, freezes it with that dict, trains
it, reports one intermediate result per epoch and one final dict, and saves ``arch.json``, ``model.pt``
(state_dict), ``metrics.json`` and ``settings.json`` in the trial's output folder for export.

Outside NNI the same command trains one given architecture, for debugging::

    python -m nni_nas.trial --config configs/digits_evolution.yml --arch '{"width": 32, ...}' --out runs/debug
    python -m nni_nas.trial --config configs/digits_evolution.yml --arch random
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import nni_nas  # noqa: F401  (filters NNI's import warning before nni is imported)
from nni_nas.runtime.ranks import RUN_PARAMS_ENV, is_secondary_process
from nni_nas.runtime.trial_files import ERROR_FILE

# Nothing heavy is imported at module level: under nnictl this process is a thin client of the warm worker
# (:mod:`nni_nas.runtime.worker`), which has torch and Lightning imported already.


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m nni_nas.trial", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="the experiment config (its tuner.classArgs)")
    parser.add_argument("--arch", help="outside NNI: an arch as JSON, a path to a JSON file, or 'random'")
    parser.add_argument("--out", help="output folder (default: NNI's trial folder, or runs/trial-<time>)")
    parser.add_argument("--epochs", type=int, help="override train.epochs (debugging)")
    parser.add_argument("--no-worker", action="store_true",
                        help="under nnictl, run in this process instead of the warm worker (slower start)")
    return parser.parse_args(argv)


def under_nni() -> bool:
    """True when nnictl started this process (NNI sets NNI_PLATFORM for trials)."""
    return os.environ.get("NNI_PLATFORM") not in (None, "", "unittest")


def output_dir(requested: str | None) -> Path:
    if requested:
        return Path(requested)
    if os.environ.get("NNI_OUTPUT_DIR"):
        return Path(os.environ["NNI_OUTPUT_DIR"])
    return Path("runs") / time.strftime("trial-%Y%m%d-%H%M%S")


def requested_arch(text: str | None, choices: dict[str, list[Any]], seed: int) -> dict[str, Any]:
    """The architecture given on the command line (JSON text, a JSON file or ``random``)."""
    from nni_nas.config import ConfigError

    if text is None:
        raise ConfigError("outside NNI, pass --arch (JSON, a .json file or 'random'); `nni-nas space` lists labels")
    if text == "random":
        rng = random.Random(seed)
        return {label: rng.choice(values) for label, values in choices.items()}
    if not text.lstrip().startswith("{"):  # a path (a JSON object longer than a file name is not one)
        path = Path(text)
        if not path.is_file():
            raise ConfigError(f"--arch {text!r} is neither a JSON object, a file nor 'random'")
        text = path.read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"--arch is neither a JSON object nor a file: {err}") from None


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run one trial; return its final result dict."""
    import dataclasses

    from nni_nas.runtime.cpu_share import share_line, trial_threads, use_threads

    settings, raw = experiment_config(args.config)
    threads = trial_threads(settings.train.threads, raw)
    use_threads(threads)  # before torch is imported here (a trial outside the warm worker)
    say_threads = lambda: print(share_line(threads, settings.train.threads, raw), file=sys.stderr)  # noqa: E731

    import pytorch_lightning as pl
    import torch

    import nni_nas.components as components
    import strategies
    from nni_nas import arch as arch_utils
    from nni_nas.constraints import check_before_training
    from nni_nas.errors import ConfigError
    from nni_nas.evaluation.modules import build_module
    from nni_nas.evaluation.nni_reporter import next_parameters, readable_result, report_final
    from nni_nas.evaluation.training import train_and_evaluate
    from nni_nas.runtime.trial_files import clear_previous_run, save_trial_files

    if under_nni():  # NNI starts a trial in its code folder (on a remote machine, the uploaded copy)
        settings.code_dir = Path.cwd()
    if args.epochs is not None:
        settings.train = dataclasses.replace(settings.train, epochs=args.epochs)
    out_dir = output_dir(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    removed = [] if is_secondary_process() else clear_previous_run(out_dir)
    if removed:
        print(f"nni-nas trial: a re-run of this trial: removed {', '.join(removed)} of the earlier run",
              file=sys.stderr)
    params = run_parameters(settings, next_parameters)
    pl.seed_everything(settings.train.seed, workers=True, verbose=False)

    tuner_cls = strategies.resolve_class_path(settings.tuner_class)
    if settings.train.devices > 1 and not getattr(tuner_cls, "one_shot", False):
        raise ConfigError(multi_trial_devices_problem(settings.train.devices))
    if getattr(tuner_cls, "one_shot", False):
        _check_space_support(tuner_cls, settings)
        say_threads()
        result = tuner_cls.run_trial(settings, params, out_dir, progress_bar=not under_nni())
        report_final(result)
        return result
    if settings.evaluator.get("kind") == "benchmark":  # look the arch up in a tabular benchmark, no training
        from nni_nas.evaluation.tabular import run_benchmark_trial

        arch = params
        if arch is None:
            space = components.build_space(settings)
            arch = requested_arch(args.arch, arch_utils.search_choices(space), settings.train.seed)
        arch, _ = trial_fidelity(arch)  # a table holds one fidelity (hyperband refuses a benchmark evaluator)
        result = run_benchmark_trial(settings, arch)
        save_trial_files(out_dir, arch=arch, result=result)
        report_final(result)
        return result

    bundle = components.load_bundle(settings)
    factory = components.space_factory(settings, (bundle.input_shape, bundle.num_classes))
    space = factory()
    choices = arch_utils.search_choices(space)
    arch = params if params is not None else requested_arch(args.arch, choices, settings.train.seed)
    arch, fidelity = trial_fidelity(arch)
    if fidelity:  # a multi-fidelity tuner (hyperband) says how many epochs this trial trains
        settings.train = dataclasses.replace(settings.train, epochs=fidelity["epochs"])
    if isinstance(arch, dict):  # the tuner leaves out labels the network does not use (op3 of a depth-2 network)
        arch = arch_utils.canonical(space, choices, arch)
    arch = arch_utils.validate_arch(choices, arch)
    save_trial_files(out_dir, arch=arch_utils.active_arch(space, arch), settings=settings,
                     input_shape=bundle.input_shape, num_classes=bundle.num_classes,
                     preprocessing=bundle.preprocessing)
    model = arch_utils.freeze(factory, arch)
    rejected, judged = check_before_training(model, bundle.input_shape, settings)
    if rejected is not None:  # over budget: nothing is trained; the tuner records it as infeasible
        print(f"nni-nas trial: over budget ({'; '.join(rejected['violations'])}): not trained", file=sys.stderr)
        save_trial_files(out_dir, result=rejected)
        report_final(rejected)
        return rejected
    module = build_module(settings, model, bundle.num_classes)
    say_threads()
    result, _ = train_and_evaluate(model, bundle, settings.train, out_dir, progress_bar=not under_nni(),
                                   module=module, monitor=settings.monitor_name)
    result = {**result, **fidelity}  # the final dict notes the epochs and the rung it was trained at
    result["train_threads"] = torch.get_num_threads()  # what training used (the final dict records it)
    if "latency_ms" in judged:  # the figure max_latency_ms was judged on (same method, before training)
        result = readable_result({**result, "latency_ms": judged["latency_ms"]})
    save_trial_files(out_dir, model=model, result=result)
    report_final(result)
    return result


def trial_fidelity(params: Any) -> tuple[Any, dict[str, int]]:
    """This trial's architecture and fidelity: a multi-fidelity tuner (:mod:`strategies.hyperband`) adds
    ``_epochs`` and ``_rung`` to the parameters; they come back as ``{"epochs": 9, "rung": 2}`` (empty otherwise)."""
    from nni_nas.arch import EPOCHS_KEY, RUNG_KEY, split_fidelity
    from nni_nas.config import ConfigError, is_int

    if not isinstance(params, dict):
        return params, {}
    arch, fidelity = split_fidelity(params)
    if not fidelity:
        return arch, {}
    epochs, rung = fidelity.get(EPOCHS_KEY), fidelity.get(RUNG_KEY, 0)
    if not is_int(epochs, 1) or not is_int(rung, 0):
        raise ConfigError(f"this trial's parameters set {EPOCHS_KEY}={epochs!r}, {RUNG_KEY}={rung!r}: a "
                          "multi-fidelity tuner must give an integer number of epochs >= 1 and a rung >= 0")
    return arch, {"epochs": epochs, "rung": rung}


def run_parameters(settings: Any, ask_nni: Any) -> dict[str, Any] | None:
    """This trial's parameters: NNI's (rank 0 under nnictl), none outside NNI. A DDP rank other than 0 must not
    ask NNI, whose local service would hand it the next trial's parameters: rank 0 passes its own in the
    environment that Lightning's launch copies."""
    if is_secondary_process():
        return json.loads(os.environ.get(RUN_PARAMS_ENV, "null"))
    params = ask_nni() if under_nni() else None
    if settings.train.devices > 1:
        os.environ[RUN_PARAMS_ENV] = json.dumps(params)
    return params


def multi_trial_devices_problem(devices: int) -> str:
    """Why a multi-trial strategy cannot train on several devices, and the fix (``check`` and the trial say it)."""
    return (f"tuner.classArgs.train.devices: {devices} devices (train.strategy: ddp) train a one-shot supernet only "
            "(DARTS, ENAS); a multi-trial strategy trains each architecture on one device: set train.devices: 1 "
            "and spread trials over devices with trialConcurrency (and trialGpuNumber on GPUs)")


def wants_several_processes(config: str) -> bool:
    """The config at ``config`` trains on several processes (``train.devices`` > 1): Lightning's DDP launch re-runs
    this trial's command line, which a fork of the warm worker does not have (it would start the worker's), so
    such a trial runs in its own process. False when the file cannot be read (the trial then names the problem)."""
    from nni_nas.config import load_settings
    from nni_nas.errors import NasError

    try:
        return load_settings(config).train.devices > 1
    except (NasError, OSError):
        return False


def experiment_settings(config: str) -> Any:
    """The settings this trial trains with (:func:`experiment_config`)."""
    return experiment_config(config)[0]


def experiment_config(config: str) -> tuple[Any, dict[str, Any]]:
    """The settings this trial trains with, and the whole NNI config they come from. Outside NNI: the config file.
    Under NNI: the config NNI stored when the experiment was created (``nnictl resume`` uses it too), so that
    editing, moving or deleting the file during a search changes nothing; a file that differs from it is reported,
    not used."""
    from nni_nas.config import load_settings, read_yaml, settings_of
    from nni_nas.errors import NasError
    from nni_nas.manager.client import stored_experiment_config

    if not under_nni():
        return load_settings(config), read_yaml(Path(config))
    try:
        raw = stored_experiment_config()
    except (OSError, ValueError, LookupError) as err:
        print(f"nni-nas trial: warning: could not read the experiment's stored config from the NNI manager ({err}); "
              f"training with the file {config} as it is now", file=sys.stderr)
        return load_settings(config), read_yaml(Path(config))
    stored = settings_of(raw, config)  # a mistake in it is the user's: one line (nnictl runs no check)
    try:
        on_disk = load_settings(config).class_args()
    except NasError as err:
        on_disk = str(err)
    if on_disk != stored.class_args():
        print(f"nni-nas trial: warning: {config} is not what the experiment was created with "
              f"({'it changed since' if isinstance(on_disk, dict) else on_disk}); training with the stored config, as "
              "the portal shows it", file=sys.stderr)
    return stored, raw


def _check_space_support(tuner_cls: type, settings) -> None:
    """The one-line refusal ``nni-nas check`` gives, for a trial started without the check (nnictl runs none)."""
    import nni_nas.components as components
    from nni_nas.errors import UnsupportedSpaceError

    reason = tuner_cls.settings_problem(settings) or tuner_cls.space_problem(components.build_space(settings))
    if reason:
        raise UnsupportedSpaceError(reason)


def main(argv: list[str] | None = None, use_worker: bool = True) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if use_worker and under_nni() and not args.no_worker and not is_secondary_process() \
            and not wants_several_processes(args.config):
        from nni_nas.runtime.worker_client import run_via_worker

        code = run_via_worker(argv)
        if code is not None:
            return code
    from nni_nas.errors import NasError, one_line
    from nni_nas.runtime.ranks import SecondaryRankDone

    if under_nni() and not is_secondary_process():
        _name_the_stop(args)
    try:
        result = run(args)
    except SecondaryRankDone:  # a DDP rank other than 0: its share of the supernet is trained; rank 0 goes on
        return 0
    except (KeyboardInterrupt, SystemExit):  # Lightning turns the interrupt into exit(1) after its own clean-up
        if not _stopped_by_nni:
            raise
        from nni_nas.runtime.trial_stop import die_by_sigint

        die_by_sigint()  # the cause is recorded already (_name_the_stop); NNI records the trial as cancelled
    except (NasError, OSError) as err:  # a user's mistake, or a file that cannot be read or written
        message = _interruption(args, err) or one_line(err)
        _record_error(args, message)
        print(f"nni-nas trial: error: {message}", file=sys.stderr)
        return 2
    except Exception as err:  # an unexpected bug: keep the traceback in the trial log
        interrupted = _interruption(args, err)
        if interrupted:  # torch.save says a full disk as a RuntimeError ("unexpected pos ...")
            _record_error(args, interrupted)
            print(f"nni-nas trial: error: {interrupted}", file=sys.stderr)
            return 2
        _record_error(args, f"{type(err).__name__}: {err}\n{traceback.format_exc()}")
        raise
    print(json.dumps(result))
    return 0


_stopped_by_nni = False  # set by _name_the_stop's handler


def _name_the_stop(args: argparse.Namespace) -> None:
    """NNI stops a trial with SIGINT (maxTrialDuration, a cancel): record the cause in one line before the
    interrupt unwinds the training (Lightning catches it, stops its DDP ranks and calls ``exit(1)``)."""
    import signal

    def on_sigint(*_: object) -> None:
        global _stopped_by_nni
        from nni_nas.runtime.trial_stop import record_stop

        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second interrupt interrupts the recording
        _stopped_by_nni = True
        record_stop(output_dir(args.out))
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread (a notebook's worker thread): nothing to name
        signal.signal(signal.SIGINT, on_sigint)


def _interruption(args: argparse.Namespace, err: BaseException) -> str | None:
    """Under NNI, the one line for a trial interrupted by a full disk or a lost manager
    (:mod:`nni_nas.runtime.interruptions`): ``err`` says so, or the output folder's disk has no room left whatever
    ``err`` says."""
    if not under_nni():
        return None
    from nni_nas.disk import disk_problem
    from nni_nas.runtime.interruptions import PREFIX, interruption_line

    line = interruption_line(err)
    if line is None and disk_problem(output_dir(args.out), need=64 * 1024):
        line = interruption_line(OSError(28, f"No space left on device ({type(err).__name__}: {str(err)[:120]})"))
    return line if line and line.startswith(PREFIX) else None


def _record_error(args: argparse.Namespace, message: str) -> None:
    try:
        out = output_dir(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / ERROR_FILE).write_text(message + "\n")
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
