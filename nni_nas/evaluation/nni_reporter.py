"""Reporting to the NNI web portal as a Lightning callback, and the final result dict."""

from __future__ import annotations

import json
import logging
import math
import os
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import nni
import pytorch_lightning as pl

from nni_nas.errors import NasError, NonFiniteError, did_you_mean
from nni_nas.manager.client import manager_get, manager_url

_logger = logging.getLogger(__name__)


class NniReporter(pl.Callback):
    """Send one intermediate result per validation epoch (the value of ``monitor``) to NNI.

    Outside an NNI trial the report goes to NNI's standalone channel, which only logs it, so the same code
    runs under ``nnictl`` and in a notebook. Sanity-check validation runs are not reported. Each value is also
    appended to ``history`` (and to ``history_file`` if given), so a trial folder keeps its curve. With several
    processes (DDP) only rank 0 reports and writes; the value is the one Lightning synchronised over the ranks.
    """

    def __init__(self, monitor: str = "val_acc", history_file: str | Path | None = None, require: bool = False):
        self.monitor = monitor
        self.history_file = Path(history_file) if history_file else None
        self.history: list[float] = []
        self.require = require  # a validation epoch that does not log ``monitor`` stops the training

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        if self.monitor not in trainer.callback_metrics:
            if self.require:
                raise MissingMetricError(missing_metric_message(pl_module, self.monitor, trainer.callback_metrics))
            return
        value = float(trainer.callback_metrics[self.monitor])
        self.history.append(value)
        nni.report_intermediate_result(value)
        if self.history_file is not None:
            with self.history_file.open("a") as fh:
                fh.write(json.dumps({"epoch": trainer.current_epoch, self.monitor: value}) + "\n")


SIGNIFICANT_DIGITS = 4


def readable(value: Any, digits: int = SIGNIFICANT_DIGITS) -> Any:
    """``value`` with every float rounded to ``digits`` significant digits, never into its integer part (123456.7
    becomes 123457.0); ints, strings, bools and non-finite floats unchanged; dicts and lists element by element.

    NNI's portal shows the final dict's keys as they come (only ``default`` is formatted), so a trained trial's
    dict is rounded where it is made, once: ``metrics.json``, NNI's records and every table read the same numbers.
    Four digits keep an accuracy's resolution on up to ~10,000 validation samples.
    """
    if isinstance(value, dict):
        return {key: readable(item, digits) for key, item in value.items()}
    if isinstance(value, list):
        return [readable(item, digits) for item in value]
    if not isinstance(value, float) or not math.isfinite(value) or value == 0:
        return value
    return round(value, max(0, digits - 1 - math.floor(math.log10(abs(value)))))


def readable_result(result: dict[str, Any]) -> dict[str, Any]:
    """A final dict :func:`readable`, except its ``arch`` (choice values are the architecture, not measurements)."""
    return {key: value if key == "arch" else readable(value) for key, value in result.items()}


def final_result(value: float, costs: dict[str, Any], *, monitor: str = "val_acc",
                 logged: dict[str, float] | None = None, **extra: Any) -> dict[str, Any]:
    """The trial's one final dict (:func:`readable_result`): ``default`` is the ``monitor`` value (the validation
    accuracy unless the config names another), which tuners optimise; then that value under its own name, the
    other values the module ``logged`` in validation and test (``test_acc`` ...), the costs and ``extra``."""
    result = {"default": float(value), monitor: float(value), **(logged or {}), **costs, **extra}
    if not math.isfinite(result["default"]):
        raise NonFiniteError(f"{monitor} is {value}; the trial did not train")
    return readable_result(result)


class MissingMetricError(NasError, KeyError):
    """The training module never logged the value the search is on (``classArgs.monitor``)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def missing_metric_message(module: Any, monitor: str, logged: Any) -> str:
    """Why the trial stops: the module's name, the value it did not log and those it did (the fix)."""
    names = sorted(str(key) for key in logged)
    return (f"module {type(module).__name__} logged no {monitor!r} in its validation epoch (it logged "
            f"{names or 'nothing'}{did_you_mean(monitor, names)}); log it with self.log({monitor!r}, value) in "
            "validation_step, or set tuner.classArgs.monitor to one of the logged names")


def report_final(result: dict[str, Any]) -> None:
    """Send the final dict to NNI (exactly once per trial), at full precision: the records ``top``, ``export`` and
    the tests compare with the trial's own ``metrics.json`` and with benchmark tables."""
    nni.report_final_result(result)


def next_parameters() -> dict[str, Any] | None:
    """This trial's architecture from NNI: ``nni.get_next_parameter()``, made to agree with the manager's record.

    NNI 3.0's local training service hands parameters out first come, first served: its V3 compatibility layer
    queues each submitted trial's parameters and gives the head of the queue to whichever trial asks first
    (``nni_node/training_service/v3/compat.js``; microsoft/nni#5726, #5693). With several trials starting at once
    a trial can train another trial's architecture while the portal shows the one submitted for it (measured
    here: 5 of 12 trials at ``trialConcurrency: 3``). The manager's record is what the portal shows, and the
    tuner pairs results by ``parameter_id``: so this trial adopts the record the manager holds for it (read from
    its REST API), parameter id included, and every metric it reports carries that id. If the manager cannot be
    asked, NNI's hand-out stands and a warning says so.
    """
    import nni.trial

    params = nni.get_next_parameter()
    record = _manager_parameter_record()
    if record is None or nni.trial._params is None:
        return params
    if record.get("parameter_id") != nni.trial._params.get("parameter_id"):
        _logger.info("NNI handed this trial parameter %s; the manager's record for it is parameter %s: using "
                     "the record (microsoft/nni#5726)", nni.trial._params.get("parameter_id"),
                     record.get("parameter_id"))
        nni.trial._params = record
    return record["parameters"]


def _manager_parameter_record() -> dict[str, Any] | None:
    """The parameter record the NNI manager holds for this trial (``/trial-jobs/<id>``), or None."""
    trial_id = os.environ.get("NNI_TRIAL_JOB_ID", "")
    if manager_url() is None or not trial_id:
        return None
    try:
        job = manager_get(f"trial-jobs/{urllib.parse.quote(trial_id)}")
        record = json.loads(job["hyperParameters"][0])
    except (OSError, ValueError, KeyError, IndexError, TypeError) as err:
        _logger.warning("could not read this trial's parameters from the NNI manager at %s (%s); "
                        "using NNI's hand-out, which the portal may show for another trial", manager_url(), err)
        return None
    return record if isinstance(record, dict) and "parameters" in record and "parameter_id" in record else None
