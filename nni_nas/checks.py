"""``nni-nas check``: validate a config against NNI's own schema and every NAS field before anything starts.

``nnictl create`` lets some mistakes through (measured: an unknown tuner name exits 0 and the manager fails
ten seconds later); this check names each one up front.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import traceback
from pathlib import Path
from typing import Any

from nni_nas.assessor_check import assessor_problems
from nni_nas.config import (
    NasSettings,
    keyword_problems,
    read_yaml,
    resolve_trial_dir,
    trial_config_argument,
    tuner_class_path,
    tuner_section,
    with_key_path,
)
from nni_nas.errors import ConfigError, NasError, one_line


def check_config(path: str | Path) -> list[str]:
    """Every problem found in the config at ``path``, as one readable line each (empty: the config is fine).

    Never raises: an unexpected failure of a check is itself reported as one line naming the file, so that the
    other files given to ``nni-nas check`` are still checked.
    """
    try:
        return [cut_long_values(problem) for problem in _problems(Path(path))]
    except Exception as err:  # noqa: BLE001 - a bug in a check must not hide the other files' problems
        return [cut_long_values(f"the check itself failed on this file ({type(err).__name__}: {one_line(err)}); "
                                "please report it")]


ECHO_LIMIT = 200  # characters of a value a problem echoes back (a 200,000-item list made a 1.5 MB line)


def cut_long_values(line: str, limit: int = ECHO_LIMIT) -> str:
    """``line`` with every bracketed value (``[...]``, ``{...}``, ``(...)``) longer than ``limit`` characters cut to
    about ``limit``, saying how long it was; and, should a line still be long, its middle."""
    pairs = {"[": "]", "{": "}", "(": ")"}
    out, i = [], 0
    while i < len(line):
        char = line[i]
        end = _closing(line, i, pairs[char]) if char in pairs else None
        if end is not None and end - i + 1 > limit:
            out.append(f"{line[i:i + limit - 30]}... ({end - i + 1:,} characters){pairs[char]}")
            i = end + 1
            continue
        out.append(char)
        i += 1
    text = "".join(out)
    return text if len(text) <= 4 * limit else f"{text[:2 * limit]} ... {text[-limit:]}"


def _closing(text: str, start: int, close: str) -> int | None:
    """Where the bracket opened at ``start`` closes (nesting of the same kind counted), or None."""
    depth = 0
    for index in range(start, len(text)):
        if text[index] == text[start]:
            depth += 1
        elif text[index] == close:
            depth -= 1
            if depth == 0:
                return index
    return None


def _problems(path: Path) -> list[str]:
    try:
        raw = read_yaml(path)
    except ConfigError as err:
        return err.problems
    missing = [key for key in REQUIRED_NNI_KEYS if key not in raw]
    if missing:
        return [f"{key} is missing{_written_as(key, raw)}; {REQUIRED_NNI_KEYS[key]}" for key in missing]
    problems = _nni_schema_problems(path, raw) + _search_space_problems(raw)
    try:
        tuner = tuner_section(raw, path)
        class_path = tuner_class_path(tuner)
    except NasError as err:
        return problems + [str(err)]
    problems += _registered_name_problems(tuner)
    class_args = tuner.get("classArgs") or {}
    try:
        settings = NasSettings.from_class_args(class_args, class_path, path.resolve())
    except ConfigError as err:
        problems += err.problems
        if not isinstance(class_args, dict) or not isinstance(class_args.get("train"), dict):
            return problems
        try:  # the train section is wrong: check the rest with default training settings, to name every mistake
            settings = NasSettings.from_class_args({**class_args, "train": {}}, class_path, path.resolve())
        except ConfigError:
            return problems
    settings.code_dir = resolve_trial_dir(raw, path)
    tuner_cls, tuner_problems = _strategy_problems(settings)
    problems += tuner_problems
    problems += _devices_problems(settings, tuner_cls)
    problems += _budget_problems(raw, settings, tuner_cls)
    problems += _space_and_data_problems(settings, tuner_cls)
    problems += _evaluator_problems(settings)
    problems += assessor_problems(raw, class_args, settings.train.epochs)
    problems += _trial_command_problems(raw, path)
    problems += _remote_problems(raw, settings)
    from nni_nas.gpu_check import device_problems, gpu_problems

    problems += device_problems(raw, settings.train.accelerator)
    problems += gpu_problems(raw, settings.train.accelerator, settings.train.devices)
    return problems


def _written_as(key: str, raw: dict[str, Any]) -> str:
    """`` ('trainigService' is written: a misspelling of it?)`` when a key of ``raw`` that NNI does not know is close
    to the missing ``key``, else ``""``."""
    import difflib

    from nni.experiment.config import ExperimentConfig

    known = {re.sub(r"_(\w)", lambda m: m.group(1).upper(), f.name) for f in dataclasses.fields(ExperimentConfig)}
    unknown = [str(k) for k in raw if str(k) not in known]
    close = difflib.get_close_matches(key, unknown, n=1, cutoff=0.7)
    return f" ({close[0]!r} is written: a misspelling of it?)" if close else ""


# NNI fields whose absence NNI reports without naming them (no trainingService: "'_MISSING_TYPE' object ...").
REQUIRED_NNI_KEYS = {
    "trialCommand": "use trialCommand: python -m nni_nas.trial --config <this file>",
    "trialConcurrency": "use trialConcurrency: 1 (how many trials run at once)",
    "trainingService": "use trainingService: {platform: local}",
    "tuner": "nni-nas configs choose the strategy as the tuner "
             "(className: strategies.evolution.RegularizedEvolutionTuner)",
}


def _search_space_problems(raw: dict[str, Any]) -> list[str]:
    """NNI requires a searchSpace, which nni-nas never reads (the tuner searches ``tuner.classArgs.space``): one
    written there would be silently ignored (the tuner only logs a warning in the dispatcher's log)."""
    fix = "the tuner searches the choices of tuner.classArgs.space; write searchSpace: {}"
    problems = []
    if raw.get("searchSpace") not in (None, {}):
        problems.append(f"searchSpace: nni-nas does not read it ({type(raw['searchSpace']).__name__} given): {fix}")
    if raw.get("searchSpaceFile") is not None:
        problems.append(f"searchSpaceFile: nni-nas does not read it: {fix} instead")
    return problems


# NNI's config loader keeps its base path in a module global: two checks at once (threads of one process, as the
# remote e2e test runs them) would see each other's ("it requires _currentBasePath is None")
_NNI_LOAD = threading.Lock()


def _nni_schema_problems(path: Path, raw: dict[str, Any]) -> list[str]:
    from nni.experiment.config import ExperimentConfig
    from nni.experiment.config.utils import unset_base_path

    from nni_nas.nni_messages import translate

    # NNI 3.0's ConfigBase.load sets a module-global base path and only clears it when loading succeeds: after one
    # rejected config every later load in the process fails with a bare AssertionError. Clear it on both sides.
    with _NNI_LOAD:
        unset_base_path()
        try:
            ExperimentConfig.load(path).validate()
        except Exception as err:  # NNI raises AssertionError, ValueError or TypeError for schema errors
            return [f"NNI rejects the config: {translate(nni_message(err), raw)}"]
        finally:
            unset_base_path()
    return []


def nni_message(err: BaseException) -> str:
    """NNI's message for a rejected config; for its bare ``assert``s, the condition it asserts, in the config's own
    key names (``assert self.trial_concurrency > 0`` -> ``it requires trialConcurrency > 0``)."""
    if str(err).strip():
        return one_line(err)
    frames = traceback.extract_tb(err.__traceback__)
    line = (frames[-1].line or "").strip() if frames else ""
    if not line.startswith("assert "):
        return type(err).__name__
    condition = line.removeprefix("assert ").split(",")[0].replace("self.", "")
    return "it requires " + re.sub(r"[a-z]+(?:_[a-z0-9]+)+", lambda m: _camel(m.group(0)), condition)


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)


