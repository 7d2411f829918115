"""SPOS's rules, each with a test that fails when the rule is broken: uniform single-path sampling, a supernet path
that trains exactly the chosen network's (sliced) weights, BatchNorm recalibration on the active path, the
evolutionary search (never a candidate twice, never one over budget, better than random on a known score), and a
whole run on your own space."""

from __future__ import annotations

import collections
import json
import random
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

import model_spaces
from nni_nas.checks import check_config
from nni_nas.config import load_settings
from nni_nas.evaluation.metrics import count_params
from strategies.spos.search import UniformPathSampling, evolution_search, score_on_supernet
from strategies.spos.settings import SposSettings
from strategies.supernet.sampling import (
    SamplingSupernet,
    describe_unsupported,
    recalibrate_batchnorm,
    unsupported_layers,
)

REPO = Path(__file__).resolve().parents[2]


def mlp_space(**args):
    return model_spaces.build_space(f"{REPO / 'examples' / 'regression' / 'mlp_space.py'}:MlpSpace", (10,), 1,
                                    **args)


def digits_cnn():
    return model_spaces.build_space("digits_cnn", (1, 8, 8), 10, widths=[8, 16], max_depth=3)


def test_sampling_is_uniform_over_each_labels_values():
    supernet = SamplingSupernet(digits_cnn())
    sampling = UniformPathSampling(supernet, seed=0)
    counts = collections.defaultdict(collections.Counter)
    draws = 1200
    for _ in range(draws):
        for label, value in sampling.draw(sampling.rng).items():
            counts[label][json.dumps(value)] += 1
    for label, values in supernet.choices.items():
        expected = draws / len(values)
        assert len(counts[label]) == len(values), label  # every value is drawn
        assert all(abs(n - expected) < 0.25 * expected for n in counts[label].values()), (label, counts[label])


def test_a_path_trains_exactly_the_chosen_networks_weights():
    """The weights that get a gradient on one path are those of the frozen network of that path: the searched
    width is a slice of the shared weight (a full weight would give the 64-wide layers' gradients)."""
    space = mlp_space(widths=[16, 64])
    arch = {"width": 16, "depth": 2, "act0": 1, "act1": 1, "act2": 0}
    frozen_params = count_params(mlp_space(widths=[16, 64]).freeze(arch))
    supernet = SamplingSupernet(space)
    supernet.activate(arch)
    loss = supernet(torch.randn(32, 10)).pow(2).mean()
    loss.backward()
    touched = sum(int((p.grad != 0).sum()) for p in supernet.parameters() if p.grad is not None)
    total = sum(p.numel() for p in supernet.parameters())
    assert 0.95 * frozen_params <= touched <= frozen_params < total / 3, (touched, frozen_params, total)


def test_each_activated_path_trains_its_own_width_in_the_supernet_and_in_a_copy():
    """activate() answers NNI's per-resample simplify() from the first one (a built supernet's mutables never change):
    switching paths still switches the sliced width, and a deep copy of the supernet samples its own mutables."""
    import copy

    wide = {"width": 64, "depth": 2, "act0": 1, "act1": 1, "act2": 0}
    narrow = {**wide, "width": 16}
    supernet = SamplingSupernet(mlp_space(widths=[16, 64]))

    def touched(net, arch):
        net.zero_grad(set_to_none=True)
        net.activate(arch)
        net(torch.randn(32, 10)).pow(2).mean().backward()
        return sum(int((p.grad != 0).sum()) for p in net.parameters() if p.grad is not None)

    sizes = {w: count_params(mlp_space(widths=[16, 64]).freeze(a)) for w, a in ((64, wide), (16, narrow))}
    for net in (supernet, copy.deepcopy(supernet)):
        for width, arch in ((64, wide), (16, narrow), (64, wide)):
            assert 0.95 * sizes[width] <= touched(net, arch) <= sizes[width], (width, touched(net, arch))
    twin = copy.deepcopy(supernet)
    for mine, theirs in zip(twin.modules_sampled, supernet.modules_sampled, strict=True):
        assert not set(map(id, mine.simplify().values())) & set(map(id, theirs.simplify().values()))


