"""ProxylessNAS's binary gates (strategies/supernet/binary_gate.py): the same gradients as NNI 3.0's gates, and the
other candidates run in backward only when alpha's gradient is asked for (a weight step runs the sampled path
alone)."""

from __future__ import annotations

import copy

import nni
import pytest
import torch
from nni.nas.nn.pytorch import InputChoice, LayerChoice, ModelSpace, Repeat
from nni.nas.oneshot.pytorch.supermodule.proxyless import ProxylessMixedInput, ProxylessMixedLayer
from torch import nn

from strategies.supernet.binary_gate import LazyGateInput, LazyGateLayer
from strategies.supernet.relaxed import RelaxedSupernet


class Counting(nn.Module):
    def __init__(self, kernel: int):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, kernel, padding=kernel // 2)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return torch.tanh(self.conv(x))


class Space(ModelSpace):
    """A LayerChoice of three counting candidates, an InputChoice and a Repeat of optional blocks."""

    def __init__(self):
        super().__init__()
        self.op = LayerChoice({"a": Counting(3), "b": Counting(5), "c": Counting(1)}, label="op")
        self.skip = InputChoice(3, 1, label="skip")
        self.blocks = Repeat(lambda i: nn.Conv2d(4, 4, 3, padding=1), nni.choice("depth", [1, 2, 3]))

    def forward(self, x):
        a = self.op(x)
        return self.blocks(self.skip([a, x, -a])).mean((2, 3))


def _pair(kind: type) -> tuple[nn.Module, nn.Module]:
    """One gated layer of the relaxed supernet, and a copy of it with NNI's own class (its gate)."""
    torch.manual_seed(0)
    supernet = RelaxedSupernet(Space(), "proxyless").double()
    [ours] = [m for m in supernet.modules() if isinstance(m, kind) and getattr(m, "label", None) in ("op", "skip")]
    theirs = copy.deepcopy(ours)
    theirs.__class__ = kind
    return ours, theirs


def _layers():
    ours, theirs = _pair(ProxylessMixedLayer)
    assert type(ours) is LazyGateLayer
    return ours, theirs


@pytest.mark.parametrize("sampled", ["a", "b", "c"])
def test_the_gradients_equal_nnis_binary_gate(sampled):
    """alpha's estimator (ProxylessNAS Section 3.2), the input's and the candidates' weights' gradients, float64."""
    ours, theirs = _layers()
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    grad = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    results = []
    for layer in (ours, theirs):
        layer.resample({"op": sampled})
        inp = x.clone().requires_grad_()
        out = layer(inp)
        out.backward(grad)
        results.append((out.detach(), inp.grad, layer._arch_alpha.grad,
                        [p.grad for p in layer.parameters() if p is not layer._arch_alpha]))
    (out_a, x_a, alpha_a, w_a), (out_b, x_b, alpha_b, w_b) = results
    torch.testing.assert_close(out_a, out_b, rtol=0, atol=0)
    torch.testing.assert_close(x_a, x_b, rtol=0, atol=1e-12)
    assert alpha_a is not None and alpha_a.abs().sum() > 0
    torch.testing.assert_close(alpha_a, alpha_b, rtol=1e-10, atol=1e-12)
    for a, b in zip(w_a, w_b):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_a_weight_step_runs_the_sampled_candidate_only():
    """A backward for the weights alone (the search's weight step) gives the same weight gradients and runs no other
    candidate; one that asks for alpha runs each other candidate once. NNI's gate runs them in both."""
    ours, theirs = _layers()
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    calls = {}
    weight_grads = {}
    for name, layer in (("ours", ours), ("theirs", theirs)):
        layer.resample({"op": "a"})
        weights = [p for p in layer.parameters() if p is not layer._arch_alpha]
        for mode, inputs in (("weights", weights), ("alpha", [layer._arch_alpha])):
            for key in layer.names:
                layer[key].calls = 0
            layer.zero_grad()
            torch.autograd.backward((layer(x) ** 2).sum(), inputs=inputs)
            calls[name, mode] = {key: layer[key].calls for key in layer.names}
            if mode == "weights":
                weight_grads[name] = [p.grad for p in weights]
                assert layer._arch_alpha.grad is None
    assert calls["ours", "weights"] == {"a": 1, "b": 0, "c": 0}
    assert calls["ours", "alpha"] == {"a": 1, "b": 1, "c": 1}
    assert calls["theirs", "weights"] == {"a": 1, "b": 1, "c": 1}  # why ours exists
    for a, b in zip(weight_grads["ours"], weight_grads["theirs"]):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_an_input_gate_gives_nnis_gradients():
    ours, theirs = _pair(ProxylessMixedInput)
    assert type(ours) is LazyGateInput
    inputs = [torch.randn(2, 3, dtype=torch.float64) for _ in range(3)]
    grad = torch.randn(2, 3, dtype=torch.float64)
    alpha_grads = []
    for layer in (ours, theirs):
        layer.resample({"skip": [1]})
        leaves = [t.clone().requires_grad_() for t in inputs]
        out = layer(leaves)
        torch.testing.assert_close(out, inputs[1], rtol=0, atol=0)
        out.backward(grad)
        alpha_grads.append(layer._arch_alpha.grad)
        assert leaves[1].grad is not None and leaves[0].grad is None
    assert alpha_grads[0].abs().sum() > 0
    torch.testing.assert_close(*alpha_grads, rtol=1e-10, atol=1e-12)


def test_the_relaxed_supernet_gates_every_layer_its_repeat_makes_too():
    supernet = RelaxedSupernet(Space(), "proxyless")
    gated = [m for m in supernet.modules() if isinstance(m, ProxylessMixedLayer | ProxylessMixedInput)]
    assert len(gated) == 4  # the LayerChoice, the InputChoice and two optional blocks
    assert all(type(m) in (LazyGateLayer, LazyGateInput) for m in gated)