def _registered_name_problems(tuner: dict[str, Any]) -> list[str]:
    name = tuner.get("name")
    if not name or tuner.get("className"):
        return []
    from nni.tools.package_utils.config_manager import get_algo_meta

    if get_algo_meta(name) is None:
        return [f"tuner name {name!r} is not registered with NNI; run `nni-nas register` once "
                "(or use className: with the class path)"]
    return []


def _strategy_problems(settings: NasSettings) -> tuple[type | None, list[str]]:
    """The tuner class, and what it rejects of its classArgs: built as NNI's dispatcher will build it, so values
    out of range fail here rather than 10 s after `nnictl create` has returned 0 (tuners build their space lazily:
    this is cheap)."""
    import strategies

    try:
        tuner_cls = strategies.resolve_class_path(settings.tuner_class)
    except NasError as err:
        return None, [str(err)]
    try:
        tuner_cls(**settings.class_args())
    except ConfigError as err:
        return tuner_cls, [problem if problem.startswith("tuner.") else f"{tuner_cls.__name__} rejects its classArgs: "
                           f"{problem}" for problem in err.problems]
    except NasError as err:
        return tuner_cls, [f"{tuner_cls.__name__} rejects its classArgs: {err}"]
    return tuner_cls, []


def _devices_problems(settings: NasSettings, tuner_cls: type | None) -> list[str]:
    """Several devices (``train.devices`` > 1, which needs ``train.strategy: ddp``) train a one-shot supernet only:
    a multi-trial trial would re-run itself on each rank and each rank would train and report the architecture."""
    if tuner_cls is None or settings.train.devices <= 1 or getattr(tuner_cls, "one_shot", False):
        return []
    from nni_nas.runtime.trial import multi_trial_devices_problem

    return [multi_trial_devices_problem(settings.train.devices)]


