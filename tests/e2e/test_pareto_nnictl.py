"""NasParetoEvolution through the real nnictl on digits (4 trials of 1 epoch): the front file the tuner writes,
``nni-nas top --pareto``, and the brute-force front of NNI's own records name the same trials; ``export --pareto``
writes each of them, and every format reproduces the trained network without nni (the export parity checks of
test_export_nnictl.py); ``report`` draws the front against each cost."""

from __future__ import annotations

import json

import pytest

from nni_nas.results.records import load_experiment
from tests.e2e.portal import finished_search
from tests.e2e.test_export_nnictl import check_exported, nni_nas_cli

pytestmark = pytest.mark.slow

CONFIG = """
experimentName: e2e-pareto
trialCommand: python -m nni_nas.trial --config search.yml
trialCodeDirectory: .
trialConcurrency: 1
searchSpace: {}
maxTrialNumber: 4
maxExperimentDuration: 15m
tuner:
  className: strategies.pareto_evolution.ParetoEvolutionTuner
  codeDirectory: .
  classArgs:
    space: digits_cnn
    space_args: {widths: [8, 16, 32], max_depth: 2}
    data: digits
    train: {epochs: 1, batch_size: 64, lr: 0.05, seed: 0, latency_runs: 5, threads: 1}
    objectives: [{metric: val_acc, mode: max}, {metric: params, mode: min}]
    population_size: 2
    sample_size: 2
    seed: 0
trainingService:
  platform: local
"""


@pytest.fixture(scope="module")
def pareto_search(tmp_path_factory):
    yield from finished_search(tmp_path_factory, "pareto", CONFIG)


def test_front_file_top_and_export_agree_with_the_records(pareto_search, tmp_path):
    experiment_id, home, env = pareto_search
    record = load_experiment(experiment_id, home / "nni-experiments")
    finals = {t.trial_id: t.final for t in record.succeeded()}
    assert len(finals) == 4 and all(f["default"] == f["val_acc"] for f in finals.values())  # one default each
    brute = {i for i, f in finals.items() if not any(
        g["val_acc"] >= f["val_acc"] and g["params"] <= f["params"] and g != f for g in finals.values())}

    front_file = json.loads((home / "nni-experiments" / experiment_id / "pareto_front.json").read_text())
    assert front_file["evaluated"] == 4
    assert {entry["trial_id"] for entry in front_file["front"]} == brute
    for entry in front_file["front"]:
        assert entry["values"] == {"val_acc": finals[entry["trial_id"]]["val_acc"],
                                   "params": finals[entry["trial_id"]]["params"]}

    proc = nni_nas_cli(env, home, "top", experiment_id, "--pareto")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert "Pareto front of val_acc:max, params:min" in lines[0]
    listed = [line.split()[1] for line in lines[3:]]
    assert set(listed) == brute

    rows = check_exported(experiment_id, home, env, top=len(brute), tmp_path=tmp_path, select=("--pareto",))
    # the same trials; the index ranks by val_acc, which is the front's order when val_acc is its first objective
    assert [row["folder"].split("-", 1)[1] for row in rows] == listed
    metrics = json.loads((home / "exported" / rows[0]["folder"] / "metrics.json").read_text())
    assert metrics["pareto_front"] == {"objectives": "val_acc:max, params:min", "position": 1, "size": len(brute)}

    proc = nni_nas_cli(env, home, "report", experiment_id)
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = home / "nni-experiments" / experiment_id / "nni-nas-report"
    for cost in ("params", "flops", "latency_ms"):
        assert (folder / f"accuracy_vs_{cost}.png").stat().st_size > 10_000
        assert f"Pareto front (accuracy vs {cost})" in proc.stdout
