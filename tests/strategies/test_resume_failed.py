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


@pytest.mark.parametrize("resumed_state", ["RUNNING", "ADD_RESUMED"])
def test_an_interrupted_trial_is_run_again_and_a_rerun_trial_is_not_handed_out(tmp_path, monkeypatch, resumed_state):
    """A trial that FAILED because its manager was lost or the disk filled up (its error.txt begins 'interrupted: ')
    says nothing about its architecture: on resume the tuner hands that architecture out first, and it is not in the
    history. A trial that was RUNNING when the manager went away is run again by NNI itself under its own id: its
    architecture is not handed out to another trial. Its last event is RUNNING, or ADD_RESUMED once the resumed
    manager has stored it (while the tuner starts: both were seen)."""
    from nni import NoMoreTrialError

    probe = RandomTuner(seed=0, **SPACE)
    archs = [probe.generate_parameters(i) for i in range(4)]  # the whole space
    root = tmp_path / "nni-experiments"
    trials = [FakeTrial("ok", arch=archs[0], final={"default": 0.9}, save_weights=False),
              FakeTrial("lost", status="FAILED", arch=archs[1], save_weights=False),
              FakeTrial("rerun", status=resumed_state, arch=archs[2], save_weights=False),
              FakeTrial("bad", status="FAILED", arch=archs[3], save_weights=False)]
    folder = make_experiment(root, "resumed", trials, class_args(space_args=SPACE_ARGS))
    trials_dir = folder / "environments" / "local-env" / "trials"
    (trials_dir / "lost" / "error.txt").write_text(
        "interrupted: this trial lost its NNI manager (localhost:8080 does not answer ...); `nni-nas resume resumed` "
        "runs this trial's architecture again\n")
    (trials_dir / "bad" / "error.txt").write_text("training loss became nan in epoch 0; lower train.lr\n")
    monkeypatch.setenv("NNI_LOG_DIRECTORY", str(folder / "log"))

    tuner = RegularizedEvolutionTuner(population_size=3, sample_size=2, seed=1, **SPACE)
    tuner.import_data([{"parameter": archs[0], "value": 0.9}])
    assert [(ind.arch, ind.fitness) for ind in tuner.history] == [(archs[0], 0.9), (archs[3], -math.inf)]
    assert tuner.generate_parameters(10) == archs[1]  # the interrupted one, first
    with pytest.raises(NoMoreTrialError):  # archs[2] runs again under NNI's own resume: never a second time
        tuner.generate_parameters(11)


def test_the_interrupted_architecture_is_the_first_proposal_in_a_large_space(tmp_path, monkeypatch):
    """In a space of hundreds of architectures the tuner's own next proposal is another one: only the rerun rule
    makes the interrupted trial's architecture the first handed out on resume (then never again)."""
    space_args = {"widths": [8, 16, 32], "max_depth": 3, "ops": ["conv3x3", "identity", "conv5x5"],
                  "activations": ["relu", "gelu"]}
    space = {"space": "digits_cnn", "space_args": space_args}
    probe = RandomTuner(seed=3, **space)
    done, lost = probe.generate_parameters(0), probe.generate_parameters(1)
    root = tmp_path / "nni-experiments"
    folder = make_experiment(root, "big", [FakeTrial("ok", arch=done, final={"default": 0.9}, save_weights=False),
                                           FakeTrial("lost", status="FAILED", arch=lost, save_weights=False)],
                             class_args(space_args=space_args))
    (folder / "environments" / "local-env" / "trials" / "lost" / "error.txt").write_text(
        "interrupted: the disk is full (No space left on device); free space there, then ...\n")
    monkeypatch.setenv("NNI_LOG_DIRECTORY", str(folder / "log"))
    tuner = RegularizedEvolutionTuner(population_size=3, sample_size=2, seed=1, **space)
    tuner.import_data([{"parameter": done, "value": 0.9}])
    proposals = [tuner.generate_parameters(10 + i) for i in range(5)]
    assert proposals[0] == tuner.canonical(lost) and proposals.count(proposals[0]) == 1


# hyperband proposes an architecture again by design (promoted to the next rung): its rule, a failed trial is never
# promoted, is tests/strategies/test_hyperband.py's test_a_failed_trial_is_never_promoted
MULTI_TRIAL = [name for name in strategies.strategy_names()
               if strategies.get_strategy(name).kind == "multi-trial" and name != "hyperband"]
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


def test_the_result_of_a_trial_nni_runs_again_joins_the_history(tmp_path, monkeypatch):
    """A trial RUNNING when the manager stopped is run again by NNI on resume, and NNI's dispatcher hands its final
    result to import_data (not to receive_trial_result): the tuner records it, once, as that trial's result; a later
    finished trial's import is unaffected."""
    probe = RandomTuner(seed=0, **SPACE)
    archs = [probe.generate_parameters(i) for i in range(3)]
    root = tmp_path / "nni-experiments"
    trials = [FakeTrial("ok", arch=archs[0], final={"default": 0.9}, save_weights=False),
              FakeTrial("rerun", status="RUNNING", arch=archs[1], save_weights=False)]
    folder = make_experiment(root, "resumed", trials, class_args(space_args=SPACE_ARGS))
    monkeypatch.setenv("NNI_LOG_DIRECTORY", str(folder / "log"))
    tuner = RegularizedEvolutionTuner(population_size=3, sample_size=2, seed=1, **SPACE)
    tuner.import_data([{"parameter": archs[0], "value": 0.9}])
    assert [(ind.arch, ind.fitness) for ind in tuner.history] == [(archs[0], 0.9)]
    tuner.import_data([{"parameter": archs[1], "value": {"default": 0.7}}])  # NNI's rerun of trial 1 reports
    tuner.import_data([{"parameter": archs[1], "value": {"default": 0.1}}])  # no second result for it
    assert [(ind.arch, ind.fitness) for ind in tuner.history] == [(archs[0], 0.9), (archs[1], 0.7)]
    assert tuner.generate_parameters(10) == archs[2]  # the one architecture neither trained nor running
