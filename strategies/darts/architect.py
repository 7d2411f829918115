"""The architecture step of DARTS: the gradient of the validation loss with respect to alpha.

Liu, Simonyan, Yang, "DARTS: Differentiable Architecture Search", ICLR 2019, Sec. 2.3. The bilevel problem

    min_alpha L_val(w*(alpha), alpha)   s.t.   w*(alpha) = argmin_w L_train(w, alpha)          (eq. 3, 4)

is approximated by one virtual gradient step on w (eq. 6):

    grad_alpha L_val(w', alpha),   w' = w - xi * grad_w L_train(w, alpha)

whose chain rule gives (eq. 7)

    grad_alpha L_val(w', alpha) - xi * grad2_{alpha,w} L_train(w, alpha) . grad_w' L_val(w', alpha)

and the second term's Hessian-vector product is a central finite difference (eq. 8):

    grad2_{alpha,w} L_train(w, alpha) . v  ~  (grad_alpha L_train(w+, alpha) - grad_alpha L_train(w-, alpha)) / 2 eps,
    w+- = w +- eps * v,   eps = 0.01 / ||v||,   v = grad_w' L_val(w', alpha).

``xi = 0`` is the *first-order* approximation (alpha follows grad_alpha L_val(w, alpha)); the paper's
*second-order* DARTS uses ``xi`` = the current learning rate of w. Each equation lives in one function below.

On several processes (DDP) every gradient taken here passes through ``reduce`` (the mean over ranks, see
:func:`nni_nas.runtime.distributed.average`): the virtual step, ``v`` and the finite difference then use the gradients
of the whole batch over all ranks, so every rank computes the same alpha gradient, and the one a single process would
compute on the union of the ranks' batches (up to rounding).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

LossFn = Callable[[Any], torch.Tensor]  # batch -> scalar loss of the supernet with its current w and alpha
Reduce = Callable[[list[torch.Tensor]], list[torch.Tensor]]  # per-rank gradients -> their mean over the ranks


def _same(grads: list[torch.Tensor]) -> list[torch.Tensor]:
    return grads


def _grad(loss: torch.Tensor, params: Sequence[nn.Parameter], reduce: Reduce = _same) -> list[torch.Tensor]:
    grads = torch.autograd.grad(loss, list(params), allow_unused=True)
    return reduce([torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)])


def first_order_gradient(loss_fn: LossFn, alphas: Sequence[nn.Parameter], val_batch: Any,
                         reduce: Reduce = _same) -> tuple[list, torch.Tensor]:
    """Eq. (6) with ``xi = 0``: ``grad_alpha L_val(w, alpha)``. Returns the gradient and the validation loss."""
    val_loss = loss_fn(val_batch)
    return _grad(val_loss, alphas, reduce), val_loss.detach()


def second_order_gradient(loss_fn: LossFn, weights: Sequence[nn.Parameter], alphas: Sequence[nn.Parameter],
                          train_batch: Any, val_batch: Any, xi: float, reduce: Reduce = _same,
                          virtual: list | None = None) -> tuple[list, torch.Tensor]:
    """Eq. (7): the unrolled architecture gradient. ``w`` is unchanged on return.

    Returns the gradient for each alpha and the validation loss at the virtual weights ``w'``. A ``virtual`` list
    receives the virtual step's ``(grad_w L_train(w, alpha), L_train(w, alpha))``, taken at the unchanged ``w`` and
    the alpha before this step's update (see ``DartsSettings.reuse_virtual_step``).
    """
    backup = [w.detach().clone() for w in weights]
    try:
        train_grads, train_loss = virtual_step(loss_fn, weights, train_batch, xi, reduce)
        if virtual is not None:
            virtual.append((train_grads, train_loss))
        val_loss = loss_fn(val_batch)
        grads = _grad(val_loss, [*alphas, *weights], reduce)
        d_alpha, d_virtual_w = grads[: len(alphas)], grads[len(alphas):]
    finally:
        _restore(weights, backup)
    hessian_v = finite_difference_hvp(loss_fn, weights, alphas, train_batch, d_virtual_w, reduce=reduce)
    return [da - xi * hv for da, hv in zip(d_alpha, hessian_v)], val_loss.detach()


def virtual_step(loss_fn: LossFn, weights: Sequence[nn.Parameter], train_batch: Any, xi: float,
                 reduce: Reduce = _same) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Eq. (6), in place: ``w <- w' = w - xi * grad_w L_train(w, alpha)``. Returns that gradient (at the old ``w``)
    and the training loss."""
    loss = loss_fn(train_batch)
    grads = _grad(loss, weights, reduce)
    with torch.no_grad():
        for w, g in zip(weights, grads):
            w.sub_(xi * g)
    return grads, loss.detach()