def _budget_problems(raw: dict[str, Any], settings: NasSettings, tuner_cls: type | None) -> list[str]:
    """A strategy whose random start does not fit in ``maxTrialNumber`` (evolution whose population never fills, PNAS
    whose surrogate is never used: random search under another name)."""
    budget = raw.get("maxTrialNumber")
    if tuner_cls is None or not hasattr(tuner_cls, "budget_problem") or not isinstance(budget, int) \
            or isinstance(budget, bool) or budget < 1:
        return []
    try:
        problem = tuner_cls(**settings.class_args()).budget_problem(budget)
    except NasError:
        return []  # a mistake of the strategy's settings or of the space: named by the other checks
    return [problem] if problem else []


def _space_and_data_problems(settings: NasSettings, tuner_cls: type | None) -> list[str]:
    import nni_nas.user_code as user_code

    problems = []
    reason = tuner_cls.settings_problem(settings) if tuner_cls is not None else None
    if reason:
        problems.append(reason)
    info, batch, data_problems = _data_problems(settings)
    problems += data_problems + _module_problems(settings)
    try:
        space = _built_space(settings, info)
    except user_code.UserCodeError as err:
        return problems + [str(err)]
    except NasError as err:
        return problems + [with_key_path(str(err), list(settings.space_args), "tuner.classArgs.space_args.")]
    except Exception as err:  # noqa: BLE001 - a space_args value the space did not foresee
        return problems + [f"space {settings.space!r} cannot be built with space_args {settings.space_args} "
                           f"({type(err).__name__}: {one_line(err)})"]
    reason = tuner_cls.space_problem(space) if tuner_cls is not None else None
    if reason:
        problems.append(reason)
    else:
        problems += _search_problems(settings, tuner_cls, space)
    if batch is not None and not problems:
        problems += _forward_problems(settings, space, batch, info[1] if info else None)
    return problems + _constraint_problems(settings, space, info[0] if info else None)


def _search_problems(settings: NasSettings, tuner_cls: type | None, space: Any) -> list[str]:
    """What the tuner, built with its settings, refuses of the built space (a grid larger than its ``max_size``)."""
    from strategies.base import NasTuner

    if tuner_cls is None or not issubclass(tuner_cls, NasTuner):
        return []
    try:
        reason = tuner_cls(**settings.class_args()).search_problem(space)
    except NasError:
        return []  # a mistake of the strategy's settings: named by _strategy_problems
    return [reason] if reason else []


def _data_problems(settings: NasSettings) -> tuple[tuple | None, Any, list[str]]:
    """The data's ``(input_shape, num_classes)``, a few training samples of a user's data (to run the network
    on), and what is wrong with the data settings."""
    import inspect

    import nni_nas.components as components
    import nni_nas.data as data
    import nni_nas.user_code as user_code

    if user_code.is_reference(settings.data):
        try:
            bundle = components.load_bundle(settings)
        except (NasError, OSError) as err:
            return None, None, [str(err)]
        from nni_nas.data.user import _batches

        x, _ = next(iter(_batches(bundle.train)))
        return (bundle.input_shape, bundle.num_classes), x[:2], []
    try:
        loader = data.get_loader(settings.data)
        accepted = [name for name in inspect.signature(loader).parameters]
        arg_problems = keyword_problems(accepted, settings.data_args, f"data_args of {settings.data}")
        if arg_problems:
            return None, None, arg_problems
        return data.data_info(settings.data, **components.data_args(settings)), None, []
    except (NasError, OSError, ValueError) as err:
        return None, None, [str(err)]


def _module_problems(settings: NasSettings) -> list[str]:
    import nni_nas.user_code as user_code
    from nni_nas.config import MODULES
    from nni_nas.errors import did_you_mean

    if user_code.is_reference(settings.module):
        from nni_nas.evaluation.modules import module_args_problem

        try:
            problem = module_args_problem(settings.module, settings.module_args, settings.code_dir)
        except NasError as err:
            return [str(err)]
        return [problem] if problem else []
    if settings.module not in MODULES:
        return [f"tuner.classArgs.module: unknown module {settings.module!r}{did_you_mean(settings.module, MODULES)}; "
                f"use {' or '.join(MODULES)}, or your own Lightning module as 'file.py:Class'"]
    if settings.module_args:
        return [f"tuner.classArgs.module_args: the built-in module {settings.module!r} takes its settings from train "
                "(lr, optimizer, ...); module_args are for your own module"]
    return []


