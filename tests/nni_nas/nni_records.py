"""Build an NNI experiment folder by hand, with the schema of the sqlite database that NNI 3.0's manager writes
(``<root>/<id>/db/nni.sqlite``: ExperimentProfile, TrialJobEvent, MetricData, the metric JSON-encoded twice),
and trial folders with the files the nni-nas trial saves. Lets export and report be tested without nnictl."""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

# As created by NNI 3.0's manager (copied from a real experiment's `sqlite3 nni.sqlite .schema`).
SCHEMA = """
CREATE TABLE TrialJobEvent (timestamp integer, trialJobId text, event text, data text, logPath text,
    sequenceId integer, message text, environmentId text);
CREATE INDEX TrialJobEvent_trialJobId on TrialJobEvent(trialJobId);
CREATE INDEX TrialJobEvent_event on TrialJobEvent(event);
CREATE TABLE MetricData (timestamp integer, trialJobId text, parameterId text, type text, sequence integer,
    data text);
CREATE INDEX MetricData_trialJobId on MetricData(trialJobId);
CREATE INDEX MetricData_type on MetricData(type);
CREATE TABLE ExperimentProfile (params text, id text, execDuration integer, startTime integer, endTime integer,
    logDir text, nextSequenceId integer, revision integer);
CREATE INDEX ExperimentProfile_id on ExperimentProfile(id);
"""


@dataclass
class FakeTrial:
    """One trial: its status, architecture, results, and whether it saved a trained network."""

    trial_id: str
    status: str = "SUCCEEDED"
    arch: dict[str, Any] = field(default_factory=dict)
    final: dict[str, Any] | None = None
    intermediate: list[float] = field(default_factory=list)
    save_weights: bool = True


def class_args(space: str = "digits_cnn", space_args: dict | None = None, tuner_seed: int = 0) -> dict[str, Any]:
    return {"space": space, "space_args": space_args or {}, "data": "digits", "data_args": {},
            "train": {"epochs": 1, "seed": 0}, "seed": tuner_seed}


def make_experiment(root: Path, experiment_id: str, trials: list[FakeTrial], args: dict[str, Any],
                    tuner: str = "strategies.random_search.RandomTuner", input_shape=(1, 8, 8),
                    num_classes: int = 10, optimize_mode: str = "maximize") -> Path:
    """Write the experiment folder and its trial folders; return the experiment folder."""
    import model_spaces
    from nni_nas.arch import freeze
    from nni_nas.config import NasSettings
    from nni_nas.runtime.trial_files import save_trial_files

    directory = root / experiment_id
    (directory / "db").mkdir(parents=True)
    config = {"experimentName": experiment_id, "searchSpace": {}, "trialConcurrency": 1,
              "trialCommand": "python -m nni_nas.trial --config x.yml",
              "tuner": {"className": tuner, "classArgs": {**args, "optimize_mode": optimize_mode}},
              "trainingService": {"platform": "local"}}
    settings = NasSettings.from_class_args(args, tuner_class=tuner)
    conn = sqlite3.connect(directory / "db" / "nni.sqlite")
    conn.executescript(SCHEMA)
    clock = 1_795_000_000_000
    conn.execute("INSERT INTO ExperimentProfile VALUES (?, ?, 0, ?, NULL, ?, ?, 0)",
                 (json.dumps(config), experiment_id, clock, str(directory / "log"), len(trials)))
    for sequence, trial in enumerate(trials):
        folder = directory / "environments" / "local-env" / "trials" / trial.trial_id
        save_trial_files(folder, arch=trial.arch, settings=settings, input_shape=input_shape, num_classes=num_classes)
        if trial.save_weights:
            torch.manual_seed(sequence)
            factory = lambda: model_spaces.build_space(args["space"], input_shape, num_classes,  # noqa: E731
                                                       **args.get("space_args", {}))
            model = freeze(factory, trial.arch)
            model = randomise(model, sequence, example_batch(model, input_shape, 4, seed=sequence))
            save_trial_files(folder, model=model)
        if trial.final is not None:
            save_trial_files(folder, result=trial.final)
        payload = {"parameter_id": sequence, "parameter_source": "algorithm", "parameters": trial.arch,
                   "parameter_index": 0}
        clock += 1000
        conn.execute("INSERT INTO TrialJobEvent VALUES (?, ?, 'WAITING', ?, NULL, ?, NULL, 'local-env')",
                     (clock, trial.trial_id, json.dumps(payload), sequence))
        clock += 1000
        conn.execute("INSERT INTO TrialJobEvent VALUES (?, ?, 'RUNNING', NULL, ?, ?, NULL, 'local-env')",
                     (clock, trial.trial_id, str(folder), sequence))
        for index, value in enumerate(trial.intermediate):
            clock += 10
            conn.execute("INSERT INTO MetricData VALUES (?, ?, ?, 'PERIODICAL', ?, ?)",
                         (clock, trial.trial_id, str(sequence), index, json.dumps(json.dumps(value))))
        if trial.final is not None:
            clock += 10
            conn.execute("INSERT INTO MetricData VALUES (?, ?, ?, 'FINAL', 0, ?)",
                         (clock, trial.trial_id, str(sequence), json.dumps(json.dumps(trial.final))))
        clock += 10
        conn.execute("INSERT INTO TrialJobEvent VALUES (?, ?, ?, NULL, ?, ?, NULL, 'local-env')",
                     (clock, trial.trial_id, trial.status, str(folder), sequence))
    conn.commit()
    conn.close()
    return directory


def example_batch(model: torch.nn.Module, input_shape, size: int, seed: int) -> torch.Tensor:
    """Seeded inputs for ``model``: its space's ``example_input`` (text spaces take int64 tokens), else normal
    noise of ``input_shape``."""
    torch.manual_seed(seed)
    own = getattr(model, "example_input", None)
    return own(size) if callable(own) else torch.randn(size, *input_shape)


def randomise(model: torch.nn.Module, seed: int, example: torch.Tensor | None = None) -> torch.nn.Module:
    """Seeded random normalisation statistics and affine parameters on top of the default initialisation, so
    that evaluation mode differs from a fresh network. With ``example``, the output layer is rescaled so that
    logits have a trained classifier's scale (a random deep network's can reach hundreds, where float32
    rounding alone exceeds an absolute 1e-5)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if name.endswith(("running_var", ".weight")) and tensor.dim() == 1:
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=generator))
            elif name.endswith(("running_mean", ".bias")):
                tensor.copy_(0.1 * torch.randn(tensor.shape, generator=generator))
    model.eval()
    if example is not None:
        _rescale_output_layer(model, example)
    return model


def _rescale_output_layer(model: torch.nn.Module, example: torch.Tensor, scale: float = 3.0) -> None:
    outputs: dict[int, torch.Tensor] = {}
    handles = [m.register_forward_hook(lambda m, i, o: outputs.__setitem__(id(m), o))
               for m in model.modules() if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        logits = model(example)
        for handle in handles:
            handle.remove()
        last = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and outputs.get(id(m)) is logits]
        if last:
            factor = scale / float(logits.abs().max())
            last[0].weight.mul_(factor)
            if last[0].bias is not None:
                last[0].bias.mul_(factor)


def random_arch(choices: dict[str, list], seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    return {label: rng.choice(values) for label, values in choices.items()}
