"""The one strategy registry, the class paths users' configs hold, and the one error base."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import strategies
from nni_nas import errors

REPO = Path(__file__).resolve().parents[2]

# What configs written before the rooms were reorganised hold (NNI stores them with each experiment, and
# `nnictl resume` rebuilds the tuner from them): these must keep working.
STORED_CLASS_PATHS = {
    "evolution": ("NasEvolution", "strategies.evolution.RegularizedEvolutionTuner", "digits_evolution.yml"),
    "random": ("NasRandom", "strategies.random_search.RandomTuner", "digits_random.yml"),
    "pareto": ("NasParetoEvolution", "strategies.pareto_evolution.ParetoEvolutionTuner", "digits_pareto.yml"),
    "pnas": ("NasPnas", "strategies.pnas.PnasTuner", "digits_pnas.yml"),
    "local_search": ("NasLocalSearch", "strategies.local_search.LocalSearchTuner", "digits_local_search.yml"),
    "tpe": ("NasTpe", "strategies.tpe.TpeTuner", "digits_tpe.yml"),
    "grid": ("NasGrid", "strategies.grid_search.GridTuner", "digits_grid.yml"),
    "bananas": ("NasBananas", "strategies.bananas.BananasTuner", "digits_bananas.yml"),
    "hyperband": ("NasHyperband", "strategies.hyperband.HyperbandTuner", "digits_hyperband.yml"),
    "darts": ("NasDarts", "strategies.darts.DartsTuner", "digits_darts.yml"),
    "enas": ("NasEnas", "strategies.enas.EnasTuner", "digits_enas.yml"),
    "spos": ("NasSpos", "strategies.spos.SposTuner", "digits_spos.yml"),
    "gdas": ("NasGdas", "strategies.gdas.GdasTuner", "digits_gdas.yml"),
    "proxyless": ("NasProxyless", "strategies.proxyless.ProxylessTuner", "digits_proxyless.yml"),
}

# Run as NNI's dispatcher runs a tuner on `nnictl resume`: a fresh interpreter in the code directory, the class
# imported by the stored path and built with the stored classArgs, the finished trials imported, then asked for
# the next parameters. Prints whether torch was imported (the dispatcher has 10 s to connect).
RESUME = """
import importlib, json, sys
class_path, class_args, finished = json.loads(sys.argv[1])
module, _, name = class_path.rpartition(".")
tuner = getattr(importlib.import_module(module), name)(**class_args)
tuner.update_search_space({})
torch_at_start = "torch" in sys.modules
tuner.import_data(finished)
print(json.dumps({"next": tuner.generate_parameters(len(finished)), "torch_at_start": torch_at_start}))
"""


@pytest.mark.parametrize("name", sorted(STORED_CLASS_PATHS))
def test_registry_knows_every_name_a_config_may_use(name):
    builtin, class_path, _ = STORED_CLASS_PATHS[name]
    entry = strategies.get_strategy(name)
    assert strategies.get_strategy(builtin) == entry == strategies.get_strategy(class_path)
    assert (entry.builtin_name, entry.class_path) == (builtin, class_path)
    assert strategies.class_path_of({"name": builtin}) == class_path
    assert strategies.class_path_of({"className": class_path}) == class_path
    assert strategies.strategy_label({"className": class_path}) == name
    tuner_cls = strategies.resolve_tuner({"name": name})
    assert (entry.kind == "one-shot") == bool(getattr(tuner_cls, "one_shot", False))


@pytest.mark.parametrize("name", sorted(STORED_CLASS_PATHS))
def test_an_experiment_stored_with_the_old_class_path_resumes(name):
    _, class_path, config = STORED_CLASS_PATHS[name]
    class_args = yaml.safe_load((REPO / "configs" / config).read_text())["tuner"]["classArgs"]
    tuner_cls = strategies.resolve_class_path(class_path)
    first = tuner_cls(**class_args)
    if getattr(tuner_cls, "one_shot", False):
        class_args = {**class_args, "runs": 2}  # one run finished, one to go
        first = tuner_cls(**class_args)
        done = first.generate_parameters(0)
        finished = [{"parameter": done, "value": 0.9}]
    else:
        arch = first.generate_parameters(0)
        finished = [{"parameter": arch, "value": {"default": 0.9}}]
    run = subprocess.run([sys.executable, "-c", RESUME, json.dumps([class_path, class_args, finished])], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    resumed = json.loads(run.stdout.strip().splitlines()[-1])
    assert not resumed["torch_at_start"]
    assert resumed["next"] != finished[0]["parameter"]  # the finished run is not handed out again


def test_unknown_names_are_one_user_error_listing_the_known_ones():
    with pytest.raises(errors.UnknownStrategyError, match="NasEvolution \\(evolution\\)") as caught:
        strategies.get_strategy("Evolutionn")
    assert isinstance(caught.value, errors.NasError) and isinstance(caught.value, KeyError)
    assert str(caught.value).startswith("unknown strategy 'Evolutionn'")  # no KeyError quotes around it
    assert strategies.strategy_of({"className": "mine.Tuner"}) is None
    assert strategies.strategy_label({"className": "mine.Tuner"}) == "Tuner"
    with pytest.raises(errors.UnknownStrategyError, match="cannot import tuner class 'mine.Tuner'"):
        strategies.resolve_tuner({"className": "mine.Tuner"})


def test_every_user_error_has_the_one_base_and_its_builtin_meaning():
    user_errors = [cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, Exception)]
    assert len(user_errors) >= 10 and all(issubclass(cls, errors.NasError) for cls in user_errors)
    assert issubclass(errors.ConfigError, ValueError) and issubclass(errors.DataNotFoundError, FileNotFoundError)
    assert issubclass(errors.OutputExistsError, FileExistsError) and issubclass(errors.NonFiniteError,
                                                                                 FloatingPointError)


def test_error_and_registry_modules_import_nothing_heavy():
    probe = ("import sys, nni_nas.errors, strategies, strategies.darts, strategies.enas, strategies.pnas, "
             "nni_nas.config; print(sorted(m for m in ('torch', 'pytorch_lightning') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_a_one_shot_tuner_refuses_more_search_runs_than_it_can_hand_out():
    """``runs: 2**70`` once built a list of 2**70 runs (the fuzz test's check ran out of 24 GiB)."""
    from nni_nas.errors import ConfigError
    from strategies.enas import EnasTuner

    with pytest.raises(ConfigError, match="runs must be an integer from 1 to 10,000"):
        EnasTuner(space="enas_macro", runs=2**70)
    with pytest.raises(ConfigError, match="= 20,000 search runs; at most 10,000"):
        EnasTuner(space="enas_macro", runs=10_000, search_grid={"controller_lr": [0.1, 0.01]})
