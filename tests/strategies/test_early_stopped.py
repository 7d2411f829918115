"""A trial NNI's assessor stopped (EARLY_STOPPED) is recorded by the tuner as stopped early: the worst result, never a
result at full fidelity, never proposed again, on resume too; a trial that FAILED stays a failure."""

from __future__ import annotations

import math

from strategies.random_search import RandomTuner
from tests.nni_nas.nni_records import FakeTrial, class_args, make_experiment

SPACE_ARGS = {"widths": [8], "max_depth": 1, "ops": ["conv3x3", "identity"], "activations": ["relu"]}
SPACE = {"space": "digits_cnn", "space_args": SPACE_ARGS}


def records(tmp_path, monkeypatch, archs, statuses):
    """The experiment's records with one trial per arch (parameter id = its index), as the dispatcher reads them."""
    root = tmp_path / "nni-experiments"
    trials = [FakeTrial(f"t{i}", status=status, arch=arch, save_weights=False,
                        final={"default": 0.9} if status == "SUCCEEDED" else None, intermediate=[0.5])
              for i, (arch, status) in enumerate(zip(archs, statuses, strict=True))]
    make_experiment(root, "assessed", trials, class_args(space_args=SPACE_ARGS))
    monkeypatch.setenv("NNI_LOG_DIRECTORY", str(root / "assessed" / "log"))  # as NNI sets it for the dispatcher


def test_an_early_stopped_trial_is_recorded_as_such_and_a_failed_one_as_a_failure(tmp_path, monkeypatch):
    tuner = RandomTuner(seed=0, **SPACE)
    archs = [tuner.generate_parameters(i) for i in range(3)]
    records(tmp_path, monkeypatch, archs, ["SUCCEEDED", "EARLY_STOPPED", "FAILED"])
    tuner.receive_trial_result(0, archs[0], {"default": 0.9})
    tuner.trial_end(0, True)
    tuner.trial_end(1, False)
    tuner.trial_end(2, False)
    assert [(ind.fitness, ind.early_stopped) for ind in tuner.history] == [
        (0.9, False), (-math.inf, True), (-math.inf, False)]


def test_on_resume_early_stopped_trials_are_imported_and_never_proposed_again(tmp_path, monkeypatch):
    probe = RandomTuner(seed=0, **SPACE)
    archs = [probe.generate_parameters(i) for i in range(4)]  # the whole space: 2 ops x 2 skips
    records(tmp_path, monkeypatch, archs[:3], ["SUCCEEDED", "EARLY_STOPPED", "FAILED"])
    tuner = RandomTuner(seed=1, **SPACE)
    tuner.import_data([{"parameter": archs[0], "value": 0.9}])
    assert [(ind.arch, ind.fitness, ind.early_stopped) for ind in tuner.history] == [
        (archs[0], 0.9, False), (archs[1], -math.inf, True), (archs[2], -math.inf, False)]
    assert tuner.generate_parameters(10) == archs[3]  # the only architecture neither trained, stopped nor failed


def test_a_forwarded_intermediate_result_is_no_final_result(monkeypatch):
    """``deprecated: {includeIntermediateResults: true}`` makes NNI forward an early-stopped trial's last epoch as its
    final result: a number, where every nni-nas trial reports a dict."""
    monkeypatch.setenv("NNI_INCLUDE_INTERMEDIATE_RESULTS", "true")
    tuner = RandomTuner(seed=0, **SPACE)
    archs = [tuner.generate_parameters(i) for i in range(2)]
    tuner.receive_trial_result(0, archs[0], 0.97)
    tuner.receive_trial_result(1, archs[1], {"default": 0.5})
    assert [(ind.fitness, ind.early_stopped) for ind in tuner.history] == [(-math.inf, True), (0.5, False)]
