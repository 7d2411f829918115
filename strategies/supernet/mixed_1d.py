"""Mixed operations for the 1-D layers NNI 3.0 has none for: ``MutableConv1d`` and ``MutableBatchNorm1d`` with a
searched width (or kernel size), so that texts, sequences and signals (``text_cnn``) share weights in one-shot search
like images do.

They follow NNI's ``MixedOperation`` contract (``nni.nas.oneshot.pytorch.supermodule.operation``): the layer is
built at the largest candidate's size (:meth:`super_init_argument`), and each forward pass takes the arguments its
sampling policy gives: one value under path sampling (SPOS, ENAS: the prefix slice of the channels, the centre
slice of the kernel), or a value -> weight dict under the differentiable policy (DARTS, GDAS: NNI's ``Slicable`` /
``MaybeWeighted`` helpers then sum the candidates' masked slices, FBNetV2's form). Under the differentiable
policy a searched kernel size pads for the largest kernel (the centre slice then keeps every candidate's output
length when the candidates pad "same", ``(k - 1) // 2``), as NNI's ``MixedConv2d`` does.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from nni.mutable import MutableExpression
from nni.nas.nn.pytorch import MutableBatchNorm1d, MutableConv1d
from nni.nas.oneshot.pytorch.supermodule._expression_utils import evaluate_constant, traverse_all_options
from nni.nas.oneshot.pytorch.supermodule._operation_utils import MaybeWeighted, Slicable
from nni.nas.oneshot.pytorch.supermodule.operation import MixedBatchNorm2d, MixedOperation
from torch import nn

SAMPLED_ONLY = ("stride", "dilation", "padding")  # a weighted mix of these has no meaning


class MixedConv1d(MixedOperation, nn.Conv1d):
    """``MutableConv1d`` with searched ``in_channels``, ``out_channels``, ``kernel_size`` or ``groups`` (a depthwise
    convolution: groups proportional to the channels), and, under path sampling only, ``stride``, ``dilation`` and
    ``padding``."""

    bound_type = MutableConv1d
    argument_list = ["in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups"]

    def super_init_argument(self, name: str, mutable_expr: MutableExpression) -> Any:
        values = list(traverse_all_options(mutable_expr))
        if name == "groups":
            return min(values) if "in_channels" not in self.mutable_arguments else max(values) // int(
                evaluate_constant(self.mutable_arguments["in_channels"] / mutable_expr))
        return max(values)

    def _slices(self, in_channels: Any, out_channels: Any, kernel_size: Any, groups: Any) -> tuple[Any, Any, Any]:
        """(weight, bias, in_channels per group or None) for these arguments: each a value or a weighted dict."""
        weight = Slicable(self.weight)[:MaybeWeighted(out_channels)]
        per_group = None
        if isinstance(groups, dict):  # searched groups: a depthwise layer, channels per group constant
            per_group = int(evaluate_constant(self.mutable_arguments["in_channels"] / self.mutable_arguments["groups"]))
            weight = Slicable(weight)[:, :per_group]
        else:
            weight = Slicable(weight)[:, :MaybeWeighted(in_channels) // groups]
        kernel = MaybeWeighted(kernel_size)
        start = (self.kernel_size[0] - kernel) // 2
        weight = Slicable(weight)[:, :, start:start + kernel]
        bias = Slicable(self.bias)[:MaybeWeighted(out_channels)] if self.bias is not None else None
        return weight, bias, per_group

    def freeze_weight(self, in_channels: Any, out_channels: Any, kernel_size: Any, groups: Any,
                      **kwargs: Any) -> dict[str, Any]:
        weight, bias, _ = self._slices(in_channels, out_channels, kernel_size, groups)
        return {"weight": weight, "bias": bias}

    def forward_with_args(self, in_channels: Any, out_channels: Any, kernel_size: Any, stride: Any, padding: Any,
                          dilation: Any, groups: Any, inputs: Any) -> Any:
        for name, value in (("stride", stride), ("dilation", dilation)):
            if isinstance(value, dict):
                raise ValueError(f"a searched {name} of MutableConv1d cannot be mixed by weights; it can be sampled "
                                 "(SPOS, ENAS)")
        weight, bias, per_group = self._slices(in_channels, out_channels, kernel_size, groups)
        if per_group is not None:
            groups = inputs.size(1) // per_group
        if isinstance(kernel_size, dict) or isinstance(padding, dict):
            padding = self.padding  # the largest kernel's, for every weighted candidate
        if self.padding_mode != "zeros":
            return F.conv1d(F.pad(inputs, self._reversed_padding_repeated_twice, mode=self.padding_mode), weight, bias,
                            stride, 0, dilation, groups)
        return F.conv1d(inputs, weight, bias, stride, padding, dilation, groups)


class MixedBatchNorm1d(MixedOperation, nn.BatchNorm1d):
    """``MutableBatchNorm1d`` with a searched ``num_features``: NNI's ``MixedBatchNorm2d`` rule, reused (the prefix
    of the affine parameters and running statistics; its ``F.batch_norm`` takes any rank), bound to the 1-D layer."""

    bound_type = MutableBatchNorm1d
    argument_list = MixedBatchNorm2d.argument_list
    super_init_argument = MixedBatchNorm2d.super_init_argument
    freeze_weight = MixedBatchNorm2d.freeze_weight
    forward_with_args = MixedBatchNorm2d.forward_with_args


MIXED_1D = (MixedConv1d, MixedBatchNorm1d)

__all__ = ["MIXED_1D", "MixedBatchNorm1d", "MixedConv1d"]
