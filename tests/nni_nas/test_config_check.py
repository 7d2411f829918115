"""`nni-nas check`: NNI's schema plus every NAS field, each mistake named before anything starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from nni_nas.checks import check_config
from nni_nas.config import ConfigError, TrainSettings, load_settings

REPO = Path(__file__).resolve().parents[2]


def shipped_configs() -> list[Path]:
    return sorted((REPO / "configs").glob("*.yml"))


# Configs that read an npz the user writes first (the command is in each config's header), written here into the
# test's private HOME so that ~/ in the config points at it.
GENERATED_DATA = {"signals_evolution.yml": ("data/waveforms.npz", ["--length", "64"])}


def loopback_copy(path: Path, folder: Path) -> Path:
    """A copy of a remote config whose machines and nniManagerIp are this machine's loopback (127.0.0.x): the
    shipped placeholders (192.168.1.x) are somebody's LAN, and a check that found the key would dial them."""
    raw = yaml.safe_load(path.read_text())
    raw["nniManagerIp"] = "127.0.0.1"
    for index, machine in enumerate(raw["trainingService"]["machineList"], 2):
        machine["host"] = f"127.0.0.{index}"
    copy = folder / path.name
    copy.write_text(yaml.safe_dump(raw))
    return copy


@pytest.mark.parametrize("path", shipped_configs(), ids=lambda p: p.name)
def test_shipped_configs_pass_the_check(path, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # nothing of the real ~/ (its ~/.ssh keys least of all)
    if path.name in GENERATED_DATA:
        from nni_nas.data.signals import main as write_waveforms

        relative, args = GENERATED_DATA[path.name]
        assert write_waveforms([str(tmp_path / relative), *args]) == 0
    if path.name.endswith("_remote.yml"):
        path = loopback_copy(path, tmp_path)
    problems = check_config(path)
    # CIFAR-10 configs point at a local folder that CI does not have; that one problem is expected there.
    problems = [p for p in problems if "CIFAR-10 not found" not in p]
    if path.name.endswith("_remote.yml"):  # placeholder key: the check says so, machine by machine, dialling nothing
        key = tmp_path / ".ssh" / "nni-nas-machines_ed25519"
        expected = ["NNI rejects the config: RemoteMachineConfig: You must either provide password or a valid SSH key",
                    f"machine 1 (nas@127.0.0.2:22): sshKeyFile {key} does not exist",
                    f"machine 2 (nas@127.0.0.3:22): sshKeyFile {key} does not exist"]
        assert [p[:len(e)] for p, e in zip(problems, expected, strict=True)] == expected, problems
        return
    assert problems == []


def test_the_remote_config_check_would_dial_its_machines_once_the_key_exists(tmp_path, monkeypatch):
    """Why the test above checks a loopback copy under a private HOME: with the key in place, ``check`` logs in to
    every machine of the config (here 127.0.0.2 and .3, where nothing listens on port 22 of this test's choosing)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    key = tmp_path / ".ssh" / "nni-nas-machines_ed25519"
    key.parent.mkdir()
    key.write_text("not a key\n")
    copy = loopback_copy(REPO / "configs" / "digits_evolution_remote.yml", tmp_path)
    raw = yaml.safe_load(copy.read_text())
    from nni_nas.manager.nnictl import free_port

    for machine in raw["trainingService"]["machineList"]:
        machine["port"] = free_port()  # closed: the login is refused at once
    copy.write_text(yaml.safe_dump(raw))
    problems = check_config(copy)
    reached = [p for p in problems if p.startswith("machine ")]
    assert len(reached) == 2 and all("cannot be reached over SSH" in p for p in reached), problems


def edited(tmp_path: Path, change, name: str = "digits_evolution.yml") -> Path:
    """A copy of the shipped config ``name`` with ``change`` applied to its parsed YAML."""
    raw = yaml.safe_load((REPO / "configs" / name).read_text())
    change(raw)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw))
    return path


def class_args(raw):
    return raw["tuner"]["classArgs"]


@pytest.mark.parametrize("change, expected", [
    (lambda r: class_args(r).update(populaton_size=4),
     "tuner.classArgs.populaton_size: unknown evolution setting (did you mean 'population_size'?)"),
    (lambda r: class_args(r).update(space="digit_cnn"), "unknown space 'digit_cnn' (did you mean 'digits_cnn'?)"),
    (lambda r: class_args(r)["train"].update(epoch=3), "tuner.classArgs.train.epoch: unknown train setting"),
    (lambda r: class_args(r)["train"].update(lr="fast"), "tuner.classArgs.train.lr: must be a number, got 'fast'"),
    (lambda r: class_args(r)["train"].update(epochs=0),
     "tuner.classArgs.train.epochs: must be an integer from 1 to 100000, got 0"),
    (lambda r: class_args(r)["train"].update(optimizer="sgdd"), "tuner.classArgs.train.optimizer: must be sgd or adam"),
    (lambda r: class_args(r).update(space="resnet"), "unknown space 'resnet'"),
    (lambda r: class_args(r).update(data="mnist"), "unknown data set 'mnist'"),
    (lambda r: class_args(r).update(data="cifar10", data_args={"root": "/no/such/dir"}), "data_args.root"),
    (lambda r: class_args(r).update(space_args={"depth": 3}),
     "tuner.classArgs.space_args.depth: space 'digits_cnn' takes no 'depth' (did you mean"),
    (lambda r: r.update(maxTrialNumbr=3), "NNI rejects the config"),
    (lambda r: r.update(trialCommand="python train.py"), "trialCommand should run the nni-nas trial"),
    (lambda r: r.update(trialCommand="python -m nni_nas.trial --config other.yml"), "trialCommand reads"),
    (lambda r: r.update(tuner={"name": "Evolutionn"}), "unknown strategy 'Evolutionn'"),
    (lambda r: r["tuner"].update(className="strategies.nope.Tuner"), "cannot import tuner class"),
    (lambda r: class_args(r).pop("space"), "classArgs.space is missing"),
    # values, not only types (each of these passed the check once and crashed or never ended in the trials)
    (lambda r: class_args(r)["train"].update(epochs=-1),
     "tuner.classArgs.train.epochs: must be an integer from 1 to 100000, got -1"),
    (lambda r: class_args(r)["train"].update(lr=-0.1), "tuner.classArgs.train.lr: must be a number > 0, got -0.1"),
    (lambda r: class_args(r)["train"].update(batch_size=0),
     "tuner.classArgs.train.batch_size: must be an integer from 1 to 65536, got 0"),
    (lambda r: class_args(r)["train"].update(seed=2**70),
     "tuner.classArgs.train.seed: must be an integer in [0, 2**32)"),
    (lambda r: class_args(r)["train"].update(label_smoothing=2),
     "tuner.classArgs.train.label_smoothing: must be a number in [0, 1)"),
    (lambda r: class_args(r)["train"].update(latency_runs=0),
     "tuner.classArgs.train.latency_runs: must be an integer from 1 to 10000"),
    (lambda r: class_args(r)["train"].update(accelerator="tpu"),
     "tuner.classArgs.train.accelerator: must be cpu or gpu"),
    (lambda r: class_args(r).update(population_size="6"),
     "tuner.classArgs.population_size: must be an integer, got '6'"),
    (lambda r: class_args(r).update(space_args={"widths": "16"}),
     "tuner.classArgs.space_args.widths: must be a non-empty list"),
    (lambda r: class_args(r).update(space_args={"widths": []}),
     "tuner.classArgs.space_args.widths: must be a non-empty list"),
    (lambda r: class_args(r).update(space_args={"max_depth": 0}), "need 1 <= min_depth <= max_depth"),
    (lambda r: r["tuner"].update(classArgs=[1, 2]), "tuner.classArgs must be a mapping"),
    (lambda r: r.update(maxTrialNumber=-1), "NNI rejects the config: it requires maxTrialNumber is None or "
                                            "maxTrialNumber > 0"),
    (lambda r: r.update(trialConcurrency=0), "NNI rejects the config: it requires trialConcurrency > 0"),
    (lambda r: r.pop("trainingService"), "trainingService is missing; use trainingService: {platform: local}"),
])
def test_each_mistake_is_named(tmp_path, change, expected):
    problems = check_config(edited(tmp_path, change))
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize("name, change, expected", [
    ("digits_evolution.yml", lambda r: class_args(r).update(population_size=1),
     "tuner.classArgs.population_size: must be an integer from 2"),
    ("digits_darts.yml", lambda r: class_args(r).update(order=3), "tuner.classArgs.order: must be 1"),
    ("digits_darts.yml", lambda r: class_args(r).update(space="enas_micro", space_args={}), "loose ends"),
    ("digits_enas.yml", lambda r: class_args(r).update(baseline_decay=1.5), "tuner.classArgs.baseline_decay: must be"),
    ("digits_pnas.yml", lambda r: class_args(r).update(beam_size=0),
     "tuner.classArgs.beam_size: must be an integer from 1"),
])
def test_values_each_tuner_rejects_are_named(tmp_path, name, change, expected):
    # nnictl would exit 0 with these and the manager would fail 10 s later, when NNI's dispatcher builds the tuner.
    problems = check_config(edited(tmp_path, change, name))
    assert any(expected in problem for problem in problems), problems


TUNER_IMPORT = """
import json, sys, yaml
from strategies import resolve_tuner
for path in sys.argv[1:]:  # one process for all (a fresh one each cost ~3 s a config): stop at the first culprit
    raw = yaml.safe_load(open(path))
    resolve_tuner(raw["tuner"])(**raw["tuner"]["classArgs"])
    if "torch" in sys.modules:
        print(json.dumps(path))
        break
else:
    print(json.dumps(None))
"""


def test_tuners_start_without_torch():
    # NNI's dispatcher must connect to the manager within 10 s of launch; importing torch and Lightning alone
    # takes 4-6 s here, more on a loaded machine. Tuners defer them to the trial (or to first use).
    import subprocess
    import sys

    paths = [str(path) for path in shipped_configs()]
    run = subprocess.run([sys.executable, "-c", TUNER_IMPORT, *paths], cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1]) is None, "this config's tuner imported torch"


def test_a_rejected_config_does_not_poison_later_checks(tmp_path):
    # NNI 3.0 leaves a module-global base path set when loading fails; the next load would fail with a bare
    # AssertionError (this broke CI once, depending on test order).
    assert any("NNI rejects" in p for p in check_config(edited(tmp_path, lambda r: r.update(maxTrialNumbr=3))))
    assert check_config(REPO / "configs" / "digits_random.yml") == []


def test_an_unexpected_failure_is_one_line_and_the_other_files_are_still_checked(tmp_path, monkeypatch, capsys):
    from nni_nas import checks, cli

    real = checks._problems
    broken = tmp_path / "broken.yml"
    broken.write_text((REPO / "configs" / "digits_random.yml").read_text())

    def fails_on_one_file(path):
        if path.name == "broken.yml":
            raise IndexError("list index out of range")
        return real(path)

    monkeypatch.setattr(checks, "_problems", fails_on_one_file)
    assert cli.main(["check", str(broken), str(REPO / "configs" / "digits_random.yml")]) == 1
    out, err = capsys.readouterr()
    assert err.strip() == f"{broken}: the check itself failed on this file (IndexError: list index out of range); " \
                          "please report it"
    assert out.strip().endswith("digits_random.yml: ok")


def test_missing_and_malformed_files(tmp_path):
    assert "config file not found" in check_config(tmp_path / "none.yml")[0]
    bad = tmp_path / "bad.yml"
    bad.write_text("tuner: [unclosed")
    assert "not valid YAML" in check_config(bad)[0]


def test_settings_are_read_from_class_args():
    settings = load_settings(REPO / "configs" / "digits_evolution.yml")
    assert settings.space == "digits_cnn" and settings.data == "digits"
    assert settings.train.epochs >= 1 and settings.strategy_args["population_size"] >= 2
    assert settings.tuner_class == "strategies.evolution.RegularizedEvolutionTuner"


def test_train_settings_reject_bool_for_numbers():
    with pytest.raises(ConfigError, match="train.epochs"):
        TrainSettings.from_args({"epochs": True})


def test_every_mistake_of_a_file_is_listed_at_once_one_line_each_with_its_key_path(tmp_path, capsys):
    from nni_nas import cli

    def three_mistakes(raw):
        class_args(raw)["train"].update(epochs=-1)
        class_args(raw).update(population_size="6", space_args={"widths": [], "max_depth": 4})

    path = edited(tmp_path, three_mistakes)
    assert cli.main(["check", str(path)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f"{path}: tuner.classArgs.train.epochs: must be an integer from 1 to 100000, got -1",
        f"{path}: tuner.classArgs.population_size: must be an integer, got '6'",
        f"{path}: tuner.classArgs.space_args.widths: must be a non-empty list of channel counts from 1 to 4096, like "
        "[16, 32], got []",
    ]


def test_mistakes_within_one_settings_section_are_all_named():
    with pytest.raises(ConfigError) as err:
        TrainSettings.from_args({"epochs": 0, "lr": "fast", "optimiser": "adam", "momentum": 2})
    assert err.value.problems == [
        "tuner.classArgs.train.optimiser: unknown train setting (did you mean 'optimizer'?); allowed: "
        "['epochs', 'batch_size', 'lr', 'optimizer', 'momentum', 'weight_decay', 'label_smoothing', 'cosine', 'seed', "
        "'num_workers', 'threads', 'accelerator', 'devices', 'strategy', 'latency_runs']",
        "tuner.classArgs.train.lr: must be a number, got 'fast'",
        "tuner.classArgs.train.epochs: must be an integer from 1 to 100000, got 0",
        "tuner.classArgs.train.momentum: must be a number in [0, 1), got 2",
    ]


@pytest.mark.parametrize("name, change, expected", [
    # evolution's first population_size trials are random: with no more trials it never mutates a child
    ("digits_evolution.yml", lambda r: r.update(maxTrialNumber=6),
     "tuner.classArgs.population_size: 6 >= maxTrialNumber 6: evolution would never leave its random start"),
    ("digits_evolution.yml", lambda r: class_args(r).update(population_size=10**6), ">= maxTrialNumber 12"),
    # PNAS's first step is random (beam_size architectures on a flat space)
    ("digits_pnas.yml", lambda r: r.update(maxTrialNumber=4),
     "tuner.classArgs.beam_size: PNAS's first step trains 4 random architectures and maxTrialNumber is 4"),
    # on NAS-Bench-201 the first step is the 5 one-block cells, fewer than beam_size 10
    ("nb201_pnas.yml", lambda r: r.update(maxTrialNumber=5), "first step trains 5 random architectures"),
])
def test_a_budget_that_never_leaves_the_random_start_is_named(tmp_path, name, change, expected):
    problems = check_config(edited(tmp_path, change, name))
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize("name, change", [
    ("digits_evolution.yml", lambda r: r.update(maxTrialNumber=7)),
    ("digits_evolution.yml", lambda r: r.pop("maxTrialNumber")),  # bounded by time only
    ("nb201_pnas.yml", lambda r: r.update(maxTrialNumber=6)),
])
def test_a_budget_just_past_the_random_start_passes(tmp_path, name, change):
    assert not [p for p in check_config(edited(tmp_path, change, name)) if "maxTrialNumber" in p]


def test_the_tuners_common_arguments_and_its_own_settings_are_named_together(tmp_path):
    problems = check_config(edited(tmp_path, lambda r: class_args(r).update(seed=-1, metric="val_accc",
                                                                              population_size=1)))
    assert [p.split(": ", 1)[0] for p in problems if p.startswith("tuner.")] == [
        "tuner.classArgs.seed", "tuner.classArgs.metric", "tuner.classArgs.population_size"], problems
    assert "(did you mean 'val_acc'?)" in problems[1]


@pytest.mark.parametrize("name, space_args, expected", [
    ("digits_evolution.yml", {"widht": [8]},
     "tuner.classArgs.space_args.widht: space 'digits_cnn' takes no 'widht' (did you mean 'widths'?); it takes "
     "widths, min_depth, max_depth, ops, activations"),
    ("digits_darts.yml", {"widht": 4, "num_cells": 2},
     "tuner.classArgs.space_args.widht: space 'darts' takes no 'widht' (did you mean 'width'?); it takes width, "),
    ("digits_evolution.yml", {"max_dept": 2, "opps": ["conv3x3"]},
     "tuner.classArgs.space_args: space 'digits_cnn' takes no 'max_dept' (did you mean 'max_depth'?), 'opps' (did "
     "you mean 'ops'?); it takes widths"),
    ("digits_evolution.yml", {"num_classes": 3},
     "tuner.classArgs.space_args.num_classes: space 'digits_cnn' takes 'num_classes' from the data: leave it out; "),
])
def test_a_misspelt_space_arg_is_named_against_the_spaces_parameters(tmp_path, name, space_args, expected):
    problems = check_config(edited(tmp_path, lambda r: class_args(r).update(space_args=space_args), name))
    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_a_misspelt_space_arg_of_your_own_space_is_named_too(tmp_path):
    import shutil

    shutil.copytree(REPO / "examples" / "own_space", tmp_path / "own")
    path = tmp_path / "own" / "config.yml"
    raw = yaml.safe_load(path.read_text())
    raw["tuner"]["classArgs"]["space_args"] = {"chanels": 16}
    path.write_text(yaml.safe_dump(raw))
    assert check_config(path) == ["tuner.classArgs.space_args.chanels: space 'my_space.py:MySpace' takes no "
                                  "'chanels' (did you mean 'channels'?); it takes channels, num_classes"]
