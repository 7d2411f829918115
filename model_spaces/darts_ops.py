"""The candidate operations of the DARTS cell space, in plain torch.

Liu, Simonyan, Yang, "DARTS: Differentiable Architecture Search", ICLR 2019, Sec. 3.1 and Appendix A.1.1:
3x3 and 5x5 separable convolutions, 3x3 and 5x5 dilated separable convolutions, 3x3 max and average pooling,
identity (skip connection) and zero (``none``). Convolutions are ReLU-Conv-BN; a separable convolution is
applied twice. Every operation keeps the channel count; a stride-2 operation halves height and width.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from nni_nas.errors import ConfigError

NONE = "none"
OPS: tuple[str, ...] = (
    "none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
)


class Zero(nn.Module):
    """The ``none`` operation: no connection. Outputs zeros of the (strided) input's shape."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class ReLUConvBN(nn.Sequential):
    """ReLU, convolution, batch norm: the paper's ordering for every convolution in a cell."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class DilConv(nn.Sequential):
    """ReLU, depthwise (optionally dilated) convolution, pointwise convolution, batch norm."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int,
                 affine: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride=stride, padding=padding, dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class SepConv(nn.Sequential):
    """A depthwise-separable convolution applied twice (the first one carries the stride)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True):
        super().__init__(
            DilConv(c_in, c_in, kernel, stride, padding, dilation=1, affine=affine),
            DilConv(c_in, c_out, kernel, 1, padding, dilation=1, affine=affine),
        )


class FactorizedReduce(nn.Module):
    """Halve height and width with two stride-2 1x1 convolutions, the second one shifted by one pixel, so
    that together they see every input position. Used for ``skip_connect`` at stride 2 and to bring the
    output of the cell before a reduction cell to the current resolution."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True):
        super().__init__()
        if c_out % 2:
            raise ConfigError(f"FactorizedReduce needs an even number of output channels, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_even = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_odd = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        # Shift by one pixel, zero-padding at the far border so odd sizes give the same output shape.
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_even(x), self.conv_odd(shifted)], dim=1))


def _pool(kind: str, channels: int, stride: int, batch_norm: bool) -> nn.Module:
    pool = (nn.MaxPool2d(3, stride=stride, padding=1) if kind == "max"
            else nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False))
    # The search network normalises pooling outputs so their scale matches the convolutions' (BN, no affine).
    return nn.Sequential(pool, nn.BatchNorm2d(channels, affine=False)) if batch_norm else pool


_BUILDERS: dict[str, Callable[[int, int, bool], nn.Module]] = {
    "none": lambda c, stride, affine: Zero(stride),
    "max_pool_3x3": lambda c, stride, affine: _pool("max", c, stride, batch_norm=not affine),
    "avg_pool_3x3": lambda c, stride, affine: _pool("avg", c, stride, batch_norm=not affine),
    "skip_connect": lambda c, stride, affine: nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine),
    "sep_conv_3x3": lambda c, stride, affine: SepConv(c, c, 3, stride, 1, affine),
    "sep_conv_5x5": lambda c, stride, affine: SepConv(c, c, 5, stride, 2, affine),
    "dil_conv_3x3": lambda c, stride, affine: DilConv(c, c, 3, stride, 2, 2, affine),
    "dil_conv_5x5": lambda c, stride, affine: DilConv(c, c, 5, stride, 4, 2, affine),
}


def make_op(name: str, channels: int, stride: int, affine: bool = True) -> nn.Module:
    """The operation ``name`` for ``channels`` channels and ``stride`` 1 or 2.

    ``affine=False`` builds the search network's version (the paper's supernet): batch norm without learnable
    scale and shift, so the architecture weights alone scale each operation, and batch norm after pooling.
    """
    if name not in _BUILDERS:
        raise ConfigError(f"unknown DARTS operation {name!r}; choose from {OPS}")
    return _BUILDERS[name](channels, stride, affine)


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples of ``x`` with probability ``drop_prob`` and rescale the rest (Zoph et al. 2018's
    ScheduledDropPath, used in the paper's evaluation on CIFAR-10)."""
    if drop_prob <= 0.0:
        return x
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x * mask / keep


class AuxiliaryHead(nn.Module):
    """The auxiliary classifier of the evaluation network (paper Appendix A.2, after the 2/3-depth cell).

    The paper pools an 8x8 map with a 5x5 window at stride 3 to 2x2; adaptive pooling to 2x2 gives the same
    on CIFAR-10 and also works on other input sizes.
    """

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.AdaptiveAvgPool2d(2),
            nn.Conv2d(channels, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=False),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))
