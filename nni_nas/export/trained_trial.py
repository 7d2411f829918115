"""Rebuild the network a trial trained from the files it left in its folder (for export).

A trial folder holds ``settings.json`` (space, space_args, data, input_shape), ``arch.json`` and ``model.pt``
(the state_dict), written by :func:`nni_nas.runtime.trial_files.save_trial_files` for multi-trial and one-shot trials
alike. The network is built from a *fresh* space instance, frozen with the architecture, and given the saved weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nni_nas.errors import NasError
from nni_nas.results.records import ExperimentRecord, TrialRecord
from nni_nas.runtime.trial_files import SETTINGS_FILE, TRAINED_WEIGHTS_FILE


@dataclass
class TrialModel:
    """A trial's trained network in evaluation mode, with what describes it."""

    experiment_id: str
    trial: TrialRecord
    arch: dict[str, Any]
    space: str
    space_args: dict[str, Any]
    data: str | None
    input_shape: tuple[int, ...]
    num_classes: int
    seed: int | None
    strategy: str
    model: nn.Module
    weights_missing: str | None  # why the network has random weights, or None
    preprocessing: dict[str, Any] | None = None  # how the data set scaled raw inputs (image_folder), or None
    module: str = "classification"  # the Lightning module it trained with (classification, regression, file.py:Class)
    monitor: str = "val_acc"  # the logged value it was searched on (the final dict's ``default``)

    def example_batch(self, batch_size: int, seed: int = 0) -> torch.Tensor:
        """A fixed batch of inputs: the space's own seeded :meth:`~model_spaces.contract.SearchSpace.example_input`
        (normal noise for images, random bytes for texts)."""
        generator = torch.Generator().manual_seed(seed)
        if hasattr(self.model, "example_input"):
            return self.model.example_input(batch_size, generator=generator)
        return torch.randn(batch_size, *self.input_shape, generator=generator)  # a user's space: real-valued inputs


def load_trial_model(record: ExperimentRecord, trial: TrialRecord) -> TrialModel:
    """The trained network of ``trial``; random weights (and ``weights_missing`` set) when it saved none."""
    import model_spaces
    import strategies
    from nni_nas.arch import InvalidArchError, canonical, freeze, search_choices

    folder = trial.trial_dir
    if trial.remote is not None and (folder is None or not Path(folder).is_dir()):
        raise NasError(f"trial {trial.trial_id} ran on machine {trial.remote.machine_index + 1} of the machineList "
                       f"({trial.remote.host}, {trial.remote.path}) and its files could not be fetched from there "
                       "(see the warning above); nothing to export")
    if folder is None or not Path(folder).is_dir():
        raise NasError(f"trial {trial.trial_id}: its folder {folder} no longer exists (was the experiment folder "
                       "moved or cleaned?); nothing to export")
    folder = Path(folder)
    settings = _read_json(folder / SETTINGS_FILE) or {}
    class_args = settings.get("class_args") or record.class_args
    space = class_args.get("space")
    if not space:
        raise NasError(f"trial {trial.trial_id}: neither {folder / SETTINGS_FILE} nor the experiment config names "
                       "a space (tuner.classArgs.space); is this an nni-nas experiment?")
    arch = trial.arch  # the trial's arch.json (checked to be an object), else NNI's parameters
    space_args = dict(class_args.get("space_args") or {})
    weights_path = folder / TRAINED_WEIGHTS_FILE
    state = _read_weights(weights_path, trial.trial_id) if weights_path.is_file() else None
    input_shape, num_classes = _shape_and_classes(settings, class_args, state, trial.trial_id)

    # where the config's own code is: the trial's folder (on a remote machine, the uploaded copy there, which
    # export cannot read: the experiment's own trialCodeDirectory then)
    code_dir = settings.get("code_dir")
    if not code_dir or not Path(code_dir).is_dir():
        code_dir = record.config.get("trialCodeDirectory")
    factory = model_spaces.space_factory(space, input_shape, num_classes, code_dir=code_dir, **space_args)
    torch.manual_seed(0)  # without weights, the stand-in initialisation is at least reproducible
    try:
        blank = factory()  # arch.json leaves out the labels the network does not use; freezing needs them all
        model = freeze(factory, canonical(blank, search_choices(blank), arch))
    except (InvalidArchError, KeyError, ValueError) as err:
        raise NasError(f"trial {trial.trial_id}: architecture {arch} does not fit space {space!r}: {err}") from None
    weights_missing = None
    if state is None:
        weights_missing = (f"no {TRAINED_WEIGHTS_FILE} in {folder}; the trial may have failed or been stopped "
                           "before saving")
    else:
        try:
            model.load_state_dict(state)
        except RuntimeError as err:
            raise NasError(f"trial {trial.trial_id}: {weights_path} does not fit the rebuilt network (has the "
                           f"space {space!r} changed since the search?): {' '.join(str(err).split())[:300]}") from None
    model.eval()
    final = trial.final or {}
    train = class_args.get("train") or {}
    seed = final.get("seed", train.get("seed", class_args.get("seed")))
    strategy = settings.get("tuner_class") or strategies.strategy_label(record.config.get("tuner") or {})
    from nni_nas.config import DEFAULT_MONITOR

    module = class_args.get("module") or "classification"
    monitor = class_args.get("monitor") or DEFAULT_MONITOR.get(module, "val_acc")
    return TrialModel(record.experiment_id, trial, arch, space, space_args, class_args.get("data"),
                      tuple(input_shape), num_classes, seed, strategy, model, weights_missing,
                      settings.get("preprocessing"), module, monitor)


def _shape_and_classes(settings: dict[str, Any], class_args: dict[str, Any], state: dict | None,
                       trial_id: str) -> tuple[tuple[int, ...], int]:
    """Input shape and class count: from settings.json, else from the data set, else from the weights."""
    from nni_nas.data import data_info

    input_shape = tuple(settings.get("input_shape") or ())
    num_classes = settings.get("num_classes")
    if input_shape and num_classes:
        return input_shape, int(num_classes)
    try:
        info_shape, info_classes = data_info(class_args.get("data", "digits"), **(class_args.get("data_args") or {}))
    except (OSError, KeyError, TypeError, ValueError) as err:
        if not input_shape or state is None:
            raise NasError(f"trial {trial_id}: cannot tell the network's input shape and classes: settings.json "
                           f"lacks them and the data set is not available ({err})") from None
        return input_shape, _classes_from_weights(state, trial_id)
    return input_shape or tuple(info_shape), int(num_classes or info_classes)


def _classes_from_weights(state: dict[str, torch.Tensor], trial_id: str) -> int:
    # The classifier is the last layer that has a weight matrix in every nni-nas space.
    matrices = [t for key, t in state.items() if key.endswith("weight") and t.dim() == 2]
    if not matrices:
        raise NasError(f"trial {trial_id}: cannot infer the number of classes from its weights")
    return int(matrices[-1].shape[0])


def _read_weights(path: Path, trial_id: str) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises RuntimeError, EOFError, UnpicklingError, ... for a bad file
        raise NasError(f"trial {trial_id}: {path} cannot be read as trained weights ({type(err).__name__}: "
                       f"{' '.join(str(err).split())[:200]}); the file is damaged or truncated") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise NasError(f"trial {trial_id}: {path} does not hold a state_dict (a mapping of names to tensors)")
    return state


def _read_json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise NasError(f"{path} is not valid JSON ({err}); the trial was probably interrupted while writing it") \
            from None
