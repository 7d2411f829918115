"""`nni-nas check` of a config's assessor (NNI's Medianstop and Curvefitting): what NNI 3.0's nnictl accepts and its
dispatcher then fails on is named before the start, and so is an assessor working against the search."""

from __future__ import annotations

import pytest

from nni_nas.checks import check_config
from tests.nni_nas.test_config_check import class_args, edited


def with_assessor(name: str, **args):
    return lambda raw: raw.update(assessor={"name": name, "classArgs": args})


@pytest.mark.parametrize("change", [
    with_assessor("Medianstop", optimize_mode="maximize", start_step=1),
    with_assessor("Medianstop"),
    with_assessor("Curvefitting", epoch_num=4, start_step=2, threshold=0.9),
], ids=["medianstop", "medianstop-defaults", "curvefitting"])
def test_assessor_configs_pass(tmp_path, change):
    assert check_config(edited(tmp_path, change, "digits_random.yml")) == []


@pytest.mark.parametrize("change, expected", [
    (with_assessor("Medianstop", start_step=1, bogus=2),
     "assessor.classArgs: NNI's Medianstop rejects them: Wrong key 'bogus'"),
    (with_assessor("Medianstop", start_step="2"), "NNI's Medianstop rejects them: start_step should be int type"),
    (with_assessor("Curvefitting", start_step=1), "NNI's Curvefitting rejects them: Missing key: 'epoch_num'"),
    (with_assessor("Medianstp"), "assessor.name 'Medianstp' is not an NNI assessor"),
    (with_assessor("Medianstop", optimize_mode="minimize"),
     "assessor.classArgs.optimize_mode: minimize, but the search is set to maximize"),
    (with_assessor("Curvefitting", epoch_num=20), "assessor.classArgs.epoch_num: 20, but each trial trains "
                                                  "tuner.classArgs.train.epochs = 4 epochs"),
    (lambda raw: (with_assessor("Curvefitting", epoch_num=4)(raw), class_args(raw).update(optimize_mode="minimize")),
     "assessor: Curvefitting fits accuracy curves only"),
])
def test_assessor_mistakes_are_named(tmp_path, change, expected):
    problems = check_config(edited(tmp_path, change, "digits_random.yml"))
    assert any(expected in problem for problem in problems), problems
