"""Why trials have no result, as ``nni-nas top`` (and ``search``'s end) says it: the commonest reason from the trials'
own files, counted; NNI's records are hand-built (:mod:`tests.nni_nas.nni_records`)."""

from __future__ import annotations

import pytest

from nni_nas import cli
from nni_nas.runtime.trial_stop import parse_duration, stop_reason
from tests.nni_nas.nni_records import FakeTrial, class_args, make_experiment

NAN = "training loss became nan in epoch {}; lower train.lr (now 1e+30) or check the input data"
LIMIT = "stopped by maxTrialDuration (10 s) after epoch {} of 50; raise maxTrialDuration in the config or lower " \
        "train.epochs (a time limit, not an error in the trial)"
GOOD = {"default": 0.9, "val_acc": 0.9, "params": 1000}
OVER = {"default": 0.0, "over_budget": True, "violations": ["latency_ms 0.31 > max_latency_ms 0.001"], "params": 900}


def failed(trial_id: str, status: str = "FAILED", **files: str) -> tuple[FakeTrial, dict[str, str]]:
    return FakeTrial(trial_id, status=status, arch={"width": 8}, save_weights=False), files


EXPERIMENTS = {
    "nan": [failed(f"n{i}", **{"error.txt": NAN.format(i) + "\n"}) for i in range(3)],
    "budget": [(FakeTrial(f"b{i}", arch={"width": 8}, final=OVER, save_weights=False), {}) for i in range(2)],
    "mixed": [(FakeTrial("m0", arch={"width": 8}, final=GOOD, save_weights=False), {}),
              failed("m1", "USER_CANCELED", **{"error.txt": LIMIT.format(7) + "\n"}),
              failed("m2", "USER_CANCELED", **{"error.txt": LIMIT.format(9) + "\n"}),
              failed("m3", **{"trial.stderr": "Traceback ...\nModuleNotFoundError: No module named 'nni_nas'\n"})],
    "cancelled": [failed("c0", "USER_CANCELED", **{"trial.stderr": "KeyboardInterrupt\n"})],
    # NNI's manager stops a trial over maxTrialDuration with its early-stop flag, which early_stop.js makes count
    "time_limit": [failed(f"t{i}", "EARLY_STOPPED", **{"error.txt": LIMIT.format(3 + i) + "\n"}) for i in range(2)],
}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("failures") / "nni-experiments"
    for name, trials in EXPERIMENTS.items():
        directory = make_experiment(root, name, [trial for trial, _ in trials], class_args())
        for trial, files in trials:
            for file_name, text in files.items():
                (directory / "environments" / "local-env" / "trials" / trial.trial_id / file_name).write_text(text)
    return root


@pytest.fixture
def top(root, monkeypatch, capsys):
    monkeypatch.setenv("NNI_EXPERIMENTS_DIR", str(root))

    def run(experiment_id: str) -> tuple[int, str]:
        code = cli.main(["top", experiment_id])
        out, err = capsys.readouterr()
        assert "Traceback" not in err, err
        return code, out

    return run


def test_every_trial_failed_names_the_commonest_reason_with_a_count(top):
    code, out = top("nan")
    assert code == 1
    assert out.strip() == ("experiment nan: no succeeded trial: 3 of 3 trials failed: training loss became nan in "
                           "epoch 0-2; lower train.lr (now 1e+30) or check the input data")


def test_every_trial_over_budget_names_the_budget(top):
    code, out = top("budget")
    assert code == 1 and "no succeeded trial: every trial was over the max_latency_ms budget (not trained)" in out, out


def test_unranked_trials_are_named_under_the_table(top):
    code, out = top("mixed")
    assert code == 0 and "m0" in out.splitlines()[2]
    assert out.splitlines()[-1] == (
        "not ranked: 2 of 4 trials stopped by maxTrialDuration (10 s) after epoch 7-9 of 50; raise maxTrialDuration in "
        "the config or lower train.epochs (a time limit, not an error in the trial) (and 1 more for 1 other reason: "
        "each trial's error.txt has its own)")


def test_a_cancel_without_a_recorded_reason_is_not_read_from_where_the_interrupt_hit(top):
    code, out = top("cancelled")
    assert code == 1 and "1 of 1 trials were cancelled by NNI (USER_CANCELED), no reason recorded" in out, out


def test_a_failure_before_nni_nas_ran_is_read_from_the_trial_stderr(root, monkeypatch):
    from nni_nas.results.failures import trial_problem
    from nni_nas.results.records import load_experiment

    monkeypatch.setenv("NNI_EXPERIMENTS_DIR", str(root))
    problems = {t.trial_id: trial_problem(t) for t in load_experiment("mixed").trials}
    assert problems["m0"] is None
    assert problems["m3"].line == "ModuleNotFoundError: No module named 'nni_nas'"


def test_stop_reason_tells_the_time_limit_from_a_cancel(tmp_path):
    (tmp_path / "history.jsonl").write_text('{"epoch": 0}\n{"epoch": 1}\n')
    assert parse_duration("25s") == 25 and parse_duration("1.5h") == 5400 and parse_duration(90) == 90
    assert parse_duration(None) is None and parse_duration("soon") is None
    assert stop_reason(tmp_path, 25.0, 24.5, 50).startswith("stopped by maxTrialDuration (25 s) after epoch 2 of 50;")
    assert stop_reason(tmp_path, 25.0, 10.0, 50).startswith("stopped by NNI after epoch 2 of 50 (cancelled")
    assert stop_reason(tmp_path / "none", None, 10.0).startswith("stopped by NNI before its first epoch ended")


def test_an_early_stopped_trial_over_the_time_limit_is_named_by_the_limit_not_the_assessor(top):
    code, out = top("time_limit")
    assert code == 1 and "2 of 2 trials stopped by maxTrialDuration (10 s) after epoch 3-4 of 50" in out, out
    assert "assessor" not in out, out
