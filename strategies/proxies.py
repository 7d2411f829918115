"""Zero-cost proxies: scores of an untrained network that rank architectures without training them.

- **synflow** (Tanaka, Kunin, Yamins, Ganguli, "Pruning neural networks without any data by iteratively conserving
  synaptic flow", NeurIPS 2020, eq. 3; as a NAS proxy: Abdelfattah, Mehrotra, Dudziak, Lane, "Zero-Cost Proxies for
  Lightweight NAS", ICLR 2021): every parameter replaced by its absolute value, an all-ones input, R = the sum of
  the network's output, and the score ``sum_theta |theta * dR/dtheta|``. Data-free. Batch norm is in eval mode (at
  initialisation its running mean 0 and variance 1 make it almost the identity, as "BN off" in the paper), and the
  network runs in double precision, since the product of |weights| over depth overflows float32.
- **naswot** (Mellor, Turner, Storkey, Crowley, "Neural Architecture Search without Training", ICML 2021, eq. 2 of
  v2): for a batch of N inputs, each activation unit's binary code (output > 0) per input; K_H[i, j] = the number of
  units on which inputs i and j agree; the score is log|K_H|. Needs one batch of the data. The paper counts ReLUs; a
  space's SiLU or GELU units count the same way (their output is positive exactly where their input is).
- **jacob_cov** (Mellor, Turner, Storkey, Crowley, "Neural Architecture Search without Training", v1 of 2020, eq. 2;
  the form of Abdelfattah et al., ICLR 2021): for a batch of N inputs, each input's Jacobian of the summed output,
  ``J_i = d(sum_k f(x_i)_k) / dx_i``, flattened; ``C`` = the N x N correlation matrix of the J_i, with eigenvalues
  ``lambda``; the score is ``-sum_i (log(lambda_i + k) + 1 / (lambda_i + k))``, ``k = 1e-5``: highest when the
  inputs' Jacobians are uncorrelated. The network runs in training mode (batch statistics), as in both papers' code,
  on a copy. Needs one batch of the data.

The tuner computes them (:mod:`strategies.warm_start`); this module imports torch.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn

ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.SiLU, nn.GELU, nn.ELU)


def synflow(model: nn.Module, input_shape: tuple[int, ...]) -> float:
    """Tanaka et al.'s synaptic flow of ``model`` (a copy is scored; the model is not changed)."""
    net = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for param in net.parameters():
            param.abs_()
    net.zero_grad()
    output = net(torch.ones((1, *input_shape), dtype=torch.float64))
    torch.sum(output).backward()
    score = sum(float((param * param.grad).detach().abs().sum()) for param in net.parameters()
                if param.grad is not None)
    return score if math.isfinite(score) else -math.inf


def naswot(model: nn.Module, batch: torch.Tensor) -> float:
    """Mellor et al.'s log|K_H| of ``model`` on ``batch`` (N inputs); -inf when it has no activation unit to code."""
    net = copy.deepcopy(model).eval()
    n = batch.shape[0]
    kernel = torch.zeros((n, n), dtype=torch.float64)

    def count(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        codes = (output.detach().reshape(n, -1) > 0).double()
        kernel.add_(codes @ codes.T + (1 - codes) @ (1 - codes).T)

    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, ACTIVATIONS)]
    try:
        with torch.no_grad():
            net(batch)
    finally:
        for hook in hooks:
            hook.remove()
    if not hooks:
        return -math.inf
    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if float(sign) > 0 else -math.inf


def jacob_cov(model: nn.Module, batch: torch.Tensor, k: float = 1e-5) -> float:
    """Mellor et al.'s Jacobian covariance score of ``model`` on ``batch``; -inf when a Jacobian is constant (no
    correlation is defined) or the network does not depend on its input."""
    net = copy.deepcopy(model).train()
    inputs = batch.detach().clone().double().requires_grad_(True)
    net = net.double()
    output = net(inputs)
    if not output.requires_grad:
        return -math.inf
    (grad,) = torch.autograd.grad(output.sum(), inputs, allow_unused=True)
    if grad is None:
        return -math.inf
    jacobians = grad.reshape(batch.shape[0], -1)
    centred = jacobians - jacobians.mean(dim=1, keepdim=True)
    norms = centred.norm(dim=1)
    if bool((norms == 0).any()):
        return -math.inf
    unit = centred / norms[:, None]
    eigenvalues = torch.linalg.eigvalsh(unit @ unit.T)
    score = -float(torch.sum(torch.log(eigenvalues + k) + 1.0 / (eigenvalues + k)))
    return score if math.isfinite(score) else -math.inf


PROXIES = ("synflow", "naswot", "jacob_cov")
DATA_PROXIES = ("naswot", "jacob_cov")


def score(proxy: str, model: nn.Module, input_shape: tuple[int, ...], batch: torch.Tensor | None = None) -> float:
    """``proxy``'s score of ``model`` (higher ranks better); ``batch`` for the data-dependent ones."""
    if proxy == "synflow":
        return synflow(model, input_shape)
    if proxy in DATA_PROXIES:
        if batch is None:
            raise ValueError(f"{proxy} needs a batch of the data")
        return naswot(model, batch) if proxy == "naswot" else jacob_cov(model, batch)
    raise ValueError(f"unknown proxy {proxy!r}; known: {', '.join(PROXIES)}")
