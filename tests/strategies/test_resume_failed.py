"""On `nnictl resume` NNI sends the tuner only the trials with a final result; the ones that FAILED are read from
the experiment's records, count as the worst result, and are never proposed again."""

from __future__ import annotations

import math

from strategies.evolution import RegularizedEvolutionTuner
from strategies.random_search import RandomTuner
from tests.nni_nas.nni_records import FakeTrial, class_args, make_experiment

SPACE_ARGS = {"widths": [8], "max_depth": 1, "ops": ["conv3x3", "identity"], "activations": ["relu"]}
SPACE = {"space": "digits_cnn", "space_args": SPACE_ARGS}


def test_failed_trials_are_imported_as_the_worst_and_never_proposed_again(tmp_path, monkeypatch):
    probe = RandomTuner(seed=0, **SPACE)
    archs = [probe.generate_parameters(i) for i in range(4)]  # the whole space: 2 ops x 2 skips
    root = tmp_path / "nni-experiments"
    trials = [FakeTrial("ok1", arch=archs[0], final={"default": 0.9}, save_weights=False),
              FakeTrial("bad", status="FAILED", arch=archs[1], save_weights=False),
              FakeTrial("ok2", arch=archs[2], final={"default": 0.8}, save_weights=False)]
    make_experiment(root, "resumed", trials, class_args(space_args=SPACE_ARGS))
    monkeypatch.setenv("NNI_LOG_DIRECTORY", str(root / "resumed" / "log"))  # as NNI sets it for the dispatcher

    tuner = RegularizedEvolutionTuner(population_size=3, sample_size=2, seed=1, **SPACE)
    tuner.import_data([{"parameter": archs[0], "value": 0.9}, {"parameter": archs[2], "value": 0.8}])
    assert [ind.fitness for ind in tuner.history] == [0.9, 0.8, -math.inf]
    assert tuner.history[2].arch == archs[1]
    assert tuner.generate_parameters(10) == archs[3]  # the only architecture neither trained nor failed


def test_outside_a_dispatcher_nothing_more_is_imported(monkeypatch):
    monkeypatch.delenv("NNI_LOG_DIRECTORY", raising=False)
    tuner = RandomTuner(seed=0, **SPACE)
    arch = RandomTuner(seed=0, **SPACE).generate_parameters(0)
    tuner.import_data([{"parameter": arch, "value": 0.5}])
    assert [ind.fitness for ind in tuner.history] == [0.5]
