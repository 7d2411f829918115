"""`nni-nas check` on configs that a lenient reading lets through but that cannot work (a GPU this machine lacks, a key
given twice, a data path that is a FIFO, an nniManagerIp of another machine), and on messages that were unclear
(NNI's own schema words, a binary file, a 200,000-item list echoed back whole, a tuner's mistakes one at a time)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from nni_nas import gpu_check
from nni_nas.checks import check_config

REPO = Path(__file__).resolve().parents[2]
BASE = (REPO / "configs" / "digits_evolution.yml").read_text()


def config(tmp_path: Path, text: str, name: str = "digits_evolution.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def edited(tmp_path: Path, change, name: str = "digits_evolution.yml") -> Path:
    raw = yaml.safe_load((REPO / "configs" / name).read_text())
    change(raw)
    return config(tmp_path, yaml.safe_dump(raw), name)


def one_problem(path: Path, expected: str) -> str:
    problems = [p for p in check_config(path) if not p.startswith("warning: ")]
    matching = [p for p in problems if expected in p]
    assert len(matching) == 1, problems
    return matching[0]


@pytest.mark.parametrize("accelerator, device", [("gpu", "CUDA GPU"), ("cuda", "CUDA GPU"), ("mps", "Apple MPS")])
def test_an_accelerator_this_machine_lacks_is_refused(tmp_path, monkeypatch, accelerator, device):
    monkeypatch.setattr(gpu_check, "devices_available", lambda: {"cuda": False, "mps": False})  # a machine without
    path = edited(tmp_path, lambda r: r["tuner"]["classArgs"]["train"].update(accelerator=accelerator))
    line = one_problem(path, f"train.accelerator: {accelerator}, but this machine")
    assert f"has no {device} device" in line or f"has no {device} torch" in line
    assert "use accelerator: cpu" in line and "platform: remote" in line
    assert not [p for p in check_config(edited(tmp_path, lambda r: r["tuner"]["classArgs"]["train"].update(
        accelerator="auto"))) if "accelerator" in p]


def test_a_key_given_twice_is_named_with_both_lines(tmp_path):
    text = BASE.replace("maxTrialNumber: 12", "maxTrialNumber: 2\nmaxTrialNumber: 500").replace(
        "    seed: 0\ntrainingService", "    seed: 0\n    seed: 1\ntrainingService")
    lines = text.splitlines()
    first = lines.index("maxTrialNumber: 2") + 1
    seed = [i + 1 for i, line in enumerate(lines) if line in ("    seed: 0", "    seed: 1")]
    problems = check_config(config(tmp_path, text))
    tail = "YAML keeps the last value without a word; keep one"
    assert problems == [f"key 'maxTrialNumber' is given twice in one mapping (lines {first} and {first + 1}): {tail}",
                        f"key 'seed' is given twice in one mapping (lines {seed[0]} and {seed[1]}): {tail}"]


def test_a_data_path_that_is_a_fifo_is_named_as_one(tmp_path):
    fifo = tmp_path / "digits.npz"
    os.mkfifo(fifo)
    path = edited(tmp_path, lambda r: r["tuner"]["classArgs"].update(data="npz", data_args={"path": str(fifo)}))
    line = one_problem(path, "FIFO")
    assert f"path {str(fifo)!r} is a FIFO (named pipe), not a file" in line and "not found" not in line
    assert check_config(fifo) == [f"{fifo} is a FIFO (named pipe), not a config file; give the path of a YAML file"]
    assert check_config(tmp_path) == [f"{tmp_path} is a folder, not a config file; give the path of a YAML file"]


REMOTE = """
trialCommand: python -m nni_nas.trial --config remote.yml
trialCodeDirectory: .
trialConcurrency: 1
searchSpace: {{}}
maxTrialNumber: 4
nniManagerIp: {ip}
tuner:
  className: strategies.random_search.RandomTuner
  classArgs: {{space: digits_cnn, train: {{epochs: 1}}}}
trainingService:
  platform: remote
  machineList:
    - {{host: 127.0.0.1, port: 1, user: nobody, sshKeyFile: {key}}}
