"""``nni-nas export EXPERIMENT_ID``: the best architectures of an experiment as plain PyTorch.

Reads the experiment from NNI's own records (running, stopped or finished; the manager need not be up),
ranks its succeeded trials by the config's optimise mode and writes one folder per architecture::

    <out>/rank1-<trial id>/
        model.py      plain-PyTorch source of the network (imports torch only); ``Network()`` builds it
        weights.pt    the trained state_dict, ``torch.load(..., weights_only=True)``
        model.ts      TorchScript
        model.onnx    ONNX (checked with onnxruntime)
        arch.json     the architecture dict
        metrics.json  the trial's final result, trial and experiment ids, seed, input_shape [C, H, W]
        README.md     how to load it

Each folder is built in a hidden ``.<name>.partial-<pid>`` folder beside the target and renamed into place when
complete, so an interrupted export never leaves a folder that looks finished.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nni_nas.errors import NasError
from nni_nas.export_formats import FORMATS

ARCH_FILE = "arch.json"
METRICS_FILE = "metrics.json"
README_FILE = "README.md"
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment_id", help="NNI experiment id (nnictl experiment list --all)")
    parser.add_argument("--top", type=int, default=1, help="how many of the best architectures (default 1)")
    parser.add_argument("--out", help="output folder (default exported/<experiment id>)")
    parser.add_argument("--format", action="append", metavar="NAME",
                        help=f"formats to write, comma-separated or repeated: {', '.join(FORMATS)} (default all); "
                             "arch.json, metrics.json and README.md are always written")
    parser.add_argument("--trial", help="export this trial (by id) instead of the top ones")
    parser.add_argument("--force", action="store_true", help="replace output folders that already exist")


def run(args: argparse.Namespace) -> int:
    formats = parse_formats(args.format)
    out = Path(args.out) if args.out else Path("exported") / args.experiment_id
    results = export_trials(args.experiment_id, top=args.top, out=out, force=args.force, formats=formats,
                            trial=args.trial)
    for result in results:
        where = f"rank {result.rank}" if result.rank is not None else "trial"
        print(f"{where} {result.trial_id} -> {result.folder} ({', '.join(result.files)})")
        if result.max_abs_diff:
            worst = max(result.max_abs_diff.values())
            print(f"    every format reproduces the trained network (max |logit difference| {worst:.2g})")
    missing = [r for r in results if r.weights_missing]
    for result in missing:
        print(f"nni-nas export: error: trial {result.trial_id} has no trained weights ({result.weights_missing}); "
              f"exported its architecture only, to {result.folder}", file=sys.stderr)
    return 1 if missing else 0


def parse_formats(values: list[str] | None) -> tuple[str, ...]:
    """``--format`` values (repeated or comma-separated) as format names; all formats when none is given."""
    if not values:
        return tuple(FORMATS)
    names = [name.strip().lower() for value in values for name in value.split(",") if name.strip()]
    aliases = {"py": "source", "pt": "weights", "ts": "torchscript", "model.py": "source", "weights.pt": "weights",
               "model.ts": "torchscript", "model.onnx": "onnx"}
    names = [aliases.get(name, name) for name in names]
    unknown = [name for name in names if name not in FORMATS]
    if unknown:
        raise NasError(f"unknown --format {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    return tuple(name for name in FORMATS if name in names)


def export_experiment(experiment_id: str, top: int = 1, out: str | Path = "exported", force: bool = False,
                      formats: tuple[str, ...] | None = None, trial: str | None = None) -> list[Path]:
    """Export the ``top`` best architectures of ``experiment_id`` (or one ``trial``) under ``out``.

    Returns the exported folders, best first. See :func:`export_trials` for the details and errors.
    """
    return [result.folder for result in export_trials(experiment_id, top, out, force, formats, trial)]


def export_trials(experiment_id: str, top: int = 1, out: str | Path = "exported", force: bool = False,
                  formats: tuple[str, ...] | None = None, trial: str | None = None,
                  root: Path | None = None) -> list[ExportResult]:
    """Export the ``top`` best succeeded trials of ``experiment_id`` (or the one trial ``trial``).

    Raises
    ------
    NasError
        Unknown experiment or trial, no succeeded trial, or a trial folder without its saved files.
    FileExistsError
        An output folder exists and ``force`` is false (checked for every folder before anything is written).
    """
    from nni_nas.experiments import load_experiment

    if top < 1:
        raise NasError(f"--top must be at least 1, got {top}")
    record = load_experiment(experiment_id, root)
    chosen = _choose_trials(record, top, trial)
    out = Path(out)
    targets = [(rank, t, out / (f"rank{rank}-{t.trial_id}" if rank is not None else f"trial-{t.trial_id}"))
               for rank, t in chosen]
    existing = [str(target) for _, _, target in targets if target.exists()]
    if existing and not force:
        raise FileExistsError(f"output folder{'s' if len(existing) > 1 else ''} {', '.join(existing)} already "
                              "exist(s); pass --force to replace, or choose another --out")
    return [export_trial(record, t, target, rank, formats or tuple(FORMATS)) for rank, t, target in targets]


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
        counts: dict[str, int] = {}
        for t in record.trials:
            counts[t.status] = counts.get(t.status, 0) + 1
        summary = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())) or "no trials"
        raise NasError(f"experiment {record.experiment_id} has no succeeded trial with a final result yet "
                       f"({summary}); wait for one, or see why they failed with `nnictl log trial "
                       f"{record.experiment_id}`")
    return list(enumerate(ranked[:top], start=1))


def export_trial(record, trial, target: Path, rank: int | None, formats: tuple[str, ...]) -> ExportResult:
    """Write one trial's folder atomically (build beside ``target``, then rename)."""
    from nni_nas.trial_model import load_trial_model

    loaded = load_trial_model(record, trial)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        result = _write_folder(loaded, partial, rank, formats)
        _replace(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    result.folder = target
    return result


def _write_folder(loaded, folder: Path, rank: int | None, formats: tuple[str, ...]) -> ExportResult:
    import torch

    from nni_nas import export_formats as fmt
    from nni_nas.codegen import generate_source

    batch = loaded.example_batch(PARITY_BATCH, PARITY_SEED)
    reference = fmt.logits(loaded.model, batch)
    (folder / fmt.SOURCE_FILE).write_text(generate_source(loaded.model, (batch,), _source_docstring(loaded, rank)))
    module = fmt.import_source(folder / fmt.SOURCE_FILE)
    try:
        network = module.Network()
        network.load_state_dict(loaded.model.state_dict())
        network.eval()
        diffs = {fmt.SOURCE_FILE: fmt.check_parity(fmt.SOURCE_FILE, fmt.logits(network, batch), reference)}
        if loaded.weights_missing is None:
            if "weights" in formats:
                fmt.write_weights(network, folder / fmt.WEIGHTS_FILE)
                reloaded = module.Network()
                reloaded.load_state_dict(torch.load(folder / fmt.WEIGHTS_FILE, weights_only=True))
                diffs[fmt.WEIGHTS_FILE] = fmt.check_parity(fmt.WEIGHTS_FILE, fmt.logits(reloaded, batch), reference)
            if "torchscript" in formats:
                path = folder / fmt.TORCHSCRIPT_FILE
                diffs[path.name] = fmt.write_torchscript(network, batch, reference, path)
            if "onnx" in formats:
                diffs[fmt.ONNX_FILE] = fmt.write_onnx(network, batch, reference, folder / fmt.ONNX_FILE)
    finally:
        fmt.forget_source(module)
    if "source" not in formats:
        (folder / fmt.SOURCE_FILE).unlink()
        diffs.pop(fmt.SOURCE_FILE)
    if loaded.weights_missing is not None:
        diffs = {}  # random weights prove nothing about the trained model
    _write_json(folder / ARCH_FILE, loaded.arch)
    _write_json(folder / METRICS_FILE, _metrics(loaded, rank, diffs))
    (folder / README_FILE).write_text(_readme(loaded, rank, formats))
    files = sorted(p.name for p in folder.iterdir())
    return ExportResult(folder, loaded.trial.trial_id, rank, files, diffs, loaded.weights_missing)


def _replace(partial: Path, target: Path) -> None:
    if not target.exists():
        partial.rename(target)
        return
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    shutil.rmtree(old, ignore_errors=True)
    target.rename(old)
    partial.rename(target)
    shutil.rmtree(old, ignore_errors=True)


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


def _source_docstring(loaded, rank: int | None) -> str:
    where = f"rank {rank} of" if rank is not None else "a trial of"
    arch = json.dumps(loaded.arch, separators=(", ", ": "))
    return (f"Space `{loaded.space}`, trial {loaded.trial.trial_id} ({where} NNI experiment {loaded.experiment_id}),"
            f"\nexported by nni-nas as plain PyTorch: runs with torch alone.\n\nArchitecture: {arch}\n"
            f"Input: {_input_kind(loaded)} tensor (batch, {', '.join(str(s) for s in loaded.input_shape)}); output: "
            f"{loaded.num_classes} logits.\n\nUsage::\n\n    import torch\n    from model import Network\n"
            '    model = Network().eval(); model.load_state_dict(torch.load("weights.pt", weights_only=True))')


def _is_text(loaded) -> bool:
    """Byte-encoded text networks have one input dimension (``max_len``)."""
    return len(loaded.input_shape) == 1


def _input_kind(loaded) -> str:
    return "int64 token" if _is_text(loaded) else "float"


def _readme(loaded, rank: int | None, formats: tuple[str, ...]) -> str:
    from nni_nas.export_formats import ONNX_FILE, SOURCE_FILE, TORCHSCRIPT_FILE, WEIGHTS_FILE
    from nni_nas.summary import format_count, format_number

    final = loaded.trial.final or {}
    shape = ", ".join(str(s) for s in loaded.input_shape)
    where = f"rank {rank}" if rank is not None else "a trial"
    lines = [f"# {loaded.space}: {where} of NNI experiment {loaded.experiment_id}", ""]
    if loaded.weights_missing is not None:
        lines += [f"**WEIGHTS MISSING**: {loaded.weights_missing}. This folder holds the architecture only "
                  f"(`{SOURCE_FILE}` builds it untrained); retrain it before use.", ""]
    lines += [
        f"Trial `{loaded.trial.trial_id}` ({loaded.trial.status.lower()}), strategy `{loaded.strategy}`, "
        f"seed {loaded.seed}, data `{loaded.data}`.",
        f"Validation accuracy {format_number(final.get('val_acc', final.get('default')))}, test accuracy "
        f"{format_number(final.get('test_acc'))}, {format_count(final.get('params'))} parameters, "
        f"{format_count(final.get('flops'))} FLOPs, {format_number(final.get('latency_ms'), 3)} ms per sample on "
        "one CPU thread.",
        "",
        f"Input: {_input_kind(loaded)} tensor `(batch, {shape})`, prepared like the `{loaded.data}` data set of "
        f"nni-nas; output: `(batch, {loaded.num_classes})` logits. Everything here runs with torch alone (no `nni`).",
        "",
    ]
    if loaded.weights_missing is None and {"source", "weights"} <= set(formats):
        lines += ["```python", "import torch", "from model import Network",
                  'model = Network().eval(); model.load_state_dict(torch.load("weights.pt", weights_only=True))',
                  "```", ""]
    if _is_text(loaded):
        max_len = loaded.input_shape[0]
        lines += ["A text is its UTF-8 bytes, each plus 1, cut or padded with 0 to "
                  f"{max_len} (`nni_nas.text_data.encode`):", "", "```python",
                  f"def encode(text, max_len={max_len}):",
                  '    data = [b + 1 for b in text.encode("utf-8")[:max_len]]',
                  "    return torch.tensor([data + [0] * (max_len - len(data))])",
                  "", 'logits = model(encode("Return the number of seconds since the epoch."))', "```", ""]
    files = {
        SOURCE_FILE: "plain-PyTorch source; `Network()` builds the network with this architecture",
        WEIGHTS_FILE: "trained state_dict (`torch.load(..., weights_only=True)`)",
        TORCHSCRIPT_FILE: '`torch.jit.load("model.ts")`, no Python source needed',
        ONNX_FILE: "ONNX with a dynamic batch size, input `input`, output `logits` (checked with onnxruntime)",
        ARCH_FILE: "the architecture dict (choice label -> value)",
        METRICS_FILE: "the trial's final result, ids, seed, input shape, and each format's largest logit "
                      "difference from the trained network on a fixed batch",
    }
    chosen = {FORMATS[name] for name in formats} if loaded.weights_missing is None else {SOURCE_FILE}
    lines += ["| file | what |", "| --- | --- |"]
    lines += [f"| `{name}` | {what} |" for name, what in files.items()
              if name in chosen or name in (ARCH_FILE, METRICS_FILE)]
    lines += ["", "The forward in `model.py` is the evaluation-mode computation of the searched network "
              "(training-only branches such as drop-path are not part of it).", ""]
    return "\n".join(lines)
