"""``nni-nas check`` of a config's ``assessor`` section: NNI's early stopping of poor trials (Medianstop, Curvefitting).

nni-nas trials report one intermediate result per epoch (the searched value: validation accuracy, or the module's
``monitor``), which is what NNI's assessors read, and NNI records a trial its assessor stops as EARLY_STOPPED; the
tuners count it as the worst result, never as a result at full fidelity (:mod:`strategies.base`). NNI 3.0's
``nnictl create`` does not check a built-in assessor's ``classArgs``: a wrong one fails the dispatcher after the
experiment started. Here they are checked with NNI's own validator, and against the search: the assessor must
optimise in the tuner's direction, and Curvefitting (accuracy only) must know how many epochs a trial trains.

Imports nothing heavy: NNI's validators are imported only for a config that names a built-in assessor.
"""

from __future__ import annotations

from typing import Any

from nni_nas.config import optimize_mode_of


def assessor_problems(raw: dict[str, Any], class_args: dict[str, Any], epochs: int | None) -> list[str]:
    """Every mistake in ``raw``'s ``assessor`` section, given the tuner's ``class_args`` and ``train.epochs``."""
    assessor = raw.get("assessor")
    if not isinstance(assessor, dict) or assessor.get("className") or not assessor.get("name"):
        return []  # none, your own class (NNI's schema checks the section's shape), or no name (NNI names that)
    name = str(assessor["name"])
    args = assessor.get("classArgs") or {}
    if not isinstance(args, dict):
        return [f"assessor.classArgs must be a mapping, got {args!r}"]
    from nni.tools.package_utils.config_manager import get_algo_meta

    meta = get_algo_meta(name)
    if meta is None or meta.algo_type != "assessor":
        return [f"assessor.name {name!r} is not an NNI assessor; NNI's built-in ones are Medianstop and Curvefitting "
                "(or give your own with className and codeDirectory)"]
    problems = _validator_problems(meta, args)
    mode = optimize_mode_of(class_args)
    if meta.name == "Curvefitting":
        if mode != "maximize":
            problems.append("assessor: Curvefitting fits accuracy curves only (it cannot minimise); this search "
                            f"minimises {class_args.get('monitor') or 'its metric'}: use Medianstop with "
                            "optimize_mode: minimize")
        epoch_num = args.get("epoch_num")
        if isinstance(epoch_num, int) and epochs is not None and epoch_num != epochs:
            problems.append(f"assessor.classArgs.epoch_num: {epoch_num}, but each trial trains "
                            f"tuner.classArgs.train.epochs = {epochs} epochs (one intermediate result each); "
                            f"set epoch_num: {epochs}, or Curvefitting predicts the wrong epoch")
    elif "optimize_mode" in (meta.class_args or {}) or meta.name == "Medianstop":
        assessed = args.get("optimize_mode", (meta.class_args or {}).get("optimize_mode", "maximize"))
        if assessed != mode:
            problems.append(f"assessor.classArgs.optimize_mode: {assessed}, but the search is set to {mode} (each "
                            f"trial's intermediate result is its {class_args.get('monitor') or 'searched value'}); "
                            f"set optimize_mode: {mode}, or the assessor stops the best trials")
    return problems


def _validator_problems(meta: Any, args: dict[str, Any]) -> list[str]:
    """What NNI's own validator of the assessor (``classArgsValidator``) says of ``args``, as one line."""
    if not meta.validator_class_name:
        return []
    from nni.tools.package_utils.tuner_factory import create_validator_instance

    try:
        create_validator_instance("assessors", meta.name).validate_class_args(**args)
    except Exception as err:  # NNI's validators raise schema's SchemaError family, or TypeError for odd keys
        message = " ".join(str(err).split())
        return [f"assessor.classArgs: NNI's {meta.name} rejects them: {message}"]
    return []