def finite_difference_hvp(loss_fn: LossFn, weights: Sequence[nn.Parameter], alphas: Sequence[nn.Parameter],
                          train_batch: Any, vector: Sequence[torch.Tensor], scale: float = 0.01,
                          reduce: Reduce = _same) -> list[torch.Tensor]:
    """Eq. (8): ``grad2_{alpha,w} L_train(w, alpha) . v`` by central differences; ``w`` is unchanged on return.

    ``eps = scale / ||v||`` (the paper's 0.01); a zero ``v`` gives a zero product.
    """
    norm = torch.sqrt(sum((v.detach() ** 2).sum() for v in vector))
    if float(norm) == 0.0:
        return [torch.zeros_like(a) for a in alphas]
    eps = scale / norm
    backup = [w.detach().clone() for w in weights]
    try:
        _set_weights(weights, backup, vector, eps)
        grad_plus = _grad(loss_fn(train_batch), alphas, reduce)
        _set_weights(weights, backup, vector, -eps)
        grad_minus = _grad(loss_fn(train_batch), alphas, reduce)
    finally:
        _restore(weights, backup)
    return [(gp - gm) / (2 * eps) for gp, gm in zip(grad_plus, grad_minus)]


def exact_hvp(loss_fn: LossFn, weights: Sequence[nn.Parameter], alphas: Sequence[nn.Parameter], batch: Any,
              vector: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """``grad2_{alpha,w} L(w, alpha) . v`` by double backward: ``grad_alpha <grad_w L, v>`` (for tests)."""
    grads_w = torch.autograd.grad(loss_fn(batch), list(weights), create_graph=True, allow_unused=True)
    inner = sum((g * v).sum() for g, v in zip(grads_w, vector) if g is not None)
    return _grad(inner, alphas)


def architecture_gradient(loss_fn: LossFn, weights: Sequence[nn.Parameter], alphas: Sequence[nn.Parameter],
                          train_batch: Any, val_batch: Any, order: int, xi: float, reduce: Reduce = _same,
                          virtual: list | None = None) -> torch.Tensor:
    """Set ``alpha.grad`` for the architect's optimiser: first order (eq. 6 with xi = 0) or second order
    (eq. 7 with eq. 8), every gradient averaged over the ranks by ``reduce``. Returns the validation loss the
    gradient was taken on (this rank's). ``virtual``: see :func:`second_order_gradient` (second order only)."""
    if order == 1:
        grads, val_loss = first_order_gradient(loss_fn, alphas, val_batch, reduce)
    elif order == 2:
        grads, val_loss = second_order_gradient(loss_fn, weights, alphas, train_batch, val_batch, xi, reduce,
                                                virtual)
    else:
        raise ValueError(f"DARTS order must be 1 (first order) or 2 (second order), got {order!r}")
    for alpha, grad in zip(alphas, grads):
        alpha.grad = grad.detach()
    return val_loss


def _set_weights(weights: Sequence[nn.Parameter], base: Sequence[torch.Tensor], vector: Sequence[torch.Tensor],
                 step: torch.Tensor) -> None:
    with torch.no_grad():
        for w, b, v in zip(weights, base, vector):
            w.copy_(b + step * v)


def _restore(weights: Sequence[nn.Parameter], backup: Sequence[torch.Tensor]) -> None:
    with torch.no_grad():
        for w, b in zip(weights, backup):
            w.copy_(b)
