"""``nni-nas report``: tables and plots from NNI's records of one or several experiments (hand-built with NNI's
real sqlite schema; the slow test in test_export.py reports a real nnictl search)."""

from __future__ import annotations

import math
import random

import pytest
from matplotlib.image import imread

from nni_nas import cli
from nni_nas.results.records import load_experiment
from nni_nas.results.report import Point, best_so_far, pareto_front, points_of
from tests.nni_nas.nni_records import FakeTrial, class_args, make_experiment


def synthetic_trials(prefix: str, seed: int, count: int) -> list[FakeTrial]:
    rng = random.Random(seed)
    trials = []
    for i in range(count):
        status = "FAILED" if i % 7 == 3 else "SUCCEEDED"
        params = int(10 ** rng.uniform(2.5, 4.5))
        acc = round(rng.uniform(0.5, 0.95), 4)
        final = {"default": acc, "val_acc": acc, "test_acc": acc - 0.01, "params": params, "flops": params * 90,
                 "latency_ms": 0.2} if status == "SUCCEEDED" else None
        trials.append(FakeTrial(f"{prefix}{i:02d}", status=status, arch={"width": 8 * (1 + i % 3)}, final=final,
                                save_weights=False))
    return trials


@pytest.fixture(scope="module")
def experiments(tmp_path_factory):
    """An evolution and a random experiment of 15 trials each (2 failed in each), and one with no result."""
    root = tmp_path_factory.mktemp("report") / "nni-experiments"
    make_experiment(root, "evoexp", synthetic_trials("e", 1, 15), class_args(),
                    tuner="strategies.evolution.RegularizedEvolutionTuner")
    make_experiment(root, "rndexp", synthetic_trials("r", 2, 15), class_args())
    make_experiment(root, "empty", [FakeTrial("x1", status="FAILED", save_weights=False)], class_args())
    return root


@pytest.fixture
def report(experiments, monkeypatch, capsys):
    monkeypatch.setenv("NNI_EXPERIMENTS_DIR", str(experiments))

    def run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(["report", *argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def brute_force_front(points: list[Point]) -> set[str]:
    def dominated(p: Point) -> bool:
        return any(q.params <= p.params and q.accuracy >= p.accuracy
                   and (q.params, q.accuracy) != (p.params, p.accuracy) for q in points)

    return {p.trial_id for p in points if not dominated(p)}


def assert_png(path) -> None:
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 500
    assert image.std() > 0.01  # not a blank canvas


def test_compares_two_strategies_in_tables_and_plots(report, experiments):
    code, out, err = report("evoexp", "rndexp", "--top", "3")
    assert code == 0, err
    evo, rnd = load_experiment("evoexp", experiments), load_experiment("rndexp", experiments)
    for record, strategy in ((evo, "evolution"), (rnd, "random")):
        block = out.split(f"experiment {record.experiment_id}:")[1].split("\n\n")[0]
        assert f"strategy {strategy}" in block and "2 failed, 13 succeeded" in block
        table_rows = [line for line in block.splitlines() if line[:1].isdigit()]
        assert [row.split()[1] for row in table_rows] == [t.trial_id for t in record.ranked()[:3]]
        best = record.ranked()[0].final
        assert f"{best['val_acc']:.4f}" in table_rows[0] and f"{best['test_acc']:.4f}" in table_rows[0]
        front_line = next(line for line in block.splitlines() if line.startswith("Pareto front"))
        listed = {item.split(" (")[0] for item in front_line.split(": ", 1)[1].split("), ")}
        assert listed == brute_force_front(points_of(record))
    folder = experiments / "evoexp" / "nni-nas-report" / "vs-rndexp"
    assert f"saved {folder / 'best_so_far.png'}" in out and f"saved {folder / 'accuracy_vs_params.png'}" in out
    assert_png(folder / "best_so_far.png")
    assert_png(folder / "accuracy_vs_params.png")
    assert not list(folder.glob(".*partial*"))


def test_single_experiment_plots_beside_it(report, experiments):
    code, _, err = report("rndexp")
    assert code == 0, err
    assert_png(experiments / "rndexp" / "nni-nas-report" / "best_so_far.png")
    assert_png(experiments / "rndexp" / "nni-nas-report" / "accuracy_vs_params.png")


def test_best_so_far_is_the_running_best_over_submission_order(experiments):
    record = load_experiment("evoexp", experiments)
    curve = best_so_far(record)
    expected, best = [], -math.inf
    for number, trial in enumerate(record.trials):  # the portal's "Trial No.": NNI's sequence id, from 0
        if trial.status == "SUCCEEDED":
            best = max(best, trial.final["default"])
        expected.append((number, best))
    assert curve == expected and curve[-1][1] == record.ranked()[0].final["default"]


def test_pareto_front_matches_brute_force_in_both_modes():
    rng = random.Random(0)
    points = [Point("x", f"t{i}", float(rng.randint(1, 30)), round(rng.random(), 2)) for i in range(60)]
    front = pareto_front(points)
    assert {p.trial_id for p in front} == brute_force_front(points)
    assert [p.params for p in front] == sorted(p.params for p in front)
    errors = [Point("x", p.trial_id, p.params, -p.accuracy) for p in points]  # minimise -accuracy
    assert {p.trial_id for p in pareto_front(errors, "minimize")} == {p.trial_id for p in front}


def test_no_succeeded_trial_fails_in_one_line(report):
    code, out, err = report("empty")
    assert code == 2 and "no succeeded trial: 1 of 1 trials failed: no reason recorded" in out
    assert len(err.strip().splitlines()) == 1 and "nothing to plot" in err


def test_unknown_experiment_fails_in_one_line(report):
    code, _, err = report("evoexp", "nosuchexp")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "unknown experiment 'nosuchexp'" in err


def test_top_table_cuts_the_architecture_unless_asked_for_it_whole(tmp_path, monkeypatch, capsys):
    from nni_nas import cli
    from tests.nni_nas.nni_records import FakeTrial, class_args, make_experiment

    arch = {f"normal_op_{i}_{j}": "sep_conv_5x5" for i in range(2, 6) for j in range(2)} | {"depth": 2}
    make_experiment(tmp_path, "longarch", [FakeTrial("t0", arch=arch, final={"default": 0.5}, save_weights=False)],
                    class_args())
    monkeypatch.setenv("NNI_EXPERIMENTS_DIR", str(tmp_path))
    assert cli.main(["top", "longarch"]) == 0
    cut = capsys.readouterr().out
    assert "..." in cut and "depth=2" not in cut
    assert cli.main(["top", "longarch", "--full-arch"]) == 0
    whole = capsys.readouterr().out
    assert " ".join(f"{label}={value}" for label, value in arch.items()) in whole


def test_importances_of_labels_drawn_together_are_not_called_shares():
    """Two labels a search always changed together each explain the whole spread alone: 1 + 1, not shares of one
    whole; the line says what the numbers are."""
    from nni_nas.results.importance import LabelImportance, importance_text, omega_squared

    groups = [[0.50, 0.51, 0.49], [0.90, 0.91, 0.89]]  # value a vs value b: both labels split the trials the same way
    both = omega_squared(groups)
    assert both > 0.95
    rows = [LabelImportance(label, both, 6, {'"a"': 0.5, '"b"': 0.9}, {'"a"': 3, '"b"': 3}) for label in ("x", "y")]
    text = importance_text(rows)
    assert sum(r.omega_squared for r in rows) > 1.9
    assert "taken alone" in text and "do not add up to 1" in text and "share" not in text