def _built_space(settings: NasSettings, info: tuple | None) -> Any:
    """The configured space (a few hundred milliseconds), for the data's ``info``; when the data could not be read,
    for 8x8 single-channel images of 10 classes (one-channel signals of 64 steps for a signal space: an npz of signals
    read without ``kind: signal`` is named once, by the data's own error), so that the space's own arguments are
    still checked."""
    import model_spaces
    import nni_nas.components as components
    import nni_nas.user_code as user_code

    if info is None and model_spaces.data_needed(settings.space, settings.space_args, settings.code_dir):
        signals = (not user_code.is_reference(settings.space)
                   and model_spaces.get_space_class(settings.space).input_rank == 2)
        info = ((1, 64) if signals else (1, 8, 8), 10)
    return components.build_space(settings, info)


def _forward_problems(settings: NasSettings, space: Any, batch: Any, outputs: int | None) -> list[str]:
    """A user's space or data: the first architecture of the space (each label's first value) runs on two
    training samples, so that a shape mismatch is found now, with the user's file and line; with a built-in module,
    its output must have one value per class (classification) or target (regression), ``outputs``."""
    import nni_nas.user_code as user_code
    from nni_nas.arch import search_choices

    if not (user_code.is_reference(settings.space) or user_code.is_reference(settings.data)):
        return []
    try:
        arch = {label: values[0] for label, values in search_choices(space).items()}
        model = user_code.call(space.freeze, f"space {settings.space!r}: freezing {arch}", arch)
        model.eval()
        out = user_code.call(model, f"space {settings.space!r} on a batch of data {settings.data!r} (architecture "
                                    f"{arch})", batch)
    except NasError as err:
        return [str(err)]
    return _output_problems(settings, out, outputs)


def _output_problems(settings: NasSettings, out: Any, outputs: int | None) -> list[str]:
    import torch

    from nni_nas.config import MODULES

    if settings.module not in MODULES or outputs is None:
        return []  # a user's module makes of the output what it likes
    what = "classes" if settings.module == "classification" else "targets per sample"
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[1] != outputs:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        return [f"space {settings.space!r} outputs {shape} for a batch of 2, but the {settings.module} module needs "
                f"(2, {outputs}): the data has {outputs} {what}; give the space that output size (its num_classes "
                "or num_labels in space_args, or a constructor argument it fills from the data)"]
    return []


def _constraint_problems(settings: NasSettings, space: Any, input_shape: tuple[int, ...] | None) -> list[str]:
    """A limit below the space's smallest network: no architecture can meet it (one line per limit, naming the
    smallest reachable value). Latency is measured in trials only and is not checked here."""
    from model_spaces.costs import CostModel, benchmark_network
    from nni_nas.constraints import LIMITS

    limits = settings.constraint_settings.static
    if not limits:
        return []
    if settings.evaluator.get("kind") == "benchmark":
        model, network = CostModel(benchmark_network(settings.space), {}), "the benchmark table's network"
    else:
        if input_shape is None and getattr(space, "input_shape", None) is None:
            return []  # the data could not be read: named by the data's own check
        model = CostModel(space, settings.space_args, input_shape)
        network = "its smallest network with these space_args and data"
    smallest = model.smallest()
    return [f"constraints.{key}: {limit:,} cannot be met: space {settings.space!r} has at least "
            f"{smallest[LIMITS[key]]:,} {LIMITS[key]} ({network}); set {key} >= {smallest[LIMITS[key]]:,}"
            for key, limit in limits.items() if smallest[LIMITS[key]] > limit]


def _evaluator_problems(settings: NasSettings) -> list[str]:
    from nni_nas.evaluation.tabular import evaluator_problems

    return evaluator_problems(settings)


def _remote_problems(raw: dict[str, Any], settings: NasSettings) -> list[str]:
    from nni_nas.remote_check import remote_problems

    return remote_problems(raw, settings.data_args, settings.evaluator)


def _trial_command_problems(raw: dict[str, Any], path: Path) -> list[str]:
    command = str(raw.get("trialCommand") or "")
    if not re.search(r"nni_nas\.(runtime\.)?trial\b", command) and "nni-nas trial" not in command:
        return [f"trialCommand should run the nni-nas trial: python -m nni_nas.trial --config {path.name}"]
    config_arg = trial_config_argument(command)
    if config_arg is None:
        return [f"trialCommand lacks --config; use: python -m nni_nas.trial --config {path.name}"]
    target = (resolve_trial_dir(raw, path) / config_arg).resolve()
    if target != path.resolve():
        return [f"trialCommand reads {target}, not this file {path.resolve()}; trials would train with other "
                f"settings than the tuner's (fix --config, relative to trialCodeDirectory)"]
    return []
