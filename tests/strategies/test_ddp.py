"""One-shot search on two processes (Lightning's DDP, gloo on the CPU), through the real trial command.

Each run is ``python -m nni_nas.trial --config X --out DIR`` with ``train: {devices: 2, strategy: ddp}``: Lightning
re-runs that command for rank 1, as it does under nnictl. ``NNI_NAS_RANK_TRACE`` makes each rank write a hash of
the architecture parameters (DARTS alpha; the ENAS controller, and its reward baseline) and of the supernet's
weights after every step; the tests assert that the ranks agree at every step, that only one process reported to
NNI (its standalone channel logs every report), and that what rank 0 derived is what a single process derives from
the same parameters. The three runs start at once (each is mostly imports and process-group setup at these sizes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

import model_spaces
from nni_nas.arch import search_choices
from nni_nas.data import data_info
from nni_nas.runtime.distributed import TRACE_ENV, fingerprint
from strategies.darts.supernet import DartsSupernet, derive_architecture
from strategies.enas.controller import EnasController
from strategies.enas.settings import EnasSettings

SEARCH_EPOCHS = 2
TRAIN = {"epochs": 1, "batch_size": 256, "seed": 0, "latency_runs": 2, "devices": 2, "strategy": "ddp", "threads": 1}
DARTS_SPACE = {"width": 4, "num_cells": 3, "num_nodes": 2}
ENAS_SPACE = {"num_layers": 2, "channels": 4}
RUNS = {
    "darts_order1": {"className": "strategies.darts.DartsTuner", "classArgs": {
        "space": "darts", "space_args": DARTS_SPACE, "order": 1, "search_batch_size": 256}},
    "darts_order2": {"className": "strategies.darts.DartsTuner", "classArgs": {
        "space": "darts", "space_args": DARTS_SPACE, "order": 2, "search_batch_size": 256}},
    "enas": {"className": "strategies.enas.EnasTuner", "classArgs": {
        "space": "enas_macro", "space_args": ENAS_SPACE, "controller_steps": 3, "controller_batch": 2,
        "derive_samples": 3}},
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict]:
    """Start the three two-process trials at once; each one's folder, trace and output."""
    root = tmp_path_factory.mktemp("ddp")
    started = {}
    for name, tuner in RUNS.items():
        folder = root / name
        folder.mkdir()
        tuner["classArgs"].update({"data": "digits", "train": TRAIN, "search_epochs": SEARCH_EPOCHS,
                                   "retrain": False})
        config = {"experimentName": name, "trialCommand": f"python -m nni_nas.trial --config {name}.yml",
                  "trialCodeDirectory": ".", "trialConcurrency": 1, "searchSpace": {}, "maxTrialNumber": 1,
                  "tuner": tuner, "trainingService": {"platform": "local"}}
        (folder / f"{name}.yml").write_text(yaml.safe_dump(config))
        env = {**os.environ, TRACE_ENV: str(folder / "trace")}
        for key in ("LOCAL_RANK", "WORLD_SIZE", "MASTER_PORT", "MASTER_ADDR", "NODE_RANK", "NNI_PLATFORM"):
            env.pop(key, None)
        log = (folder / "log.txt").open("w")
        started[name] = (subprocess.Popen([sys.executable, "-m", "nni_nas.runtime.trial", "--config", f"{name}.yml",
                                           "--out", "out"], cwd=folder, env=env, stdout=log,
                                          stderr=subprocess.STDOUT), folder)
    done = {}
    for name, (process, folder) in started.items():
        code = process.wait(timeout=600)
        log = (folder / "log.txt").read_text()
        assert code == 0, f"{name} failed:\n{log[-3000:]}"
        done[name] = {"out": folder / "out", "trace": folder / "trace", "log": log}
    return done


def ranks_agree(trace: Path) -> list[dict]:
    """Rank 0's per-step hashes, after asserting rank 1 wrote the same ones at every step."""
    ranks = [[json.loads(line) for line in (trace / f"rank{r}.jsonl").read_text().splitlines()] for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) > SEARCH_EPOCHS
    for step, (zero, one) in enumerate(zip(*ranks)):
        zero.pop("time"), one.pop("time")
        assert zero == one, f"the ranks differ after step {step}: {zero} != {one}"
    # the parameters did move (hashes of a frozen tensor would agree trivially)
    assert len({r["arch"] for r in ranks[0]}) > SEARCH_EPOCHS and len({r["weights"] for r in ranks[0]}) > 2
    return ranks[0]


def reported_once(run: dict) -> dict:
    """One intermediate result per epoch and one final result reached NNI (outside nnictl its standalone channel
    logs each report), all from rank 0: rank 1 would repeat them; rank 0's history has one line per epoch."""
    log = run["log"]
    assert log.count("Intermediate result:") == SEARCH_EPOCHS, log[-2000:]
    assert log.count("Final result:") == 1
    history = (run["out"] / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in history] == list(range(SEARCH_EPOCHS))
    return json.loads((run["out"] / "metrics.json").read_text())


