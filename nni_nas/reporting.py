"""Reporting to the NNI web portal as a Lightning callback, and the final result dict."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import nni
import pytorch_lightning as pl


class NniReporter(pl.Callback):
    """Send one intermediate result per validation epoch (the value of ``monitor``) to NNI.

    Outside an NNI trial the report goes to NNI's standalone channel, which only logs it, so the same code
    runs under ``nnictl`` and in a notebook. Sanity-check validation runs are not reported. Each value is also
    appended to ``history`` (and to ``history_file`` if given), so a trial folder keeps its curve.
    """

    def __init__(self, monitor: str = "val_acc", history_file: str | Path | None = None):
        self.monitor = monitor
        self.history_file = Path(history_file) if history_file else None
        self.history: list[float] = []

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        value = float(trainer.callback_metrics[self.monitor])
        self.history.append(value)
        nni.report_intermediate_result(value)
        if self.history_file is not None:
            with self.history_file.open("a") as fh:
                fh.write(json.dumps({"epoch": trainer.current_epoch, self.monitor: value}) + "\n")


def final_result(val_acc: float, test_acc: float, costs: dict[str, float], **extra: Any) -> dict[str, Any]:
    """The trial's one final dict: ``default`` is the validation accuracy (what tuners optimise)."""
    result = {"default": float(val_acc), "val_acc": float(val_acc), "test_acc": float(test_acc), **costs, **extra}
    if not math.isfinite(result["default"]):
        raise FloatingPointError(f"validation accuracy is {val_acc}; the trial did not train")
    return result


def report_final(result: dict[str, Any]) -> None:
    """Send the final dict to NNI (exactly once per trial)."""
    nni.report_final_result(result)
