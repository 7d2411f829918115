"""On `nnictl resume` NNI sends the tuner only the trials with a final result; the ones that FAILED are read from
the experiment's records, count as the worst result, and are never proposed again."""

from __future__ import annotations

import math

import pytest
from nni import NoMoreTrialError

import strategies
from nni_nas.arch import arch_key
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


MULTI_TRIAL = [name for name in strategies.strategy_names() if strategies.get_strategy(name).kind == "multi-trial"]
# 8 architectures: 2 ops x 2 activations x 2 skips; evolution's and Pareto's populations fit in it
SMALL = {"widths": [8], "max_depth": 1, "ops": ["conv3x3", "identity"], "activations": ["relu", "gelu"]}
SMALL_SIZE = 8
POPULATION = {"evolution": {"population_size": 2, "sample_size": 2},
              "pareto": {"population_size": 2, "sample_size": 2}}


@pytest.mark.parametrize("name", MULTI_TRIAL)
def test_a_failed_architecture_is_never_proposed_again(name):
    """Every other trial fails (no final result); the tuner proposes until its space is exhausted. The failed
    architectures then had every chance to come back (at the end they are all that is left): each architecture is
    proposed once, and the tuner stops with NNI's NoMoreTrialError after exactly the space's 8. (The e2e fault test
    counts the same in 3 trials of a large space, where a repeat is too unlikely to show.)"""
    tuner = strategies.get_strategy(name).tuner_class()(space="digits_cnn", space_args=SMALL, seed=0,
                                                        **POPULATION.get(name, {}))
    proposed, failed = [], set()
    with pytest.raises(NoMoreTrialError):
        for parameter_id in range(3 * SMALL_SIZE):
            arch = tuner.generate_parameters(parameter_id)
            proposed.append(arch_key(tuner.canonical(arch)))
            if parameter_id % 2 == 0:
                failed.add(proposed[-1])
                tuner.trial_end(parameter_id, False)
            else:
                value = 0.5 + parameter_id / 100
                tuner.receive_trial_result(parameter_id, arch, {"default": value, "val_acc": value, "params": 100})
                tuner.trial_end(parameter_id, True)
    assert len(failed) == SMALL_SIZE // 2
    assert len(proposed) == len(set(proposed)) == SMALL_SIZE, proposed
