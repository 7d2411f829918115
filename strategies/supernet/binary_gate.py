"""ProxylessNAS's binary gates (Cai et al. 2019, Section 3.2), with the architecture gradient computed only when a
backward pass asks for it.

NNI 3.0's ``ProxylessMixedLayer`` and ``ProxylessMixedInput`` run the sampled path and pass its output through an
autograd function whose backward gives ``alpha`` the paper's estimator

    dL/dalpha_i = sum_j dL/dg_j p_j (delta_ij - p_i) = p_i (dL/dg_i - sum_j p_j dL/dg_j),   dL/dg_j = <dL/dy, o_j>,

which needs every candidate's output ``o_j`` on the saved input: one extra forward of each candidate not sampled.
NNI's backward means to skip that work when ``alpha`` needs no gradient, but tests the wrong argument (the path
function's, which never does), so it runs every candidate in every backward, also in the weight step, whose
backward asks for the weights' gradients only. :class:`BinaryGate` asks the autograd engine instead whether the
gradient of ``alpha`` is computed in this backward, as PyTorch's own convolution does for its weight
(``strategies/supernet/depthwise.py`` does the same). A ProxylessNAS weight step then runs the sampled paths only,
forward and backward, which is the paper's point. It also computes the estimator as one vector expression, not a
double loop of scalar operations.

:func:`use_lazy_gates` swaps the class of NNI's gated layers in place (those a ``Repeat`` makes for its optional
blocks too); nothing else about them changes.
"""

from __future__ import annotations

from typing import Any

import torch
from nni.nas.oneshot.pytorch.supermodule.proxyless import ProxylessMixedInput, ProxylessMixedLayer
from torch import nn


def _as_tuple(value: Any) -> tuple[torch.Tensor, ...]:
    return tuple(value) if isinstance(value, tuple | list) else (value,)


class BinaryGate(torch.autograd.Function):
    """``gate(path, index, n_inputs, softmax, alpha, *inputs, *outputs) = outputs``; in backward, ``alpha`` gets the
    binary-gate estimator (module docstring), the outputs' gradient passes through, the inputs get none (they are
    saved only to run the other candidates)."""

    @staticmethod
    def forward(ctx, path, index: int, n_inputs: int, softmax, alpha: torch.Tensor, *inputs_outputs: torch.Tensor):
        ctx.path, ctx.index, ctx.n_inputs, ctx.softmax = path, index, n_inputs, softmax
        ctx.alpha_node = alpha.grad_fn  # alpha comes in as a view of the leaf: the engine is asked about this node
        ctx.save_for_backward(alpha, *inputs_outputs)
        outputs = tuple(t.detach() for t in inputs_outputs[n_inputs:])
        return outputs[0] if len(outputs) == 1 else outputs

    @staticmethod
    def backward(ctx, *grad_outputs: torch.Tensor):
        grad_alpha = None
        if ctx.needs_input_grad[4] and (ctx.alpha_node is None or torch._C._will_engine_execute_node(ctx.alpha_node)):
            alpha, *saved = ctx.saved_tensors
            inputs, outputs = saved[:ctx.n_inputs], tuple(saved[ctx.n_inputs:])
            gate_grads = torch.zeros_like(alpha)
            with torch.no_grad():
                for k in range(len(alpha)):
                    out_k = outputs if k == ctx.index else _as_tuple(ctx.path(k, *inputs))
                    gate_grads[k] = sum((o * g).sum() for o, g in zip(out_k, grad_outputs) if g is not None)
                probs = ctx.softmax(alpha)
                grad_alpha = probs * (gate_grads - (gate_grads * probs).sum())
        return (None, None, None, None, grad_alpha, *([None] * ctx.n_inputs), *grad_outputs)


def _gate(layer: nn.Module, index: int, inputs: tuple, result: Any) -> Any:
    alpha = layer._arch_alpha
    if alpha.requires_grad and alpha.grad_fn is None:
        alpha = alpha.view_as(alpha)  # the engine answers _will_engine_execute_node for non-leaf nodes only
    return BinaryGate.apply(layer.forward_path, index, len(inputs), layer._softmax, alpha, *inputs,
                            *_as_tuple(result))


class LazyGateLayer(ProxylessMixedLayer):
    """NNI's ``ProxylessMixedLayer`` with :class:`BinaryGate`; made by :func:`use_lazy_gates`."""

    def forward(self, *args, **kwargs):
        if self._sample_idx is None:
            raise RuntimeError("resample() needs to be called before a forward pass")
        if kwargs:
            raise ValueError(f"{type(self).__name__} takes positional inputs only")
        return _gate(self, self._sample_idx, args, self.forward_path(self._sample_idx, *args))


class LazyGateInput(ProxylessMixedInput):
    """NNI's ``ProxylessMixedInput`` with :class:`BinaryGate`; made by :func:`use_lazy_gates`."""

    def forward(self, inputs):
        if self._sampled is None:
            raise RuntimeError("resample() needs to be called before a forward pass")
        index = self._sampled[0]
        return _gate(self, index, tuple(inputs), self.forward_path(index, *inputs))


def use_lazy_gates(module: nn.Module) -> int:
    """Give every NNI binary-gate layer of ``module`` :class:`BinaryGate`, in place. Returns how many changed."""
    changed = 0
    for layer in module.modules():
        if type(layer) is ProxylessMixedLayer:
            layer.__class__ = LazyGateLayer
            changed += 1
        elif type(layer) is ProxylessMixedInput:
            layer.__class__ = LazyGateInput
            changed += 1
    return changed
