"""Your own space, module and data named in a config (``file.py:Name``, ``module:Name``): how each is found, built
and checked, and the one line each mistake gets (the user's file and line for an error inside their code)."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

import model_spaces
from nni_nas import components
from nni_nas.arch import search_choices, split_fidelity
from nni_nas.checks import check_config
from nni_nas.config import NasSettings, TrainSettings, load_settings, optimize_mode_of
from nni_nas.errors import ConfigError, NasError
from nni_nas.user_code import UserCodeError, absolute_reference

REPO = Path(__file__).resolve().parents[2]
OWN = REPO / "examples" / "own_space"
REGRESSION = REPO / "examples" / "regression"


@pytest.fixture
def own(tmp_path) -> Path:
    """A copy of the own-space example, to break on purpose."""
    folder = tmp_path / "own"
    shutil.copytree(OWN, folder)
    return folder


def settings(folder: Path, **class_args) -> NasSettings:
    raw = yaml.safe_load((folder / "config.yml").read_text())
    raw["tuner"]["classArgs"].update(class_args)
    (folder / "config.yml").write_text(yaml.safe_dump(raw))
    return load_settings(folder / "config.yml")


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(textwrap.dedent(text))


# ------------------------------------------------------------------------------------------------------ spaces
def test_a_file_space_is_found_from_the_code_folder_and_gets_the_data_classes(own, monkeypatch):
    monkeypatch.chdir(own.parent)  # not the code folder: the config's trialCodeDirectory is what counts
    s = settings(own)
    assert s.code_dir == own.resolve()
    space = components.build_space(s)
    assert type(space).__name__ == "MySpace"
    assert space.fc2.out_features == 10
    assert model_spaces.data_needed(s.space, s.space_args, s.code_dir)  # it takes num_classes, not given
    assert not model_spaces.data_needed(s.space, {"num_classes": 3}, s.code_dir)


def test_the_same_file_is_one_module_in_a_process(own):
    first = model_spaces.get_space_class("my_space.py:MySpace", own)
    assert model_spaces.get_space_class("my_space.py:MySpace", own) is first


def test_an_nni_hub_space_gets_num_labels_from_the_data():
    space = model_spaces.build_space("nni.nas.hub.pytorch:NasBench201", (3, 16, 16), 7, stem_out_channels=4,
                                     num_modules_per_stack=1)
    arch = {label: "conv_1x1" for label in space.simplify()}
    out = space.freeze(arch)(torch.zeros(2, 3, 16, 16))
    assert out.shape == (2, 7)


@pytest.mark.parametrize("name, expected", [
    ("nope.py:MySpace", "file not found:"),
    ("my_space.py:MySpac", "my_space.py has no 'MySpac' (did you mean 'MySpace'?)"),
    ("my_space.py:DepthwiseSeparableConv", "is class DepthwiseSeparableConv, not a model space"),
    ("no_such_module:Space", "no module 'no_such_module'"),
    ("my_space.py", "unknown space 'my_space.py'"),
    ("my_space.py:", "is not a reference to code"),
])
def test_a_space_that_cannot_be_had_is_one_line(own, name, expected):
    with pytest.raises(NasError) as info:
        model_spaces.get_space_class(name, own)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_a_misspelt_space_argument_is_named_against_the_signature(own):
    with pytest.raises(ConfigError) as info:
        components.build_space(settings(own, space_args={"chanels": 8}))
    assert "takes no 'chanels' (did you mean 'channels'?)" in str(info.value)


def test_an_error_inside_the_users_space_names_their_file_and_line(own):
    write(own, "broken.py", """\
        from nni.nas.nn.pytorch import ModelSpace


        class Broken(ModelSpace):
            def __init__(self, width: int = 4):
                super().__init__()
                raise ValueError(f"width {width} is odd")
        """)
    with pytest.raises(UserCodeError) as info:
        components.build_space(settings(own, space="broken.py:Broken", space_args={"width": 3}))
    assert "broken.py:7: ValueError: width 3 is odd" in str(info.value)


def test_a_syntax_error_in_the_users_file_names_its_line(own):
    write(own, "typo.py", "def f(:\n    pass\n")
    with pytest.raises(UserCodeError, match=r"typo.py:1: SyntaxError"):
        model_spaces.get_space_class("typo.py:f", own)


# ------------------------------------------------------------------------------------------------------ data
def test_a_data_function_gives_the_shape_and_classes_of_its_splits(own):
    bundle = components.load_bundle(settings(own))
    assert bundle.input_shape == (1, 8, 8) and bundle.num_classes == 10 and bundle.test is not None


@pytest.mark.parametrize("body, expected", [
    ("return [1, 2, 3]", "the train split is an int, not a torch Dataset"),
    ("return [1, 2, 3, 4]", "returned a list of 4"),
    ("return x", "returned a Tensor"),
    ("return TensorDataset(x, y), 'val'", "the val split is a str, not a torch Dataset"),
    ("return TensorDataset(x, y.float() / 3), TensorDataset(x, y)", "classification needs integer class ids"),
    ("return TensorDataset(x, y * 0), TensorDataset(x, y)", "classification needs at least two classes"),
    ("return TensorDataset(x[:0], y[:0]), TensorDataset(x, y)", "the train split is empty"),
    ("raise RuntimeError('no such folder /data')", "mine.py:8: RuntimeError: no such folder /data"),
])
def test_a_data_function_that_returns_something_else_is_one_line(own, body, expected):
    write(own, "mine.py", f"""\
        import torch
        from torch.utils.data import TensorDataset


        def load():
            x = torch.zeros(6, 1, 8, 8)
            y = torch.tensor([0, 1, 2, 0, 1, 2])
            {body}
        """)
    with pytest.raises(NasError) as info:
        components.load_bundle(settings(own, data="mine.py:load", data_args={}))
    assert expected in str(info.value)


def test_data_as_loaders_or_a_datamodule(own):
    write(own, "mine.py", """\
        import pytorch_lightning as pl
        import torch
        from torch.utils.data import DataLoader, TensorDataset

        DATA = TensorDataset(torch.randn(12, 5), torch.tensor([0, 1, 2] * 4))


        def loaders(batch_size=4):
            return DataLoader(DATA, batch_size=batch_size), DataLoader(DATA, batch_size=batch_size)


        class Module(pl.LightningDataModule):
            def train_dataloader(self):
                return DataLoader(DATA, batch_size=3)

            def val_dataloader(self):
                return DataLoader(DATA, batch_size=3)

            def test_dataloader(self):
                return DataLoader(DATA, batch_size=3)


        def datamodule():
            return Module()
        """)
    from_loaders = components.load_bundle(settings(own, data="mine.py:loaders", data_args={"batch_size": 6}))
    assert from_loaders.input_shape == (5,) and from_loaders.num_classes == 3 and from_loaders.test is None
    from_module = components.load_bundle(settings(own, data="mine.py:datamodule", data_args={}))
    assert from_module.input_shape == (5,) and from_module.test is not None
    with pytest.raises(UserCodeError, match="takes no 'batch_sise' \\(did you mean 'batch_size'\\?\\)"):
        components.load_bundle(settings(own, data="mine.py:loaders", data_args={"batch_sise": 6}))


def test_regression_targets_set_the_output_size_and_the_search_minimises():
    s = load_settings(REGRESSION / "config.yml")
    bundle = components.load_bundle(s)
    assert bundle.input_shape == (10,) and bundle.num_classes == 1
    assert s.monitor_name == "val_mse" and s.optimize_mode == "minimize"
    assert optimize_mode_of({"module": "regression", "optimize_mode": "maximize"}) == "maximize"
    assert optimize_mode_of({"module": "my.py:Mine"}) == "maximize"


# ------------------------------------------------------------------------------------------------------ modules
def train_one(s: NasSettings, out: Path) -> dict:
    """One short training of the first architecture, as a trial does."""
    from nni_nas.evaluation.modules import build_module
    from nni_nas.evaluation.training import train_and_evaluate

    bundle = components.load_bundle(s)
    space = components.build_space(s, (bundle.input_shape, bundle.num_classes))
    model = space.freeze({label: values[0] for label, values in search_choices(space).items()})
    module = build_module(s, model, bundle.num_classes)
    result, _ = train_and_evaluate(model, bundle, s.train, out, progress_bar=False, report=False, module=module,
                                   monitor=s.monitor_name)
    return result


def test_an_nni_contract_module_trains_and_every_logged_value_is_in_the_final_dict(own, tmp_path):
    s = settings(own, train={"epochs": 2, "latency_runs": 2})
    result = train_one(s, tmp_path / "out")
    assert result["default"] == result["val_acc"] > 0.3  # trained: chance is 0.1
    assert {"val_loss", "test_acc", "params", "flops", "latency_ms"} <= set(result)


def test_a_plain_lightning_module_takes_the_network_as_model(own, tmp_path):
    write(own, "plain.py", """\
        import pytorch_lightning as pl
        import torch
        import torch.nn.functional as F


        class Plain(pl.LightningModule):
            def __init__(self, model, lr=0.01):
                super().__init__()
                self.net, self.lr = model, lr

            def training_step(self, batch, batch_idx):
                x, y = batch
                return F.cross_entropy(self.net(x), y)

            def validation_step(self, batch, batch_idx):
                x, y = batch
                self.log("accuracy", (self.net(x).argmax(1) == y).float().mean())

            def configure_optimizers(self):
                return torch.optim.Adam(self.parameters(), lr=self.lr)


        class NoModel(pl.LightningModule):
            def __init__(self, lr=0.01):
                super().__init__()
        """)
    s = settings(own, module="plain.py:Plain", module_args={"lr": 0.02}, monitor="accuracy",
                 train={"epochs": 1, "latency_runs": 2})
    result = train_one(s, tmp_path / "out")
    assert result["default"] == result["accuracy"] and "test_acc" not in result  # Plain has no test_step
    from nni_nas.evaluation.modules import module_class

    with pytest.raises(UserCodeError, match="must take the network as its constructor's `model` argument"):
        module_class("plain.py:NoModel", own)
    with pytest.raises(UserCodeError, match="not a Lightning module"):
        module_class("my_space.py:MySpace", own)


def test_a_module_that_never_logs_the_monitored_value_stops_at_the_first_validation_epoch(own, tmp_path):
    from nni_nas.evaluation.modules import build_module, module_class
    from nni_nas.evaluation.nni_reporter import MissingMetricError
    from nni_nas.evaluation.training import train_and_evaluate

    write(own, "counting.py", """\
        from my_module import MyModule


        class Counting(MyModule):
            epochs = []  # the training epochs begun, seen from the test

            def on_train_epoch_start(self):
                Counting.epochs.append(self.current_epoch)
        """)
    s = settings(own, module="counting.py:Counting", monitor="val_accuracy", train={"epochs": 3, "latency_runs": 2})
    bundle = components.load_bundle(s)
    model = components.build_space(s).freeze({"conv2": 0, "dropout": 0.0, "feature": 32})
    with pytest.raises(MissingMetricError) as info:
        train_and_evaluate(model, bundle, s.train, tmp_path, progress_bar=False, module=build_module(s, model, 10),
                           monitor=s.monitor_name)
    message = str(info.value)
    assert "logged no 'val_accuracy'" in message and "'val_acc'" in message and "did you mean 'val_acc'" in message
    assert module_class("counting.py:Counting", own).epochs == [0]  # stopped after the first validation epoch


def test_the_trial_records_a_missing_metric_as_its_error(own, tmp_path):
    from nni_nas.runtime.trial import main

    settings(own, monitor="val_accuracy", train={"epochs": 1, "latency_runs": 2})
    code = main(["--config", str(own / "config.yml"), "--arch", '{"conv2": 1, "dropout": 0.0, "feature": 32}',
                 "--out", str(tmp_path / "trial")], use_worker=False)
    assert code == 2
    assert "logged no 'val_accuracy'" in (tmp_path / "trial" / "error.txt").read_text()
    assert (tmp_path / "trial" / "arch.json").is_file()  # what it was: kept


def test_builtin_modules_take_no_module_args(own):
    with pytest.raises(ConfigError, match="module_args are for your own module"):
        from nni_nas.evaluation.modules import build_module

        s = settings(own, module="classification", module_args={"lr": 1})
        build_module(s, torch.nn.Linear(2, 2), 2)


# ------------------------------------------------------------------------------------------------------ check
def test_the_shipped_examples_pass_the_check():
    assert check_config(OWN / "config.yml") == []
    assert check_config(REGRESSION / "config.yml") == []


@pytest.mark.parametrize("change, expected", [
    ({"space": "my_space.py:MySpce"}, "did you mean 'MySpace'?"),
    ({"module": "my_module.py:MyModule", "module_args": {"learning_rate": 1}}, "takes no 'learning_rate'"),
    ({"module": "regresion"}, "unknown module 'regresion' (did you mean 'regression'?)"),
    ({"data": "my_data.py:load", "data_args": {"val_fracton": 0.1}}, "(did you mean 'val_fraction'?)"),
    ({"space": 7}, "tuner.classArgs.space must be a registered name or your own code"),
    ({"module": "classification", "module_args": {}, "space_args": {"num_classes": 7}},
     "outputs (2, 7) for a batch of 2, but the classification module needs (2, 10)"),
])
def test_check_names_each_mistake_with_your_own_code(own, change, expected):
    settings_file = own / "config.yml"
    raw = yaml.safe_load(settings_file.read_text())
    raw["tuner"]["classArgs"].update(change)
    settings_file.write_text(yaml.safe_dump(raw))
    problems = check_config(settings_file)
    assert any(expected in problem for problem in problems), problems
    assert all("Traceback" not in problem and "\n" not in problem for problem in problems)


def test_check_runs_the_space_on_real_samples_and_names_the_users_line(own):
    source = (own / "my_space.py").read_text().replace("2 * channels * 2 * 2", "2 * channels * 3 * 3")
    (own / "my_space.py").write_text(source)
    problems = check_config(own / "config.yml")
    assert len(problems) == 1, problems
    assert "my_space.py:" in problems[0] and "mat1 and mat2 shapes cannot be multiplied" in problems[0]


def test_one_shot_strategies_refuse_your_own_code_in_one_line(own):
    raw = yaml.safe_load((own / "config.yml").read_text())
    raw["tuner"] = {"className": "strategies.enas.EnasTuner", "codeDirectory": ".",
                    "classArgs": {key: raw["tuner"]["classArgs"][key] for key in ("space", "data", "module")}}
    (own / "config.yml").write_text(yaml.safe_dump(raw))
    problems = check_config(own / "config.yml")
    assert any("can be searched by a multi-trial strategy" in p and "module 'my_module.py:MyModule'" in p
               for p in problems), problems


# ------------------------------------------------------------------------------------------------------ API
def test_the_api_writes_absolute_references(own, monkeypatch, tmp_path):
    import sys

    from nni_nas.api import write_config

    monkeypatch.chdir(own)
    monkeypatch.syspath_prepend(str(own))
    assert absolute_reference("my_space.py:MySpace", "space") == f"{own.resolve() / 'my_space.py'}:MySpace"
    assert absolute_reference("nni.nas.hub.pytorch:NasBench201", "space") == "nni.nas.hub.pytorch:NasBench201"
    assert absolute_reference("digits_cnn", "space") == "digits_cnn"
    import my_data  # noqa: F401  (the example's own module, imported as a user would)

    assert absolute_reference(sys.modules["my_data"].load, "data") == f"{own.resolve() / 'my_data.py'}:load"
    with pytest.raises(UserCodeError, match="not defined at the top level of a file"):
        absolute_reference(lambda: None, "data")
    config = write_config(tmp_path / "runs" / "c.yml", "my_space.py:MySpace", "random", data="my_data.py:load",
                          module="my_module.py:MyModule", module_args={"lr": 0.02}, trials=2, epochs=1)
    args = yaml.safe_load(config.read_text())["tuner"]["classArgs"]
    assert args["space"].startswith(str(own.resolve())) and args["module_args"] == {"lr": 0.02}
    assert check_config(config) == []
    assert TrainSettings.from_args(args["train"]).epochs == 1


# ------------------------------------------------------------------------------------------------ strategies
def own_args(own: Path, **extra) -> dict:
    args = yaml.safe_load((own / "config.yml").read_text())["tuner"]["classArgs"]
    for key in ("population_size", "sample_size"):
        args.pop(key)
    return {**args, **extra}


@pytest.mark.parametrize("name", ["evolution", "random", "pnas", "pareto", "local_search", "tpe", "grid",
                                  "bananas", "hyperband"])
def test_every_multi_trial_strategy_searches_your_own_space(own, monkeypatch, name):
    import strategies

    entry = strategies.STRATEGIES[name]
    assert entry.kind == "multi-trial"
    tuner = entry.tuner_class()(**own_args(own))
    tuner.code_dir = own
    seen = []
    for parameter_id in range(6):
        arch, fidelity = split_fidelity(tuner.generate_parameters(parameter_id))  # hyperband's epochs apart
        assert set(arch) == {"conv2", "dropout", "feature"}
        seen.append(json.dumps({**arch, **fidelity}, sort_keys=True))
        tuner.receive_trial_result(parameter_id, arch, {"default": 0.5 + 0.01 * parameter_id, "val_acc": 0.5,
                                                        "params": 1000 * (1 + arch["conv2"]), "flops": 10})
    assert len(set(seen)) == 6  # never the same architecture twice (hyperband: at the same rung)


def test_a_params_budget_holds_on_your_own_space_in_the_tuner_and_in_check(own):
    from model_spaces.costs import arch_cost
    from strategies.random_search import RandomTuner

    tuner = RandomTuner(**own_args(own, constraints={"max_params": 10000}))
    tuner.code_dir = own
    proposed = [tuner.generate_parameters(i) for i in range(4)]
    space = components.build_space(load_settings(own / "config.yml"))
    costs = [arch_cost(space, arch, (1, 8, 8))["params"] for arch in proposed]
    assert all(cost <= 10000 for cost in costs) and len({json.dumps(a, sort_keys=True) for a in proposed}) == 4
    settings(own, constraints={"max_params": 100})
    problems = check_config(own / "config.yml")
    assert any("constraints.max_params: 100 cannot be met" in p and "5,322 params" in p for p in problems), problems


# ------------------------------------------------------------------------------------------------------ CLI
def test_the_space_verb_lists_your_spaces_labels_and_size(own, monkeypatch, capsys):
    from nni_nas.cli import main

    monkeypatch.chdir(own)
    assert main(["space", "my_space.py:MySpace"]) == 0
    out = capsys.readouterr().out
    assert "for input (1, 8, 8), 10 classes" in out and "3 labels, 18 architectures" in out
    assert main(["space", "nni.nas.hub.pytorch:NasBench201", "--space-args",
                 '{"stem_out_channels": 4, "num_modules_per_stack": 1}']) == 0
    out = capsys.readouterr().out
    assert "cell/0_1" in out and "6 labels, 15,625 architectures" in out  # NNI's own labels
    assert main(["space", "my_space.py:MySpace", "--space-args", '{"num_classes": 3}']) == 0
    out = capsys.readouterr().out
    assert "18 architectures" in out and "classes" not in out  # given num_classes: the data is not read
    monkeypatch.chdir(REGRESSION)
    assert main(["space", "mlp_space.py:MlpSpace", "--data", "diabetes.py:load", "--module", "regression"]) == 0
    assert "for input (10,), 1 targets" in capsys.readouterr().out
    assert main(["space", "my_space.py:MySpace"]) != 0  # not in this folder: one line, no traceback
    err = capsys.readouterr().err
    assert "file not found:" in err and "Traceback" not in err


def test_labels_only_in_repeat_blocks_beyond_the_depth_are_inactive_in_a_plain_nni_space():
    """A plain NNI space declares no inactive labels; nni-nas reads them off its Repeat: act1 and act2 of a depth-1
    MLP change nothing, so the tuner must not train such twins and the portal shows the active labels only."""
    from nni_nas.arch import active_arch, canonical, count_networks
    from strategies.random_search import RandomTuner

    space = model_spaces.build_space(f"{REGRESSION / 'mlp_space.py'}:MlpSpace", (10,), 1)
    choices = search_choices(space)
    twins = [{"width": 16, "depth": 1, "act0": 1, "act1": a, "act2": b} for a in (0, 2) for b in (1, 2)]
    assert len({json.dumps(canonical(space, choices, arch), sort_keys=True) for arch in twins}) == 1
    assert active_arch(space, twins[0]) == {"width": 16, "depth": 1, "act0": 1}
    assert count_networks(space, choices) == 3 * (3 + 9 + 27)  # of 243 label settings
    args = yaml.safe_load((REGRESSION / "config.yml").read_text())["tuner"]["classArgs"]
    for key in ("population_size", "sample_size"):
        args.pop(key)
    tuner = RandomTuner(**args)
    tuner.code_dir = REGRESSION
    proposed = [json.dumps(canonical(space, choices, tuner.generate_parameters(i)), sort_keys=True)
                for i in range(80)]
    assert len(set(proposed)) == 80  # 80 of the 117 networks, none twice (by label settings, twins would recur)
