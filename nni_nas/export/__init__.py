"""``nni-nas export EXPERIMENT_ID``: the best architectures of an experiment as plain PyTorch.

Reads the experiment from NNI's own records (running, stopped or finished; the manager need not be up),
ranks its succeeded trials by the config's optimise mode and writes one folder per trial, whatever its rank, and
an index of the current ranking (:mod:`nni_nas.export.ranking`), rewritten at each export::

    <out>/RANKING.md, <out>/ranking.json
    <out>/trial-<trial id>/
        model.py      plain-PyTorch source of the network (imports torch only); ``Network()`` builds it
        weights.pt    the trained state_dict, ``torch.load(..., weights_only=True)``
        model.pt2     torch.export program (``torch.export.load(...).module()``)
        model.ts      TorchScript
        model.onnx    ONNX (checked with onnxruntime)
        arch.json     the architecture dict
        metrics.json  the trial's final result, trial and experiment ids, seed, input_shape [C, H, W]
        README.md     how to load it

Each folder is built in a hidden ``.<name>.partial-<pid>`` folder beside the target and renamed into place when
complete, so an interrupted export never leaves a folder that looks finished; an existing folder (``--force``) is
swapped with the new one in one step (:mod:`nni_nas.export.swap`), so it is never missing, and kept if the export
fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nni_nas.errors import ExportError, NasError
from nni_nas.export.layout import (
    EXPORT_FORMATS,
    EXPORTED_WEIGHTS_FILE,
    ONNX_FILE,
    README_FILE,
    SOURCE_FILE,
    TORCH_EXPORT_FILE,
    TORCHSCRIPT_FILE,
)
from nni_nas.export.ranking import trial_folder, write_ranking
from nni_nas.export.readme import readme_text, source_docstring
from nni_nas.export.swap import replace_folder
from nni_nas.runtime.trial_files import ARCH_FILE, METRICS_FILE

PARITY_BATCH = 8
PARITY_SEED = 0


@dataclass
class ExportResult:
    """One exported folder: which trial, which files, and how closely each format reproduces the network."""

    folder: Path
    trial_id: str
    rank: int | None
    files: list[str]
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    weights_missing: str | None = None  # why, when the trial saved no weights
    kept: bool = False  # the folder existed and was left as it was (no --force)


def export_trials(experiment_id: str, top: int = 1, out: str | Path = "exported", force: bool = False,
                  formats: tuple[str, ...] | None = None, trial: str | None = None,
                  root: Path | None = None, pareto: str | bool | None = None) -> list[ExportResult]:
    """Export the ``top`` best succeeded trials of ``experiment_id`` (or the one trial ``trial``), or with
    ``pareto`` every trial of its Pareto front (``True``: the experiment's objectives or val_acc max / params min;
    a string such as ``val_acc:max,flops:min``: those), best first by the first objective; each into its
    ``trial-<id>`` folder under ``out``, whose ``RANKING.md`` and ``ranking.json`` are then rewritten with the
    current ranking of every trial exported there.

    Raises
    ------
    NasError
        Unknown experiment or trial, no succeeded trial, or a trial folder without its saved files.

    A folder that already exists is kept as it is and reported with ``kept=True`` (``force`` rewrites it), so
    ``--top 3`` after the quick start's export of the best adds ranks 2 and 3, and an export after a resumed search
    adds the new best beside the old one. Folders an earlier nni-nas named by rank (``rank<k>-<id>``) are left as
    they are; the index lists them apart.
    """
    from nni_nas.results.records import load_experiment

    if top < 1:
        raise NasError(f"--top must be at least 1, got {top}")
    record = load_experiment(experiment_id, root)
    out = Path(out)
    extras: list[dict[str, Any] | None]
    if pareto is not None and pareto is not False:
        front, objectives = _pareto_trials(record, None if pareto is True else str(pareto))
        targets = [(None, t, trial_folder(out, t.trial_id)) for t in front]
        extras = [{"pareto_front": {"objectives": objectives, "position": k, "size": len(front)}}
                  for k in range(1, len(front) + 1)]
    else:
        chosen = _choose_trials(record, top, trial)
        targets = [(rank, t, trial_folder(out, t.trial_id)) for rank, t in chosen]
        extras = [None] * len(targets)
    formats = formats or tuple(EXPORT_FORMATS)
    results: list[ExportResult] = []
    try:
        for (rank, t, target), extra in zip(targets, extras):
            results.append(ExportResult(target, t.trial_id, rank, sorted(p.name for p in target.iterdir()), kept=True)
                           if target.is_dir() and not force else export_trial(record, t, target, rank, formats, extra))
    except BaseException:
        if results:  # the folders finished before the failure are indexed; the failure itself is what is raised
            with contextlib.suppress(OSError):
                write_ranking(record, out)
        raise
    try:
        write_ranking(record, out)
    except OSError as err:
        raise ExportError(f"could not write the ranking index in {out}: {err.strerror or err}; the exported folders "
                          "are complete") from None
    return results


def _pareto_trials(record, spec: str | None) -> tuple[list[Any], str]:
    from nni_nas.results.front import describe_objectives, front_trials, objectives_for

    objectives = objectives_for(record, spec)
    front = front_trials(record, objectives)
    if not front:
        raise NasError(f"experiment {record.experiment_id}: no succeeded trial reports every objective "
                       f"({describe_objectives(objectives)}); nothing to export")
    return front, describe_objectives(objectives)


def _choose_trials(record, top: int, trial_id: str | None) -> list[tuple[int | None, Any]]:
    ranked = record.ranked()
    if trial_id is not None:
        by_id = {t.trial_id: t for t in record.trials}
        if trial_id not in by_id:
            raise NasError(f"experiment {record.experiment_id} has no trial {trial_id!r}; its trials: "
                           f"{', '.join(by_id) or 'none'}")
        ranks = {t.trial_id: i for i, t in enumerate(ranked, start=1)}
        return [(ranks.get(trial_id), by_id[trial_id])]
    if not ranked:
        raise NasError(f"experiment {record.experiment_id} has no succeeded trial with a final result yet "
                       f"({record.status_summary()}); wait for one, or see why they failed with `nnictl log trial "
                       f"{record.experiment_id}`")
    return list(enumerate(ranked[:top], start=1))


def export_trial(record, trial, target: Path, rank: int | None, formats: tuple[str, ...],
                 extra: dict[str, Any] | None = None) -> ExportResult:
    """Write one trial's folder atomically (build beside ``target``, then rename); ``extra`` joins its
    metrics.json."""
    from nni_nas.export.trained_trial import load_trial_model

    loaded = load_trial_model(record, trial)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        result = _write_folder(loaded, partial, rank, formats, extra)
        replace_folder(partial, target)
    except OSError as err:  # a full disk, a quota, a file system gone read-only
        raise ExportError(f"could not write {target}: {err.strerror or err}; an earlier export there is unchanged and "
                          "nothing partial is left") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    result.folder = target
    return result


def _write_folder(loaded, folder: Path, rank: int | None, formats: tuple[str, ...],
                  extra: dict[str, Any] | None = None) -> ExportResult:
    import torch

    from nni_nas.export import formats as fmt
    from nni_nas.export.codegen import generate_source

    batch = loaded.example_batch(PARITY_BATCH, PARITY_SEED)
    reference = fmt.logits(loaded.model, batch)
    (folder / SOURCE_FILE).write_text(generate_source(loaded.model, (batch,), source_docstring(loaded, rank)))
    module = fmt.import_source(folder / SOURCE_FILE)
    try:
        network = module.Network()
        network.load_state_dict(loaded.model.state_dict())
        network.eval()
        diffs = {SOURCE_FILE: fmt.check_parity(SOURCE_FILE, fmt.logits(network, batch), reference)}
        if loaded.weights_missing is None:
            if "weights" in formats:
                fmt.write_weights(network, folder / EXPORTED_WEIGHTS_FILE)
                reloaded = module.Network()
                reloaded.load_state_dict(torch.load(folder / EXPORTED_WEIGHTS_FILE, weights_only=True))
                diffs[EXPORTED_WEIGHTS_FILE] = fmt.check_parity(EXPORTED_WEIGHTS_FILE, fmt.logits(reloaded, batch),
                                                                reference)
            program = None
            if "torch_export" in formats:
                program = fmt.export_program(network, batch)
                diffs[TORCH_EXPORT_FILE] = fmt.write_torch_export(program, batch, reference,
                                                                  folder / TORCH_EXPORT_FILE)
            if "torchscript" in formats:
                path = folder / TORCHSCRIPT_FILE
                diffs[path.name] = fmt.write_torchscript(network, batch, reference, path)
            if "onnx" in formats:
                diffs[ONNX_FILE] = fmt.write_onnx(program or network, batch, reference, folder / ONNX_FILE)
    finally:
        fmt.forget_source(module)
    if "source" not in formats:
        (folder / SOURCE_FILE).unlink()
        diffs.pop(SOURCE_FILE)
    if loaded.weights_missing is not None:
        diffs = {}  # random weights prove nothing about the trained model
    _write_json(folder / ARCH_FILE, loaded.arch)
    _write_json(folder / METRICS_FILE, {**_metrics(loaded, rank, diffs), **(extra or {})})
    (folder / README_FILE).write_text(readme_text(loaded, rank, formats))
    files = sorted(p.name for p in folder.iterdir())
    return ExportResult(folder, loaded.trial.trial_id, rank, files, diffs, loaded.weights_missing)


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n")


def _metrics(loaded, rank: int | None, diffs: dict[str, float]) -> dict[str, Any]:
    trial = loaded.trial
    return {
        **(trial.final or {}),
        "experiment_id": loaded.experiment_id,
        "trial_id": trial.trial_id,
        "trial_status": trial.status,
        "rank": rank,
        "seed": loaded.seed,
        "input_shape": list(loaded.input_shape),
        "num_classes": loaded.num_classes,
        "space": loaded.space,
        "space_args": loaded.space_args,
        "data": loaded.data,
        "strategy": loaded.strategy,
        "weights": loaded.weights_missing is None,
        "export_max_abs_diff": diffs,
    }
