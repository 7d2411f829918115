"""Depthwise convolutions with a faster backward on the CPU, the same values and gradients.

A supernet of the DARTS or ENAS cell spaces runs many depthwise (``groups == channels``) convolutions: the separable
and dilated candidates of every edge. On the CPU, PyTorch hands them to oneDNN, whose forward is a fast depthwise
kernel for every size, but whose backward falls back to a generic GEMM-based implementation for the weight gradient of
kernels larger than 3x3 or dilated ones, and for the input gradient of dilated ones: measured on this project's
machine (one thread, batch 64), the weight gradient of a 5x5 depthwise convolution took 0.55 ms on 8 channels of 8x8
and 13-25 ms on 16x16 or 64 channels of 8x8, against 0.1-0.4 ms computed as below; the input gradient of a dilated
5x5 one 0.6-18 ms against a forward convolution's 0.1-0.4 ms (``benchmarks/README.md``, "One-shot speed").

:class:`DepthwiseConv2d` computes both gradients with forward convolutions, which stay on the fast kernel:

- the input gradient of a convolution with "same" padding is the convolution of the output gradient (for stride 2
  spread onto the input grid with zeros between) with the kernel flipped in both spatial axes (the adjoint of a
  correlation);
- the weight gradient ``dW[c, i, j] = sum_{b, y, x} x_pad[b, c, y*s + i*d, x*s + j*d] * g[b, c, y, x]`` is one
  grouped convolution of the input (channels and batch swapped, one group per channel and sample) with the output
  gradient as its kernel, stride and dilation swapped, summed over the batch.

Both are exact up to the order of floating-point sums, and built from differentiable operations, so a double
backward (DARTS's exact Hessian-vector product in the tests) still works. :func:`use_fast_depthwise` swaps the class
of every plain depthwise ``nn.Conv2d`` of a supernet whose backward is slow (3x3 undilated ones keep oneDNN's own
path, which is fast); parameters, buffers and state-dict keys stay the same.

The weight gradient is skipped in a backward that does not reach the weight (DARTS's alpha-only passes), as PyTorch's
own convolution does: ``ctx.needs_input_grad`` only says whether the weight requires a gradient, so the backward asks
the autograd engine whether the weight's gradient node runs in this backward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _DepthwiseConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, stride, padding, dilation):
        ctx.save_for_backward(x, weight)
        ctx.conf = (stride, padding, dilation)
        # where weight's gradient goes, to ask in backward whether this backward needs it at all
        ctx.weight_node = weight.grad_fn  # a leaf comes in as a view (depthwise_conv2d): the engine is asked of it
        return F.conv2d(x, weight, None, stride, padding, dilation, x.shape[1])

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        stride, padding, dilation = ctx.conf
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = _input_grad(grad, x, weight, stride, padding, dilation)
        if ctx.needs_input_grad[1] and (ctx.weight_node is None or torch._C._will_engine_execute_node(ctx.weight_node)):
            grad_w = _weight_grad(grad, x, weight.shape, stride, padding, dilation)
        return grad_x, grad_w, None, None, None


def _input_grad(grad, x, weight, stride, padding, dilation):
    same = all(p == d * (k - 1) // 2 and (k - 1) * d % 2 == 0
               for p, d, k in zip(padding, dilation, weight.shape[2:]))
    if not same:
        return torch.ops.aten.convolution_backward(grad, x, weight, None, list(stride), list(padding),
                                                   list(dilation), False, [0, 0], x.shape[1], [True, False, False])[0]
    if stride != (1, 1):  # spread the gradient back onto the input grid, zeros between (a transposed convolution)
        spread = grad.new_zeros(*grad.shape[:2], *x.shape[2:])
        spread[:, :, :: stride[0], :: stride[1]] = grad
        grad = spread
    return F.conv2d(grad, weight.flip(-2, -1), None, 1, padding, dilation, x.shape[1])


def _weight_grad(grad, x, shape, stride, padding, dilation):
    batch, channels = x.shape[:2]
    inputs = x.transpose(0, 1).reshape(1, channels * batch, *x.shape[2:])
    kernel = grad.transpose(0, 1).reshape(channels * batch, 1, *grad.shape[2:])
    out = F.conv2d(inputs, kernel, None, dilation, padding, stride, channels * batch)
    out = out[:, :, : shape[2], : shape[3]]
    return out.reshape(channels, batch, shape[2], shape[3]).sum(1).unsqueeze(1)


def depthwise_conv2d(x: torch.Tensor, weight: torch.Tensor, stride=(1, 1), padding=(0, 0),
                     dilation=(1, 1)) -> torch.Tensor:
    """``F.conv2d(x, weight, stride=..., padding=..., dilation=..., groups=channels)`` with the backward above."""
    if weight.requires_grad and weight.grad_fn is None:
        weight = weight.view_as(weight)  # the engine answers _will_engine_execute_node for non-leaf nodes only
    return _DepthwiseConv.apply(x, weight, tuple(stride), tuple(padding), tuple(dilation))


class DepthwiseConv2d(nn.Conv2d):
    """A depthwise ``nn.Conv2d`` (``groups == in_channels == out_channels``, zero padding) whose backward uses
    :func:`depthwise_conv2d`; made by :func:`use_fast_depthwise`, never built directly."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, padding = _reach(self.weight, self.padding, self.dilation, x.shape[2:])
        out = depthwise_conv2d(x, weight, self.stride, padding, self.dilation)
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)


def _reach(weight: torch.Tensor, padding, dilation, size) -> tuple[torch.Tensor, tuple[int, int]]:
    """The kernel without the outer rings of taps that can only ever read padding, and the padding that keeps the
    output the same: with "same" padding, a tap ``m * d`` pixels from the centre reads a pixel of a side-``H`` input
    only when ``m * d < H`` (the output's first and last positions are the farthest it can reach). The taps cut
    contribute zeros to the output and get a zero gradient, so the result is the same; on a DARTS supernet's 2x2 and
    4x4 maps a dilated 5x5 kernel shrinks to 1x1 or 3x3."""
    crops, new_padding = [], []
    for k, p, d, h in zip(weight.shape[2:], padding, dilation, size):
        half = (k - 1) // 2
        if k % 2 == 0 or p != d * half:
            crops.append(slice(None))
            new_padding.append(p)
            continue
        keep = min(half, (h - 1) // d)
        crops.append(slice(half - keep, half + keep + 1))
        new_padding.append(d * keep)
    return weight[:, :, crops[0], crops[1]], tuple(new_padding)


def _slow_backward(conv: nn.Conv2d) -> bool:
    """Whether oneDNN's backward of this depthwise convolution is its slow generic one (see the module docstring)."""
    return max(conv.kernel_size) > 3 or max(conv.dilation) > 1


def fast_depthwise_applies(conv: nn.Module) -> bool:
    """Whether :func:`use_fast_depthwise` swaps ``conv``: a plain depthwise ``nn.Conv2d`` with a slow backward."""
    return (type(conv) is nn.Conv2d and conv.groups == conv.in_channels == conv.out_channels and conv.groups > 1
            and conv.padding_mode == "zeros" and not isinstance(conv.padding, str) and _slow_backward(conv))


def use_fast_depthwise(module: nn.Module) -> int:
    """Give every depthwise convolution of ``module`` that :func:`fast_depthwise_applies` to the faster backward, in
    place (the class of the layer changes, nothing else). Returns how many were changed."""
    changed = 0
    for layer in module.modules():
        if fast_depthwise_applies(layer):
            layer.__class__ = DepthwiseConv2d
            changed += 1
    return changed
