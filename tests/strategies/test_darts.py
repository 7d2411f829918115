"""DARTS: the relaxation, the architecture gradient (first and second order, eq. 6-8), the derivation, the tuner
and a tiny search on digits."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

import model_spaces
from nni_nas.arch import search_choices, validate_arch
from nni_nas.config import ConfigError, NasSettings, TrainSettings
from strategies.darts import DartsSettings, DartsTuner
from strategies.darts.architect import (
    architecture_gradient,
    exact_hvp,
    finite_difference_hvp,
    first_order_gradient,
    second_order_gradient,
)
from strategies.darts.evaluation import DropPathSchedule, EvaluationClassifier, cutout
from strategies.darts.supernet import DartsSupernet, UnsupportedSpaceError, derive_architecture

TINY = {"width": 2, "num_cells": 3, "num_nodes": 2, "stem_multiplier": 1}
OPS8 = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3",
        "dil_conv_5x5")


def tiny_supernet(seed: int = 0, dtype=torch.float32) -> DartsSupernet:
    torch.manual_seed(seed)
    space = model_spaces.build_space("darts", (1, 8, 8), 10, affine=False, **TINY)
    supernet = DartsSupernet(space).to(dtype)
    with torch.no_grad():  # alphas away from uniform, so that the second-order term is not negligible
        for alpha in supernet.arch_parameters():
            alpha.normal_(0, 0.5)
    return supernet


def smooth_supernet(seed: int = 0) -> DartsSupernet:
    """The tiny supernet in float64 with Softplus for ReLU and without max pooling: a smooth function.

    A finite difference and the exact derivative of a ReLU network disagree wherever the perturbation
    crosses a kink, which some of its thousands of units always do (measured: relative error about 5 at the
    paper's eps); that is a property of ReLU, not of eq. 8, so the comparison uses a smooth network.
    """
    torch.manual_seed(seed)
    ops = tuple(op for op in OPS8 if op != "max_pool_3x3")
    space = model_spaces.build_space("darts", (1, 8, 8), 10, affine=False, ops=ops, **TINY)
    _replace_relu(space)
    supernet = DartsSupernet(space).to(torch.float64)
    with torch.no_grad():
        for alpha in supernet.arch_parameters():
            alpha.normal_(0, 0.5)
    return supernet


def _replace_relu(module: torch.nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, torch.nn.ReLU):
            setattr(module, name, torch.nn.Softplus())
        else:
            _replace_relu(child)


def batches(dtype=torch.float32, n: int = 16):
    generator = torch.Generator().manual_seed(1)
    make = lambda: (torch.randn(n, 1, 8, 8, generator=generator, dtype=dtype),  # noqa: E731
                    torch.randint(0, 10, (n,), generator=generator))
    return make(), make()


def loss_of(supernet):
    return lambda batch: F.cross_entropy(supernet(batch[0]), batch[1])


def relative_error(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    flat_a, flat_b = torch.cat([t.flatten() for t in a]), torch.cat([t.flatten() for t in b])
    return float((flat_a - flat_b).norm() / flat_b.norm())


# ------------------------------------------------------------------------------------------ relaxation
def test_relaxation_shares_one_alpha_per_label_and_separates_w_from_alpha():
    supernet = tiny_supernet()
    # 2 nodes: edges 2 + 3 per cell type; the normal and reduction cells of all depths share these
    assert sorted(supernet.alphas) == sorted(label for label in search_choices(
        model_spaces.build_space("darts", (1, 8, 8), 10, **TINY)) if "_op_" in label)
    alpha_ids = {id(a) for a in supernet.arch_parameters()}
    assert not alpha_ids & {id(w) for w in supernet.weight_parameters()}
    assert len(list(supernet.parameters())) == len(alpha_ids) + len(supernet.weight_parameters())


def test_mixed_op_is_the_softmax_weighted_sum_of_its_ops():
    supernet = tiny_supernet()
    mixed = supernet.space.cells[0].nodes[0].edges[1]
    x = torch.randn(2, 2, 8, 8)
    weights = torch.softmax(supernet.alphas[mixed.label], -1)
    expected = sum(w * op(x) for w, op in zip(weights, mixed.ops))
    assert torch.allclose(mixed(x), expected)
    with torch.no_grad():
        supernet.alphas[mixed.label].copy_(torch.tensor([-50.0, -50, -50, 50, -50, -50, -50, -50]))
    assert torch.allclose(mixed(x), x, atol=1e-6)  # all weight on skip_connect: the identity


def test_a_node_sums_the_mixed_ops_on_all_its_predecessors():
    # eq. (2): x_j = sum_{i<j} o_bar_{i,j}(x_i), over every predecessor (the choice of 2 comes only at derivation)
    supernet = tiny_supernet()
    node = supernet.space.cells[0].nodes[1]  # node 3: edges from both cell inputs and from node 2
    states = [torch.randn(2, 2, 8, 8) for _ in range(3)]
    expected = sum(mixed(state) for mixed, state in zip(node.edges, states))
    assert len(node.edges) == 3 and torch.allclose(node(states), expected)


def test_spaces_darts_cannot_relax_are_refused_with_the_fix():
    space = model_spaces.build_space("digits_cnn", (1, 8, 8), 10)
    with pytest.raises(UnsupportedSpaceError, match="space: darts"):
        DartsSupernet(space)


# ------------------------------------------------------------------------------- architecture gradient
def test_finite_difference_hvp_matches_double_backward():
    supernet = smooth_supernet()
    train_batch, val_batch = batches(torch.float64)
    weights, alphas = supernet.weight_parameters(), supernet.arch_parameters()
    # the vector DARTS uses: the gradient of the validation loss with respect to w
    vector = list(torch.autograd.grad(loss_of(supernet)(val_batch), weights))
    exact = exact_hvp(loss_of(supernet), weights, alphas, train_batch, vector)
    approx = finite_difference_hvp(loss_of(supernet), weights, alphas, train_batch, vector)  # paper's eps
    assert torch.cat([e.flatten() for e in exact]).norm() > 1e-3
    assert relative_error(approx, exact) < 1e-2
    finer = finite_difference_hvp(loss_of(supernet), weights, alphas, train_batch, vector, scale=1e-4)
    assert relative_error(finer, exact) < 1e-5


def test_finite_difference_hvp_leaves_w_unchanged():
    supernet = tiny_supernet()
    train_batch, _ = batches()
    weights = supernet.weight_parameters()
    before = [w.detach().clone() for w in weights]
    finite_difference_hvp(loss_of(supernet), weights, supernet.arch_parameters(), train_batch,
                          [torch.randn_like(w) for w in weights])
    assert all(torch.equal(w, b) for w, b in zip(weights, before))


def test_second_order_gradient_matches_the_exact_unrolled_gradient():
    # eq. (6) differentiated exactly: grad_alpha L_val(w - xi * grad_w L_train(w, alpha), alpha)
    supernet = smooth_supernet()
    train_batch, val_batch = batches(torch.float64)
    names = [name for name, p in supernet.named_parameters() if not name.startswith("alphas.")]
    weights, alphas, xi = supernet.weight_parameters(), supernet.arch_parameters(), 0.1
    grads = torch.autograd.grad(loss_of(supernet)(train_batch), weights, create_graph=True)
    virtual = {name: w - xi * g for name, w, g in zip(names, weights, grads)}
    val_loss = F.cross_entropy(functional_call(supernet, virtual, (val_batch[0],)), val_batch[1])
    exact = torch.autograd.grad(val_loss, alphas)

    approx, _ = second_order_gradient(loss_of(supernet), weights, alphas, train_batch, val_batch, xi)
    first, _ = first_order_gradient(loss_of(supernet), alphas, val_batch)
    assert relative_error(first, list(exact)) > 1e-2  # the second-order term matters here
    assert relative_error(approx, list(exact)) < 1e-2


def test_second_order_with_xi_zero_is_first_order():
    supernet = tiny_supernet(dtype=torch.float64)
    train_batch, val_batch = batches(torch.float64)
    weights, alphas = supernet.weight_parameters(), supernet.arch_parameters()
    first, _ = first_order_gradient(loss_of(supernet), alphas, val_batch)
    second, _ = second_order_gradient(loss_of(supernet), weights, alphas, train_batch, val_batch, xi=0.0)
    assert relative_error(second, first) < 1e-9


def test_first_and_second_order_steps_both_move_alpha_and_differently():
    moved = {}
    for order in (1, 2):
        supernet = tiny_supernet(seed=0)
        train_batch, val_batch = batches()
        before = [a.detach().clone() for a in supernet.arch_parameters()]
        optimiser = torch.optim.Adam(supernet.arch_parameters(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
        architecture_gradient(loss_of(supernet), supernet.weight_parameters(), supernet.arch_parameters(),
                              train_batch, val_batch, order=order, xi=0.5)
        optimiser.step()
        moved[order] = torch.cat([(a.detach() - b).flatten() for a, b in zip(supernet.arch_parameters(), before)])
        assert moved[order].abs().max() > 1e-5
    # Adam's first step moves each alpha by about lr * sign(grad): the orders differ in direction somewhere
    assert (moved[1] - moved[2]).abs().max() > 1e-5


def test_unknown_order_is_refused():
    supernet = tiny_supernet()
    train_batch, val_batch = batches()
    with pytest.raises(ValueError, match="order must be 1"):
        architecture_gradient(loss_of(supernet), supernet.weight_parameters(), supernet.arch_parameters(),
                              train_batch, val_batch, order=3, xi=0.1)


# --------------------------------------------------------------------------------------- derivation


def op_weights(strongest: str, strength: float, none: float = 0.0) -> dict[str, float]:
    rest = (1.0 - strength - none) / 6
    return {op: none if op == "none" else (strength if op == strongest else rest) for op in OPS8}


def test_derivation_keeps_two_strongest_edges_ignoring_none():
    edges = {"normal_input_2": ["normal_op_2_0", "normal_op_2_1"],
             "normal_input_3": ["normal_op_3_0", "normal_op_3_1", "normal_op_3_2"]}
    weights = {
        "normal_op_2_0": op_weights("sep_conv_3x3", 0.3),
        "normal_op_2_1": op_weights("skip_connect", 0.2, none=0.7),  # none dominates, still a real op is kept
        # node 3: the edge from 0 is mostly `none`; its strongest real op (0.15) loses to the others
        "normal_op_3_0": op_weights("max_pool_3x3", 0.15, none=0.8),
        "normal_op_3_1": op_weights("dil_conv_5x5", 0.4),
        "normal_op_3_2": op_weights("sep_conv_5x5", 0.35),
    }
    arch = derive_architecture(weights, edges, {"normal_input_2": 2, "normal_input_3": 2})
    assert arch["normal_input_2"] == [0, 1]
    assert (arch["normal_op_2_0"], arch["normal_op_2_1"]) == ("sep_conv_3x3", "skip_connect")
    assert arch["normal_input_3"] == [1, 2]
    assert (arch["normal_op_3_1"], arch["normal_op_3_2"]) == ("dil_conv_5x5", "sep_conv_5x5")
    assert arch["normal_op_3_0"] == "none"  # an unused edge takes the canonical first value


def test_derivation_ranks_edges_by_their_strongest_op_other_than_none():
    edges = {"normal_input_3": [f"normal_op_3_{i}" for i in range(3)],
             "normal_input_4": [f"normal_op_4_{i}" for i in range(4)]}
    weights = {
        # node 3: edges 0 and 2 tie at 0.3 behind edge 1; the earlier source wins the tie
        "normal_op_3_0": {**dict.fromkeys(OPS8, 0.0), "none": 0.7, "avg_pool_3x3": 0.3},
        "normal_op_3_1": {**dict.fromkeys(OPS8, 0.5 / 7), "sep_conv_5x5": 0.5},
        "normal_op_3_2": {**dict.fromkeys(OPS8, 0.1), "dil_conv_5x5": 0.3},
        # node 4, four edges, and each plausible wrong rule keeps another pair:
        #   strongest op but `none` (the paper): edges 2 (0.45) and 1 (0.40)
        #   strongest op counting `none`: edges 0 (0.9) and 2 (0.55)
        #   total weight of the ops but `none`: edges 1 (0.91) and 3 (0.9)
        "normal_op_4_0": {**dict.fromkeys(OPS8, 0.0), "none": 0.9, "max_pool_3x3": 0.1},
        "normal_op_4_1": {**dict.fromkeys(OPS8, 0.6 / 7), "sep_conv_3x3": 0.4},
        "normal_op_4_2": {**dict.fromkeys(OPS8, 0.0), "none": 0.55, "dil_conv_3x3": 0.45},
        "normal_op_4_3": {**dict.fromkeys(OPS8, 0.1), "skip_connect": 0.3},
    }
    assert all(math.isclose(sum(w.values()), 1.0) for w in weights.values())
    arch = derive_architecture(weights, edges, {"normal_input_3": 2, "normal_input_4": 2})
    assert arch["normal_input_3"] == [0, 1]
    assert (arch["normal_op_3_0"], arch["normal_op_3_1"]) == ("avg_pool_3x3", "sep_conv_5x5")  # none was 0.7
    assert arch["normal_input_4"] == [1, 2]
    assert (arch["normal_op_4_1"], arch["normal_op_4_2"]) == ("sep_conv_3x3", "dil_conv_3x3")  # none was 0.55
    assert arch["normal_op_3_2"] == arch["normal_op_4_0"] == arch["normal_op_4_3"] == "none"  # unused: canonical


def test_derived_architecture_of_random_alphas_fits_the_space_and_never_uses_none():
    space = model_spaces.build_space("darts", (1, 8, 8), 10, width=2, num_cells=3)
    for seed in range(5):
        torch.manual_seed(seed)
        supernet = DartsSupernet(model_spaces.build_space("darts", (1, 8, 8), 10, width=2, num_cells=3))
        with torch.no_grad():
            for alpha in supernet.arch_parameters():
                alpha.normal_(0, 2.0)
        arch = validate_arch(search_choices(space), supernet.derive_architecture())
        genotype = space.genotype(arch)
        for pairs in (genotype.normal, genotype.reduce):
            assert len(pairs) == 2 * 4 and all(op != "none" for op, _ in pairs)
            for node in range(4):  # two different inputs per node, from its predecessors
                sources = [source for _, source in pairs[2 * node: 2 * node + 2]]
                assert len(set(sources)) == 2 and max(sources) < node + 2


# ---------------------------------------------------------------------------------- tuner and options
def test_tuner_hands_out_runs_and_checks_its_arguments():
    tuner = DartsTuner(space="darts", runs=2, seed=5, search_grid={"order": [1, 2]})
    params = [tuner.generate_parameters(i) for i in range(4)]
    assert params == [{"seed": 5, "order": 1}, {"seed": 6, "order": 1}, {"seed": 5, "order": 2},
                      {"seed": 6, "order": 2}]
    with pytest.raises(ConfigError, match="tuner.classArgs.order: must be 1"):
        DartsTuner(space="darts", order=3)
    with pytest.raises(ConfigError, match="not DARTS settings"):
        DartsTuner(space="darts", search_grid={"learning_rate": [0.1]})
    with pytest.raises(ConfigError, match=r"tuner.classArgs.unroled: unknown DARTS setting"):
        DartsSettings.from_args({"unroled": True})
    with pytest.raises(ConfigError, match=r"tuner.classArgs.unroled: unknown DARTS setting"):
        DartsTuner(space="darts", unroled=True)


def test_cutout_zeroes_one_square_clipped_at_the_border():
    image = torch.ones(3, 8, 8)
    out = cutout(image, 4, generator=torch.Generator().manual_seed(0))
    zeros = (out == 0).all(dim=0)
    rows, cols = zeros.any(dim=1).nonzero().flatten(), zeros.any(dim=0).nonzero().flatten()
    assert 0 < int(zeros.sum()) <= 16 and int(zeros.sum()) == len(rows) * len(cols)
    assert torch.equal(image, torch.ones(3, 8, 8))  # the input is not modified


def test_drop_path_probability_grows_linearly_and_is_off_after_training():
    module = SimpleNamespace(model=SimpleNamespace(drop_path_prob=0.0))
    schedule = DropPathSchedule(0.2)
    seen = []
    for epoch in range(4):
        schedule.on_train_epoch_start(SimpleNamespace(current_epoch=epoch, max_epochs=4), module)
        seen.append(module.model.drop_path_prob)
    assert seen == pytest.approx([0.0, 0.05, 0.1, 0.15])
    schedule.on_train_end(SimpleNamespace(), module)
    assert module.model.drop_path_prob == 0.0


def test_auxiliary_loss_is_added_in_training():
    space = model_spaces.build_space("darts", (1, 8, 8), 10, width=4, num_cells=3, auxiliary=True)
    model = space.freeze({label: values[-1] for label, values in search_choices(space).items()})
    batch = (torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,)))
    plain = EvaluationClassifier(model, 10, auxiliary_weight=0.0)
    weighted = EvaluationClassifier(model, 10, auxiliary_weight=0.4)
    model.train()
    torch.manual_seed(0)
    base = plain.training_step(batch, 0)
    torch.manual_seed(0)
    with_aux = weighted.training_step(batch, 0)
    expected = base + 0.4 * F.cross_entropy(model.aux_logits, batch[1])
    assert torch.allclose(with_aux, expected)


# ------------------------------------------------------------------------------------- tiny search
def test_tiny_search_on_digits_beats_chance_and_records_each_epoch(tmp_path):
    settings = NasSettings(
        space="darts", data="digits", space_args={"width": 8, "num_cells": 3, "num_nodes": 3},
        train=TrainSettings(epochs=1, latency_runs=3, seed=0), tuner_class="strategies.darts.DartsTuner",
        strategy_args={"search_epochs": 3, "order": 1, "w_lr": 0.05, "arch_lr": 3e-3, "retrain": False},
    )
    result = DartsTuner.run_trial(settings, {"seed": 0}, tmp_path, progress_bar=False)
    assert result["search_val_acc"] >= 0.5  # chance is 0.1 on ten classes
    assert result["default"] == result["search_val_acc"] and result["retrained"] is False
    assert result["genotype"].startswith("Genotype(normal=[") and "none" not in result["genotype"]
    records = [json.loads(line) for line in (tmp_path / "search_history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [0, 1, 2]
    assert all(math.isclose(sum(r["alpha_softmax"]["normal_op_2_0"].values()), 1.0, rel_tol=1e-5) for r in records)
    # alpha moved during the search
    first, last = records[0]["alpha_softmax"], records[-1]["alpha_softmax"]
    assert any(abs(first[k][op] - last[k][op]) > 1e-3 for k in first for op in first[k])
    assert (tmp_path / "genotype.txt").read_text().strip() == result["genotype"]
    assert (tmp_path / "cells.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "arch.json").read_text()) == records[-1]["arch"]  # the derived architecture


def test_retrain_with_the_papers_evaluation_options(tmp_path):
    settings = NasSettings(
        space="darts", data="digits", space_args={"width": 4, "num_cells": 3, "num_nodes": 2},
        train=TrainSettings(epochs=2, latency_runs=3, seed=1), tuner_class="strategies.darts.DartsTuner",
        strategy_args={"search_epochs": 1, "order": 2, "eval_space_args": {"width": 6},
                       "cutout_length": 4, "drop_path_prob": 0.2, "auxiliary_weight": 0.4, "eval_grad_clip": 5.0},
    )
    result = DartsTuner.run_trial(settings, None, tmp_path, progress_bar=False)
    assert result["retrained"] is True and result["order"] == 2
    assert {"default", "val_acc", "test_acc", "params", "flops", "latency_ms", "genotype"} <= set(result)
    weights = torch.load(tmp_path / "model.pt")
    assert any(key.startswith("auxiliary_head.") for key in weights)  # the evaluation network has the head
    assert weights["classifier.weight"].shape[1] == 4 * 2 * 6  # width 6 doubled twice, 2 nodes concatenated
    settings_file = json.loads((tmp_path / "settings.json").read_text())
    assert settings_file["class_args"]["space_args"] == {"width": 6, "num_cells": 3, "num_nodes": 2,
                                                         "auxiliary": True}


def test_mixed_op_gives_the_plain_weighted_sum_and_its_gradients():
    """MixedOp's shortcuts (skipping `none`, one shared ReLU, one stacked sum) change no value and no gradient:
    the same supernet against each candidate called on its own and summed with the softmax weights."""
    import copy

    import model_spaces
    from strategies.darts.supernet import DartsSupernet, MixedOp

    torch.manual_seed(0)
    space = model_spaces.build_space("darts", (1, 8, 8), 10, width=4, num_cells=3, num_nodes=2, affine=False,
                                     auxiliary=False)
    fast = DartsSupernet(space)
    plain = copy.deepcopy(fast)
    for module in plain.modules():
        if isinstance(module, MixedOp):
            module.forward = (lambda m: lambda x: sum(w * op(x) for w, op in
                                                      zip(torch.softmax(m._alpha[0], -1), m.ops)))(module)
    with torch.no_grad():
        for a in list(fast.alphas.values()) + list(plain.alphas.values()):
            a.copy_(torch.arange(len(a), dtype=torch.float32) / 4)
    x, y = torch.randn(6, 1, 8, 8), torch.randint(0, 10, (6,))
    outs = []
    for net in (fast, plain):
        out = net(x)
        torch.nn.functional.cross_entropy(out, y).backward()
        outs.append(out)
    assert torch.allclose(outs[0], outs[1], atol=1e-5)
    for p, q in zip(fast.parameters(), plain.parameters()):
        assert (p.grad is None) == (q.grad is None)
        if p.grad is not None:
            assert torch.allclose(p.grad, q.grad, atol=1e-5), p.shape
    assert all(a.grad is not None and bool(a.grad.abs().sum() > 0) for a in fast.alphas.values())


def test_the_virtual_step_hands_back_its_gradient_at_the_unchanged_weights():
    supernet = tiny_supernet()
    weights, alphas = supernet.weight_parameters(), supernet.arch_parameters()
    train_batch, val_batch = batches()
    # BN's batch statistics make the loss depend on the batch only: the same batch gives the same gradient
    expected = torch.autograd.grad(loss_of(supernet)(train_batch), weights, allow_unused=True)
    virtual: list = []
    second_order_gradient(loss_of(supernet), weights, alphas, train_batch, val_batch, xi=0.1, virtual=virtual)
    (grads, loss), = virtual
    assert relative_error(grads, [torch.zeros_like(w) if g is None else g for w, g in zip(weights, expected)]) < 1e-5
    assert float(loss) == pytest.approx(float(loss_of(supernet)(train_batch).detach()), rel=1e-5)


@pytest.mark.parametrize("reuse", [True, False])
def test_the_weight_step_reuses_the_virtual_gradient_only_when_asked(reuse, monkeypatch):
    """One second-order training step with plain SGD (lr 0.1, no momentum, decay or clipping): with
    ``reuse_virtual_step`` w moves along the gradient at the alpha before the architecture update, without it along
    the gradient at the updated alpha (the paper's order). The two differ, so either rule broken fails."""
    from strategies.darts.search import DartsSearchModule

    supernet = tiny_supernet()
    weights, alphas = supernet.weight_parameters(), supernet.arch_parameters()
    train_batch, val_batch = batches()
    hp = DartsSettings(order=2, reuse_virtual_step=reuse, grad_clip=None, w_momentum=0.0, w_weight_decay=0.0,
                       arch_lr=0.05)
    module = DartsSearchModule(supernet, 10, hp, epochs=1)
    w_opt, arch_opt = torch.optim.SGD(weights, lr=0.1), torch.optim.Adam(alphas, lr=hp.arch_lr)
    wrap = lambda opt: SimpleNamespace(optimizer=opt, zero_grad=opt.zero_grad, step=opt.step)  # noqa: E731
    module.optimizers = lambda: (wrap(w_opt), wrap(arch_opt))
    module.log = lambda *args, **kwargs: None
    monkeypatch.setattr("nni_nas.runtime.distributed.local_backward", lambda module, loss: loss.backward())
    before = [w.detach().clone() for w in weights]

    def gradient_at_current_alpha() -> list[torch.Tensor]:
        with torch.no_grad():
            saved = [w.detach().clone() for w in weights]
            for w, b in zip(weights, before):
                w.copy_(b)
        grads = torch.autograd.grad(loss_of(supernet)(train_batch), weights, allow_unused=True)
        with torch.no_grad():
            for w, s in zip(weights, saved):
                w.copy_(s)
        return [torch.zeros_like(w) if g is None else g for w, g in zip(weights, grads)]

    old_alpha_grads = gradient_at_current_alpha()
    module.training_step({"weights": train_batch, "arch": val_batch}, 0)
    new_alpha_grads = gradient_at_current_alpha()  # alpha has moved; w is read back at its old value
    moved = [b - w.detach() for w, b in zip(weights, before)]
    expected, other = (old_alpha_grads, new_alpha_grads) if reuse else (new_alpha_grads, old_alpha_grads)
    assert relative_error(moved, [0.1 * g for g in expected]) < 1e-4
    assert relative_error(moved, [0.1 * g for g in other]) > 1e-3