@pytest.mark.parametrize("name", ["darts_order1", "darts_order2"])
def test_darts_on_two_processes_keeps_alpha_equal_reports_once_and_derives_as_one_process(runs, name):
    run = runs[name]
    steps = ranks_agree(run["trace"])
    result = reported_once(run)
    assert result["order"] == int(name[-1])
    # rank 0's final alpha (softmax per edge), derived here in one process, is what the DDP run wrote
    alphas = json.loads((run["out"] / "alphas.json").read_text())
    input_shape, num_classes = data_info("digits")
    supernet = DartsSupernet(model_spaces.build_space("darts", input_shape, num_classes, **DARTS_SPACE,
                                                      affine=False, auxiliary=False))
    arch = derive_architecture(alphas, supernet.space.cell_edges(), supernet.input_choices)
    assert json.loads((run["out"] / "arch.json").read_text()) == arch == result["arch"]
    records = [json.loads(line) for line in (run["out"] / "search_history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == list(range(SEARCH_EPOCHS)) and records[-1]["alpha_softmax"] == alphas
    assert len(steps) == len(records) * (len(steps) // len(records))  # the same steps every epoch


def test_enas_on_two_processes_keeps_the_controller_equal_reports_once_and_derives_from_it(runs):
    run = runs["enas"]
    steps = ranks_agree(run["trace"])
    result = reported_once(run)
    # the controller rank 0 saved is the one every rank held after the last step
    input_shape, num_classes = data_info("digits")
    space = model_spaces.build_space("enas_macro", input_shape, num_classes, **ENAS_SPACE)
    hp = EnasSettings()
    controller = EnasController(search_choices(space), hp.controller_hidden, hp.temperature, hp.tanh_constant)
    controller.load_state_dict(torch.load(run["out"] / "controller.pt"))
    assert fingerprint(controller.parameters()) == steps[-1]["arch"]
    # the derivation (rank 0 alone, after the search) scored the controller's most likely child, and wrote the best
    derived = [json.loads(line) for line in (run["out"] / "derived.jsonl").read_text().splitlines()]
    assert controller.most_likely() in [d["arch"] for d in derived]
    assert json.loads((run["out"] / "arch.json").read_text()) == derived[0]["arch"] == result["arch"]


# ------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("train, expected", [
    ({"devices": 2}, "tuner.classArgs.train.devices: 2 needs train.strategy: ddp"),
    ({"devices": 2, "strategy": "ddp_spawn"}, "tuner.classArgs.train.strategy: ddp_spawn is not supported"),
    ({"strategy": "fsdp"}, "tuner.classArgs.train.strategy: must be auto or ddp, got 'fsdp'"),
])
def test_strategy_settings_that_cannot_work_are_refused_in_one_line(train, expected):
    from nni_nas.config import ConfigError, TrainSettings

    with pytest.raises(ConfigError) as err:
        TrainSettings.from_args(train)
    assert [problem[:len(expected)] for problem in err.value.problems] == [expected]


def test_ddp_on_one_device_is_one_ordinary_process(tmp_path):
    from nni_nas.config import TrainSettings
    from nni_nas.evaluation.training import make_trainer

    trainer = make_trainer(TrainSettings.from_args({"devices": 1, "strategy": "ddp"}), tmp_path, [],
                           progress_bar=False)
    assert type(trainer.strategy).__name__ == "SingleDeviceStrategy"
    two = make_trainer(TrainSettings.from_args({"devices": 2, "strategy": "ddp"}), tmp_path, [], progress_bar=False)
    assert type(two.strategy).__name__ == "DDPStrategy" and two.num_devices == 2


def test_check_refuses_several_devices_for_a_multi_trial_strategy(tmp_path):
    from nni_nas.checks import check_config

    config = yaml.safe_load((Path(__file__).parents[2] / "configs" / "digits_random.yml").read_text())
    config["tuner"]["classArgs"]["train"] = {"epochs": 1, "devices": 2, "strategy": "ddp"}
    path = tmp_path / "digits_random.yml"
    path.write_text(yaml.safe_dump(config))
    problems = check_config(path)
    assert any(p.startswith("tuner.classArgs.train.devices: 2 devices (train.strategy: ddp) train a one-shot "
                            "supernet only") for p in problems), problems
    config["tuner"]["classArgs"]["train"]["devices"] = 1
    path.write_text(yaml.safe_dump(config))
    assert not any("train.devices" in p for p in check_config(path))


def test_the_ddp_benchmark_gives_both_variants_the_same_total_threads():
    """benchmarks/ddp_epoch.py compares one process with two on the same cores: one process gets every thread, each
    of two gets half (it once gave one thread to one process and one to each of two: two cores against one)."""
    from benchmarks.ddp_epoch import trial_config

    for total in (2, 4, 16):
        totals = set()
        for devices in (1, 2):
            train = trial_config("enas", devices, 2, total)["tuner"]["classArgs"]["train"]
            assert train["devices"] == devices
            totals.add(train["threads"] * devices)
        assert totals == {total}
    with pytest.raises(SystemExit, match="--threads 3: give a multiple of 2"):
        trial_config("enas", 2, 2, 3)
    with pytest.raises(SystemExit, match="--threads 1: give a multiple of 2"):  # the old `--cores 1`
        trial_config("enas", 2, 2, 1)
