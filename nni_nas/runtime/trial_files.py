"""The files a trial leaves in its output folder, for export and report: their names, and writing them.

Multi-trial and one-shot trials alike write ``arch.json`` (the trained architecture), ``settings.json`` (space,
data, input shape, classes, the config's classArgs), ``model.pt`` (the trained state_dict) and ``metrics.json``
(the final result dict); :mod:`nni_nas.export.trained_trial` reads them back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nni_nas.config import NasSettings

ARCH_FILE = "arch.json"
TRAINED_WEIGHTS_FILE = "model.pt"
METRICS_FILE = "metrics.json"
SETTINGS_FILE = "settings.json"
ERROR_FILE = "error.txt"
# what one run of a trial writes as it goes; a re-run of the same trial (``nnictl resume``) starts without them
RUN_FILES = (ERROR_FILE, METRICS_FILE, TRAINED_WEIGHTS_FILE, "history.jsonl", "search_history.jsonl",
             "derived.jsonl")


def clear_previous_run(out_dir: Path) -> list[str]:
    """Remove what an earlier, interrupted run of this trial left (a stale ``error.txt`` beside a new result,
    per-epoch histories that would be appended to twice); return the names removed."""
    removed = []
    for name in RUN_FILES:
        path = out_dir / name
        if path.is_file():
            path.unlink()
            removed.append(name)
    return removed


def save_trial_files(out_dir: Path, arch: dict[str, Any] | None = None, model: Any = None,
                     result: dict[str, Any] | None = None, settings: NasSettings | None = None,
                     input_shape: tuple[int, ...] | None = None, num_classes: int | None = None,
                     preprocessing: dict[str, Any] | None = None) -> None:
    """Write what export needs into the trial folder; each file is written atomically (temp + rename)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if arch is not None:
        write_text_atomic(out_dir / ARCH_FILE, json.dumps(arch, indent=2))
    if settings is not None:
        payload = {"class_args": settings.class_args(), "tuner_class": settings.tuner_class,
                   "config_path": str(settings.config_path),
                   "code_dir": str(settings.code_dir) if settings.code_dir else None,
                   "input_shape": list(input_shape or []),
                   "num_classes": num_classes, "preprocessing": preprocessing}
        write_text_atomic(out_dir / SETTINGS_FILE, json.dumps(payload, indent=2))
    if model is not None:
        import torch

        tmp = out_dir / (TRAINED_WEIGHTS_FILE + ".tmp")
        torch.save(model.state_dict(), tmp)
        tmp.replace(out_dir / TRAINED_WEIGHTS_FILE)
    if result is not None:
        write_text_atomic(out_dir / METRICS_FILE, json.dumps(result, indent=2))


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``path`` through a temporary file and a rename, so a crash never leaves it half written."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
