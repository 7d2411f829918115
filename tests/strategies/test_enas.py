"""ENAS: the REINFORCE gradient, the controller's learning, the parameter penalty, the shared-weight supernet, the
settings and one small in-process search."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
import torch

import model_spaces
from nni_nas.arch import freeze, search_choices, validate_arch
from nni_nas.checks import check_config
from nni_nas.config import ConfigError, NasSettings, TrainSettings
from nni_nas.evaluation.metrics import count_params
from strategies.enas import EnasTuner
from strategies.enas.controller import EnasController, MovingAverageBaseline, controller_step, reinforce_loss
from strategies.enas.search import EnasSearch, EnasSettings, PhasedEpoch
from strategies.enas.supernet import SharedWeightSupernet, UnsupportedSpaceError

REPO = Path(__file__).resolve().parents[2]
DIGITS = (1, 8, 8)
TINY = {
    "enas_macro": {"num_layers": 3, "channels": 8, "pool_after": [1]},
    "enas_micro": {"num_nodes": 2, "cells_per_stage": 1, "channels": 4},
}


def build(name, seed=0):
    torch.manual_seed(seed)
    return model_spaces.build_space(name, DIGITS, 10, **TINY[name])


# ------------------------------------------------------------------------------------------ REINFORCE
TOY_CHOICES = {"a": [0, 1, 2], "b": ["x", "y"]}
FIXED_ARCHS = [{"a": 0, "b": "x"}, {"a": 2, "b": "y"}, {"a": 1, "b": "x"}]
REWARDS = torch.tensor([1.0, 0.2, 0.5])
BASELINE = 0.4
TEMPERATURE, TANH = 2.0, 1.5


def _controller_with_logit_capture():
    torch.manual_seed(0)
    controller = EnasController(TOY_CHOICES, hidden_size=4, temperature=TEMPERATURE, tanh_constant=TANH,
                                init_range=0.5)
    captured = []
    for head in controller.heads:
        head.register_forward_hook(lambda module, args, out: captured.append((args[0].detach(), out.detach())))
    return controller, captured


@pytest.mark.parametrize("entropy_weight", [0.0, 0.05])
def test_reinforce_gradient_equals_hand_computed_gradient(entropy_weight):
    controller, captured = _controller_with_logit_capture()
    sample = controller.evaluate(FIXED_ARCHS)
    loss = reinforce_loss(sample.log_prob, sample.entropy, REWARDS, BASELINE, entropy_weight)
    loss.backward()

    n = len(FIXED_ARCHS)
    advantage = (REWARDS - BASELINE)[:, None]
    for step, (hidden, raw) in enumerate(captured):
        # by hand: z = C tanh(l / T), p = softmax(z); d(-A log p_a)/dz = -A (onehot(a) - p);
        # d(-beta H)/dz = beta p (log p + H); dz/dl = (C / T) (1 - tanh^2(l / T)); mean over the n samples
        z = TANH * torch.tanh(raw / TEMPERATURE)
        p = torch.softmax(z, dim=1)
        entropy = -(p * p.log()).sum(dim=1, keepdim=True)
        taken = controller.encode(FIXED_ARCHS)[:, step]
        onehot = torch.nn.functional.one_hot(taken, p.shape[1]).float()
        d_z = (-advantage * (onehot - p) + entropy_weight * p * (p.log() + entropy)) / n
        d_raw = d_z * (TANH / TEMPERATURE) * (1 - torch.tanh(raw / TEMPERATURE) ** 2)
        head = controller.heads[step]
        assert torch.allclose(head.bias.grad, d_raw.sum(dim=0), atol=1e-6)
        assert torch.allclose(head.weight.grad, d_raw.T @ hidden, atol=1e-6)


def test_reinforce_gradient_is_the_score_function_estimate_for_every_parameter():
    controller, _ = _controller_with_logit_capture()
    sample = controller.evaluate(FIXED_ARCHS)
    reinforce_loss(sample.log_prob, sample.entropy, REWARDS, BASELINE, 0.0).backward()
    got = [p.grad.clone() for p in controller.parameters()]
    # grad J = mean_i (r_i - b) grad log P(arch_i): one backward per architecture, summed by hand
    expected = [torch.zeros_like(p) for p in controller.parameters()]
    for arch, reward in zip(FIXED_ARCHS, REWARDS):
        controller.zero_grad()
        controller.evaluate([arch]).log_prob.sum().backward()
        for total, p in zip(expected, controller.parameters()):
            total -= (reward - BASELINE) / len(FIXED_ARCHS) * p.grad
    for g, e in zip(got, expected):
        assert torch.allclose(g, e, atol=1e-6)


def test_moving_average_baseline():
    baseline = MovingAverageBaseline(decay=0.9)
    baseline.update([1.0])
    assert baseline.value == 1.0  # starts at the first reward
    baseline.update([0.0, 0.5])
    assert baseline.value == pytest.approx(0.9 * (0.9 * 1.0) + 0.1 * 0.5)


@pytest.mark.parametrize(("reward", "direction"), [(0.9, 1), (0.2, -1), (0.5, 0)], ids=["above", "below", "equal"])
def test_a_step_makes_the_sampled_architecture_likelier_iff_its_reward_beats_the_baseline(reward, direction):
    torch.manual_seed(0)
    controller = EnasController(TOY_CHOICES, hidden_size=8)
    optimizer = torch.optim.SGD(controller.parameters(), lr=0.5)
    baseline = MovingAverageBaseline(decay=0.9, value=0.5)
    sampled = []

    def reward_fn(arch: dict) -> float:
        with torch.no_grad():  # the log-probability before the step, under the parameters that sampled it
            sampled.append((arch, float(controller.evaluate([arch]).log_prob)))
        return reward

    update = controller_step(controller, optimizer, baseline, reward_fn, batch_size=1)
    ((arch, before),) = sampled
    with torch.no_grad():
        after = float(controller.evaluate([arch]).log_prob)
    assert update["baseline_used"] == 0.5  # the advantage is r - b with b from before this reward
    if direction:
        assert direction * (after - before) > 1e-3, (before, after)  # all positive rewards: only r - b decides
    else:
        assert after == before  # r = b: no signal, no change
    assert baseline.value == pytest.approx(0.9 * 0.5 + 0.1 * reward)  # then b <- decay * b + (1 - decay) * r


def test_tanh_constant_bounds_the_probabilities():
    controller = EnasController({"op": ["a", "b", "c", "d"]}, hidden_size=4, temperature=None, tanh_constant=1.0)
    with torch.no_grad():
        controller.heads[0].bias.copy_(torch.tensor([100.0, -100.0, -100.0, -100.0]))
    probability = controller.evaluate([{"op": "a"}]).log_prob.exp().item()
    bound = torch.e / (torch.e + 3 / torch.e)  # logits clipped to (-1, 1)
    assert probability == pytest.approx(bound, abs=1e-3)


def test_later_decisions_are_conditioned_on_earlier_ones():
    torch.manual_seed(0)
    controller = EnasController(TOY_CHOICES, hidden_size=8, temperature=None, tanh_constant=None, init_range=1.0)
    with torch.no_grad():
        log_p = controller.evaluate([{"a": a, "b": b} for a in (0, 2) for b in ("x", "y")]).log_prob
    first, other = log_p[0] - log_p[1], log_p[2] - log_p[3]
    assert abs(float(first - other)) > 1e-3  # log P(b=x)/P(b=y) depends on a


def _frequency(controller, label, value, n=400):
    with torch.no_grad():
        archs = controller.sample(n).archs
    return sum(arch[label] == value for arch in archs) / n


def test_controller_learns_a_toy_reward():
    torch.manual_seed(0)
    controller = EnasController({"op": ["a", "b", "c", "d"], "depth": [1, 2, 3]}, hidden_size=16)
    before = _frequency(controller, "op", "c")
    optimizer = torch.optim.Adam(controller.parameters(), lr=0.05)
    baseline = MovingAverageBaseline(decay=0.9)
    for _ in range(100):
        controller_step(controller, optimizer, baseline, lambda arch: float(arch["op"] == "c"), batch_size=8)
    after = _frequency(controller, "op", "c")
    assert before < 0.4  # starts near uniform (0.25)
    assert after > 0.7


def _mean_child_params_after_training(param_penalty):
    from nni_nas.data import load_data

    supernet = SharedWeightSupernet(build("enas_macro"))
    torch.manual_seed(1)
    controller = EnasController(supernet.choices, hidden_size=16)
    settings = EnasSettings(param_penalty=param_penalty, controller_batch=4, baseline_decay=0.9)
    search = EnasSearch(supernet, controller, settings, TrainSettings(), epochs=1)
    val = load_data("digits").val
    x, y = val.tensors[0][:64], val.tensors[1][:64]
    optimizer = torch.optim.Adam(controller.parameters(), lr=0.05)
    for _ in range(60):
        controller_step(controller, optimizer, search.baseline, lambda arch: search.child_reward(arch, x, y), 4)
    with torch.no_grad():
        archs = controller.sample(300).archs
    return sum(supernet.count_params(arch) for arch in archs) / len(archs)


def test_parameter_penalty_steers_the_controller_to_smaller_children():
    plain = _mean_child_params_after_training(0.0)
    penalised = _mean_child_params_after_training(300.0)  # 300 per million: a 5x5 conv layer costs 0.48 reward
    assert penalised < 0.6 * plain


# ------------------------------------------------------------------------------------------ supernet
@pytest.mark.parametrize("name", ["enas_macro", "enas_micro"])
def test_supernet_child_equals_the_frozen_architecture(name):
    supernet = SharedWeightSupernet(build(name, seed=3))
    rng = random.Random(0)
    x = torch.randn(4, *DIGITS)
    for _ in range(3):
        arch = {label: rng.choice(values) for label, values in supernet.choices.items()}
        frozen = freeze(lambda: build(name, seed=3), arch).train()  # same seed: same initial weights
        supernet.activate(arch)
        assert torch.allclose(supernet.train()(x), frozen(x), atol=1e-5)
        assert supernet.count_params(arch) == count_params(frozen)


def test_only_the_sampled_childs_weights_are_trained():
    supernet = SharedWeightSupernet(build("enas_macro"))
    arch = {label: values[0] for label, values in supernet.choices.items()}  # every layer: conv3x3
    supernet.activate(arch)
    layer0 = supernet.net.layers[0].op
    used, unused = layer0.candidates[layer0.names.index("conv3x3")], layer0.candidates[layer0.names.index("conv5x5")]
    used_before, unused_before = [p.clone() for p in used.parameters()], [p.clone() for p in unused.parameters()]
    optimizer = torch.optim.SGD(supernet.parameters(), lr=0.1)
    loss = torch.nn.functional.cross_entropy(supernet(torch.randn(8, *DIGITS)), torch.arange(8))
    loss.backward()
    optimizer.step()
    assert any(not torch.equal(a, b) for a, b in zip(used.parameters(), used_before))
    assert all(torch.equal(a, b) for a, b in zip(unused.parameters(), unused_before))


@pytest.mark.parametrize("penalty, mode", [(0.0, True), (300.0, True), (0.0, False)])
def test_child_reward_is_accuracy_minus_c_times_params_in_millions(penalty, mode):
    """The child runs with batch statistics (ENAS evaluates children in training mode) whatever the supernet's mode,
    which is left as it was."""
    supernet = SharedWeightSupernet(build("enas_macro", seed=3)).train(mode)
    search = EnasSearch(supernet, EnasController(supernet.choices), EnasSettings(param_penalty=penalty),
                        TrainSettings(), epochs=1)
    rng = random.Random(1)
    x = torch.randn(32, *DIGITS)
    for _ in range(3):
        arch = {label: rng.choice(values) for label, values in supernet.choices.items()}
        frozen = freeze(lambda: build("enas_macro", seed=3), arch).train()  # the same child, built on its own
        with torch.no_grad():
            y = frozen(x).argmax(dim=1)
        y[:8] = (y[:8] + 1) % 10  # a batch the child gets exactly 24 of 32 right
        expected = 0.75 - penalty * count_params(frozen) / 1e6
        assert search.child_reward(arch, x, y) == pytest.approx(expected, abs=1e-6)
        assert supernet.training == mode and all(m.training == mode for m in supernet.modules())


def test_supernet_rejects_choices_it_cannot_share():
    space = model_spaces.build_space("digits_cnn", DIGITS, 10)
    with pytest.raises(UnsupportedSpaceError, match="width"):
        SharedWeightSupernet(space)


def test_phased_epoch_trains_then_cycles_validation_batches():
    epoch = PhasedEpoch(train_loader=["t1", "t2"], val_loader=["v1", "v2"], controller_steps=3)
    assert list(epoch) == [("shared", "t1"), ("shared", "t2"), ("controller", "v1"), ("controller", "v2"),
                           ("controller", "v1")]
    assert len(epoch) == 5


# ------------------------------------------------------------------------------------------ settings
def test_tuner_reads_every_enas_setting_into_the_one_dataclass():
    given = {"controller_steps": 7, "param_penalty": 0.5, "retrain": False}
    tuner = EnasTuner(space="enas_macro", **given)
    assert tuner.settings == EnasSettings(**given)
    assert EnasTuner(space="enas_macro").settings == EnasSettings()  # the defaults live in EnasSettings alone


def test_bad_settings_name_the_key():
    with pytest.raises(ConfigError, match="tuner.classArgs.baseline_decay: must be"):
        EnasSettings.from_args({"baseline_decay": 1.5})
    with pytest.raises(ConfigError, match="tuner.classArgs.controler_lr: unknown ENAS setting"):
        EnasSettings.from_args({"controler_lr": 0.1})
    with pytest.raises(ConfigError, match="tuner.classArgs.controller_steps: must be"):
        EnasTuner(space="enas_macro", controller_steps=-1)
    with pytest.raises(ConfigError, match="tuner.classArgs.param_penalty: must be"):
        EnasTuner(space="enas_macro", search_grid={"param_penalty": [0.0, -1.0]})


@pytest.mark.parametrize("config", ["digits_enas.yml", "digits_enas_micro.yml"])
def test_configs_pass_the_check(config):
    assert check_config(REPO / "configs" / config) == []


def test_cifar10_config_needs_only_the_data():
    problems = check_config(REPO / "configs" / "cifar10_enas.yml")
    assert all("CIFAR-10 not found" in problem for problem in problems)


def test_tuner_hands_out_one_run_per_seed():
    tuner = EnasTuner(space="enas_macro", runs=2, seed=5, search_grid={"param_penalty": [0.0, 1.0]})
    runs = [tuner.generate_parameters(i) for i in range(4)]
    assert runs == [{"seed": 5, "param_penalty": 0.0}, {"seed": 6, "param_penalty": 0.0},
                    {"seed": 5, "param_penalty": 1.0}, {"seed": 6, "param_penalty": 1.0}]


# ------------------------------------------------------------------------------------------ one search
def test_search_in_process_writes_its_records(tmp_path):
    settings = NasSettings.from_class_args({
        "space": "enas_macro", "space_args": TINY["enas_macro"], "data": "digits",
        "train": {"epochs": 2, "batch_size": 128, "latency_runs": 3},
        "controller_steps": 3, "controller_batch": 2, "controller_lr": 0.01, "controller_hidden": 16,
        "derive_samples": 3, "retrain": False,
    }, tuner_class="strategies.enas.EnasTuner")
    result = EnasTuner.run_trial(settings, {"seed": 1}, tmp_path, progress_bar=False)

    choices = search_choices(build("enas_macro"))
    assert validate_arch(choices, result["arch"]) == result["arch"]
    assert result["default"] == result["search_val_acc"] and result["seed"] == 1 and not result["retrained"]
    assert {"params", "flops", "latency_ms"} <= set(result)
    history = [json.loads(line) for line in (tmp_path / "search_history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [0, 1]
    assert all(h["mean_reward"] is not None and h["entropy"] > 0 and h["baseline"] is not None for h in history)
    derived = [json.loads(line) for line in (tmp_path / "derived.jsonl").read_text().splitlines()]
    assert derived[0]["arch"] == result["arch"]
    assert [d["reward"] for d in derived] == sorted((d["reward"] for d in derived), reverse=True)
    logged = next((tmp_path / "search").rglob("metrics.csv"))
    columns = next(csv.reader(logged.open()))
    assert {"val_acc", "mean_reward", "baseline", "entropy"} <= set(columns)
    assert json.loads((tmp_path / "arch.json").read_text()) == result["arch"]