def test_the_supernet_accepts_every_mutable_kind_of_a_mixed_space_and_names_what_it_cannot_share():
    space = digits_cnn()  # LayerChoice, InputChoice, Repeat, a shared nni.choice width
    assert unsupported_layers(space) == []
    supernet = SamplingSupernet(space)
    rng = random.Random(1)
    for _ in range(5):
        supernet.activate(supernet.random_arch(rng))
        assert supernet(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    import nni
    from nni.nas.nn.pytorch import ModelSpace, MutableConv3d

    class Unshareable(ModelSpace):
        def __init__(self):
            super().__init__()
            self.conv = MutableConv3d(1, nni.choice("channels", [4, 8]), 3)

        def forward(self, x):
            return self.conv(x)

    assert unsupported_layers(Unshareable()) == ["conv (MutableConv3d: channels)"]
    assert describe_unsupported(unsupported_layers(Unshareable())) == "MutableConv3d (conv: channels)"


def test_batchnorm_is_recalibrated_on_the_active_path():
    supernet = SamplingSupernet(digits_cnn())
    batches = [(torch.randn(16, 1, 8, 8) * 3 + 1, torch.zeros(16, dtype=torch.long)) for _ in range(4)]
    norms = [m for m in supernet.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    rng = random.Random(0)
    archs = [supernet.random_arch(rng) for _ in range(2)]

    probe = torch.randn(8, 1, 8, 8)

    def calibrated(arch):
        supernet.activate(arch)
        assert recalibrate_batchnorm(supernet, batches, limit=3) == 3
        supernet.eval()
        with torch.no_grad():
            return supernet(probe), [int(m.num_batches_tracked) for m in norms]

    first, tracked = calibrated(archs[0])
    assert set(tracked) <= {0, 3} and 3 in tracked  # the path's layers saw exactly the 3 batches
    calibrated(archs[1])  # another path overwrites the shared statistics it uses
    for norm in norms:
        norm.running_mean.fill_(100.0)  # whatever the shared statistics were before
        norm.running_var.fill_(0.01)
    again, tracked_again = calibrated(archs[0])
    assert torch.allclose(again, first, atol=1e-5) and tracked_again == tracked  # recomputed from the batches alone
    # and they are the batches' statistics: the first layer's input is the batches themselves
    stem = next(m for m in norms if int(m.num_batches_tracked) == 3)
    assert stem.running_mean.abs().sum() > 0


def test_evolution_never_repeats_stays_in_budget_and_beats_random_on_a_known_score():
    supernet = SamplingSupernet(digits_cnn())
    choices = supernet.choices

    def score(arch):  # a known optimum: the last value of every label
        value = sum(choices[label].index(arch[label]) / (len(choices[label]) - 1 or 1) for label in choices)
        return value, value

    def feasible(arch):
        return arch["width"] == 8  # half the space

    settings = SposSettings(population_size=10, generations=6, parents=3, mutation_prob=0.2)
    evaluated = evolution_search(supernet, score, settings, random.Random(0), feasible)
    keys = [json.dumps(c.arch, sort_keys=True) for c in evaluated]
    assert len(keys) == len(set(keys)) <= 60 and all(feasible(c.arch) for c in evaluated)
    rng = random.Random(0)
    random_best = []
    for seed in range(20):
        rng = random.Random(seed)
        drawn = [supernet.random_arch(rng) for _ in range(len(evaluated) * 2)]
        random_best.append(max(score(a)[0] for a in drawn if feasible(a)))
    assert evaluated[0].score > sorted(random_best)[-3]  # better than random in 18 of 20 seeds at the same budget


def test_candidates_are_scored_with_the_supernets_weights():
    space = mlp_space()
    supernet = SamplingSupernet(space)
    x = torch.randn(64, 10)
    y = x[:, 0] * 2
    loader = [(x, y)]
    arch = {"width": 32, "depth": 1, "act0": 0, "act1": 0, "act2": 0}
    before, mse_before = score_on_supernet(supernet, arch, loader, loader, 0, None, "regression")
    optimizer = torch.optim.Adam(supernet.parameters(), lr=0.01)
    for _ in range(200):
        supernet.activate(arch)
        loss = F.mse_loss(supernet(x).reshape(-1), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after, mse_after = score_on_supernet(supernet, arch, loader, loader, 0, None, "regression")
    assert before == -mse_before and mse_after < 0.2 * mse_before  # trained weights, scored as -MSE


def test_a_spos_run_on_your_own_space_searches_and_retrains(tmp_path):
    folder = tmp_path / "own"
    shutil.copytree(REPO / "examples" / "own_space", folder)
    raw = yaml.safe_load((folder / "config.yml").read_text())
    args = raw["tuner"]["classArgs"]
    raw["tuner"] = {"className": "strategies.spos.SposTuner", "codeDirectory": ".", "classArgs": {
        "space": args["space"], "data": args["data"], "constraints": {"max_params": 12000},
        "train": {"epochs": 2, "batch_size": 64, "lr": 0.01, "optimizer": "adam", "seed": 0, "latency_runs": 2},
        "search_epochs": 4, "population_size": 4, "generations": 2, "parents": 2, "bn_batches": 3}}
    (folder / "config.yml").write_text(yaml.safe_dump(raw))
    assert check_config(folder / "config.yml") == []
    from strategies.spos import SposTuner

    settings = load_settings(folder / "config.yml")
    result = SposTuner.run_trial(settings, {"seed": 0}, tmp_path / "trial", progress_bar=False)
    assert set(result["arch"]) == {"conv2", "dropout", "feature"} and result["params"] <= 12000
    assert result["retrained"] is True and result["default"] > 0.5
    history = [json.loads(line) for line in (tmp_path / "trial" / "search_history.jsonl").read_text().splitlines()]
    assert [h["phase"] for h in history] == ["supernet", "search", "search"]
    derived = [json.loads(line) for line in (tmp_path / "trial" / "derived.jsonl").read_text().splitlines()]
    assert derived[0]["arch"] == result["arch"] and len(derived) == result["search_evaluated"]
    assert len((tmp_path / "trial" / "history.jsonl").read_text().splitlines()) == 4  # one point per supernet epoch


def test_check_refuses_your_own_module_for_spos_in_one_line(tmp_path):
    folder = tmp_path / "own"
    shutil.copytree(REPO / "examples" / "own_space", folder)
    raw = yaml.safe_load((folder / "config.yml").read_text())
    raw["tuner"]["className"] = "strategies.spos.SposTuner"
    for key in ("population_size", "sample_size", "seed"):
        raw["tuner"]["classArgs"].pop(key)
    (folder / "config.yml").write_text(yaml.safe_dump(raw))
    problems = check_config(folder / "config.yml")
    assert any("SPOS scores candidates with the built-in modules' metric" in p for p in problems), problems
