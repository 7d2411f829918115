"""The published JSON Schema (configs/nni-nas.schema.json) is the generated one, every shipped config validates
against it, and it refuses what `nni-nas check` refuses by name or type."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from nni_nas.commands.schema import schema_text

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = REPO / "configs" / "nni-nas.schema.json"


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(schema_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_published_copy_is_the_generated_schema():
    assert PUBLISHED.read_text() == schema_text(), "run: nni-nas schema --out configs/nni-nas.schema.json"


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yml")), ids=lambda p: p.name)
def test_every_shipped_config_validates(validator, path):
    assert [error.message for error in validator.iter_errors(yaml.safe_load(path.read_text()))] == []


@pytest.mark.parametrize("name, change, expected", [
    ("digits_evolution.yml", lambda a: a.update(populaton_size=4), "'populaton_size' was unexpected"),
    ("digits_evolution.yml", lambda a: a["train"].update(lr="fast"), "'fast' is not of type 'number'"),
    ("digits_evolution.yml", lambda a: a.update(space="digit_cnn"), "'digit_cnn' is not valid under any"),
    ("digits_evolution.yml", lambda a: a.update(module="regresion"), "'regresion' is not valid under any"),
    ("digits_darts.yml", lambda a: a.update(population_size=4), "'population_size' was unexpected"),  # not DARTS
    ("digits_darts.yml", lambda a: a.update(order="2"), "'2' is not of type 'integer'"),
    ("digits_pnas.yml", lambda a: a.update(predictor_epochs=True), "True is not of type 'integer'"),
    ("nb201_evolution.yml", lambda a: a["evaluator"].update(kind="lookup"), "'lookup' is not one of"),
])
def test_mistakes_are_refused_per_strategy(validator, name, change, expected):
    raw = yaml.safe_load((REPO / "configs" / name).read_text())
    change(raw["tuner"]["classArgs"])
    messages = [error.message for error in validator.iter_errors(raw)]
    assert any(expected in message for message in messages), messages


def test_your_own_space_module_and_data_are_accepted_as_references(validator):
    raw = yaml.safe_load((REPO / "examples" / "own_space" / "config.yml").read_text())
    assert [error.message for error in validator.iter_errors(raw)] == []
    raw["tuner"]["classArgs"]["space"] = "my_space.py"  # no class named
    assert any("'my_space.py' is not valid under any" in e.message for e in validator.iter_errors(raw))


def test_a_registered_name_selects_the_strategy_too(validator):
    raw = yaml.safe_load((REPO / "configs" / "digits_evolution.yml").read_text())
    raw["tuner"] = {"name": "NasEvolution", "classArgs": {**raw["tuner"]["classArgs"], "beam_size": 3}}
    assert any("'beam_size' was unexpected" in e.message for e in validator.iter_errors(raw))