"""


def test_an_nni_manager_ip_of_another_machine_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # nothing of the real ~/.ssh; the key file does not exist: no login
    key = tmp_path / "no-such-key"
    other = config(tmp_path, REMOTE.format(ip="192.0.2.10", key=key), "remote.yml")  # TEST-NET-1: nobody's
    line = one_problem(other, "nniManagerIp")
    assert line.startswith("nniManagerIp '192.0.2.10' is not an address of this machine")
    here = config(tmp_path, REMOTE.format(ip="127.0.0.2", key=key), "remote.yml")
    assert not [p for p in check_config(here) if "nniManagerIp" in p]


@pytest.mark.parametrize("old, new, expected", [
    ("maxTrialNumber: 12", "maxtrialnumbr: 12",
     "NNI rejects the config: maxtrialnumbr: NNI has no such field (did you mean 'maxTrialNumber'?)"),
    ("  platform: local", "  platfrm: local",
     "NNI rejects the config: trainingService.platfrm: NNI has no such field (did you mean 'platform'?); use "
     "trainingService: {platform: local} (or remote, with a machineList)"),
    ("  platform: local", "  platform: local\n  gpuIndicez: 0",
     "NNI rejects the config: trainingService.gpuIndicez: NNI has no such field (did you mean 'gpuIndices'?)"),
    ("maxExperimentDuration: 1h", "maxExperimentDuration: 0s",
     "NNI rejects the config: maxExperimentDuration: '0s' is not a duration above 0; write a positive number with a "
     "unit (d, h, m or s), like maxExperimentDuration: 30m, 2h or 1d"),
    ("maxExperimentDuration: 1h", "maxTrialDuration: 1 hour",
     "NNI rejects the config: maxTrialDuration: '1 hour' is not a duration above 0"),
])
def test_nni_schema_messages_are_said_in_the_configs_own_words(tmp_path, old, new, expected):
    problems = check_config(config(tmp_path, BASE.replace(old, new)))
    assert len(problems) == 1 and problems[0].startswith(expected), problems


@pytest.mark.parametrize("old, new, expected", [
    ("trainingService:", "trainigService:", "trainingService is missing ('trainigService' is written: a misspelling "
                                            "of it?); use trainingService: {platform: local}"),
    ("trialCommand:", "trialCommnd:", "trialCommand is missing ('trialCommnd' is written: a misspelling of it?)"),
    ("trainingService:", "services:", "trainingService is missing; use"),  # nothing close: no guess
])
def test_a_misspelt_required_nni_field_is_named_where_it_is_missing(tmp_path, old, new, expected):
    problems = check_config(config(tmp_path, BASE.replace(old, new)))
    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_a_binary_file_is_not_a_text_yaml_file(tmp_path):
    path = tmp_path / "config.yml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    assert check_config(path) == [f"{path} is not a text YAML file (byte 0 is b'\\x89': it looks binary, or is not "
                                  "UTF-8); give the experiment's .yml file"]


def test_a_huge_value_is_not_echoed_back_whole(tmp_path):
    path = config(tmp_path, BASE.replace("widths: [16, 32, 64]", "widths: [" + ", ".join(["16"] * 200_000) + "]"))
    [line] = check_config(path)
    assert len(line) < 600 and "(800,028 characters)" in line and "space_args" in line, line[:1000]


@pytest.mark.parametrize("name, expected", [
    ("digits_evolution.yml", ["tuner.classArgs.population_size: must be an integer from 2 to 1,000,000, got 0",
                              "tuner.classArgs.sample_size: must be an integer from 1 to population_size"]),
    ("digits_pareto.yml", ["need population_size from 2 to 100000", "need 2 <= sample_size <= population_size"]),
])
def test_a_tuners_settings_problems_are_named_all_at_once(tmp_path, name, expected):
    path = edited(tmp_path, lambda r: r["tuner"]["classArgs"].update(population_size=0, sample_size=-1), name)
    problems = check_config(path)
    assert all(any(e in p for p in problems) for e in expected), problems


@pytest.mark.parametrize("old, new, expected", [
    ("searchSpace: {}", "searchSpace: {lr: {_type: choice, _value: [0.1, 0.01]}}",
     "searchSpace: nni-nas does not read it (dict given): the tuner searches the choices of tuner.classArgs.space; "
     "write searchSpace: {}"),
    ("searchSpace: {}", "searchSpace: [" + ", ".join(["16"] * 200_000) + "]",
     "searchSpace: nni-nas does not read it (list given)"),
    ("searchSpace: {}", "searchSpaceFile: space.json", "searchSpaceFile: nni-nas does not read it"),
])
def test_a_search_space_written_for_nni_is_named_as_unread(tmp_path, old, new, expected):
    (tmp_path / "space.json").write_text("{}")
    problems = check_config(config(tmp_path, BASE.replace(old, new)))
    assert len(problems) == 1 and problems[0].startswith(expected), [p[:300] for p in problems]
