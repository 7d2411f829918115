"""A path-sampling supernet of any NNI model space: every architecture of the space is a path through one set of
shared weights, and :meth:`SamplingSupernet.activate` chooses the path the next forward passes run.

NNI 3.0's own sampling supermodules (``nni.nas.oneshot.pytorch.supermodule.sampling`` and ``.operation``) do the
mutables they cover, reused as they are: ``PathSamplingLayer`` (``LayerChoice``), ``PathSamplingInput``
(``InputChoice``), ``PathSamplingRepeat`` (``Repeat``), ``PathSamplingCell`` (``Cell``), and the mixed operations
(``MixedLinear``, ``MixedConv2d``, ``MixedBatchNorm2d``, ``MixedLayerNorm``, ``MixedMultiHeadAttention``) under
their path-sampling policy, which slice the largest candidate's weight for a sampled width or kernel size (NNI's
``_operation_utils``). Its strategies refuse a layer whose searched argument changes no weight (a ``MutableDropout``
rate: "dangling mutables ... not supported"); :class:`SampledParametrized` covers every such layer here: it builds the
layer with the sampled value (weight-free, so nothing is shared or lost).

A layer that has a searched argument *and* weights that NNI has no mixed operation for (a ``MutableConv1d`` width)
cannot be shared: :func:`unsupported_layers` names each one, and the strategy refuses the space in one line.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

import torch
from nni.nas.nn.pytorch import ModelSpace, MutableModule, ParametrizedModule
from nni.nas.oneshot.pytorch.supermodule.base import BaseSuperNetModule
from torch import nn

from nni_nas.arch import Choices, search_choices, validate_arch
from nni_nas.errors import UnsupportedSpaceError
from strategies.supernet.faster import use_faster_layers


class SampledParametrized(BaseSuperNetModule):
    """A weight-free layer with searched arguments (``MutableDropout(nni.choice('p', [0.1, 0.5]))``), built anew
    for each sampled value (one instance per value, kept)."""

    def __init__(self, module: ParametrizedModule):
        super().__init__()
        self.original = [module]  # a list keeps it out of this module's children (it holds no weights)
        self.choices = {mutable.label: list(mutable.values) for mutable in module.simplify().values()}
        for mutable in module.mutables:
            self.add_mutable(mutable)
        self._built: dict[str, nn.Module] = {}
        self._active: nn.Module | None = None

    def resample(self, memo: dict[str, Any]) -> dict[str, Any]:
        sample = {label: memo[label] if label in memo else random.choice(values)
                  for label, values in self.choices.items()}
        key = repr(sorted(sample.items()))
        if key not in self._built:
            self._built[key] = self.original[0].freeze(sample)
        self._active = self._built[key]
        return {label: value for label, value in sample.items() if label not in memo}

    def export(self, memo: dict[str, Any]) -> dict[str, Any]:
        return {label: random.choice(values) for label, values in self.choices.items() if label not in memo}

    def freeze(self, sample: dict[str, Any]) -> nn.Module:
        return self.original[0].freeze(sample)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self._active is None:
            raise RuntimeError("a path must be sampled (SamplingSupernet.activate) before the forward pass")
        self._active.train(self.training)
        return self._active(*args, **kwargs)

    @classmethod
    def mutate(cls, module: nn.Module, name: str, memo: dict[str, Any], mutate_kwargs: dict[str, Any]) -> Any:
        if isinstance(module, ParametrizedModule) and module.mutables and not _has_weights(module):
            return cls(module)
        return None


def _has_weights(module: nn.Module) -> bool:
    return any(True for _ in module.parameters()) or any(True for _ in module.buffers())


def unsupported_layers(space: nn.Module) -> list[str]:
    """``name (Type: labels)`` of each layer of ``space`` the sampling supernet cannot share: a searched argument in
    a layer with weights that NNI has no mixed operation for, or a ``Cell`` whose outputs are not all merged
    (:func:`describe_unsupported` says it in one short line)."""
    from nni.nas.nn.pytorch import Cell, InputChoice, LayerChoice, Repeat
    from nni.nas.oneshot.pytorch.supermodule.operation import NATIVE_MIXED_OPERATIONS

    from strategies.supernet.mixed_1d import MIXED_1D

    mixed = tuple(operation.bound_type for operation in (*NATIVE_MIXED_OPERATIONS, *MIXED_1D))
    structural = (LayerChoice, InputChoice, Repeat, Cell)
    out = []
    for name, module in space.named_modules():
        if isinstance(module, Cell) and module.merge_op != "all":
            out.append(f"{name} (Cell with merge_op {module.merge_op!r})")
        elif isinstance(module, MutableModule) and not isinstance(module, structural + (ModelSpace,)) \
                and module.mutables and not isinstance(module, mixed) \
                and not (isinstance(module, ParametrizedModule) and not _has_weights(module)):
            labels = sorted(mutable.label for mutable in module.simplify().values())
            out.append(f"{name} ({type(module).__name__}: {', '.join(labels)})")
    return out


def describe_unsupported(layers: list[str], shown: int = 2) -> str:
    """The layers of :func:`unsupported_layers` grouped by kind: ``24 MutableConv1d layers (stem.0, layers.blocks.0
    .op.conv3, ...: width)``."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for entry in layers:
        name, _, rest = entry.partition(" (")
        kind, _, labels = rest.rstrip(")").partition(": ")
        groups.setdefault(kind, []).append((name, labels))
    parts = []
    for kind, members in groups.items():
        names = ", ".join(name for name, _ in members[:shown]) + (", ..." if len(members) > shown else "")
        labels = sorted({label for _, entry in members for label in entry.split(", ") if label})
        count = f"{len(members)} {kind} layers" if len(members) > 1 else kind
        parts.append(f"{count} ({names}{': ' + ', '.join(labels) if labels else ''})")
    return "; ".join(parts)


class FirstSimplify:
    """``module.simplify()`` answered from its first result: NNI's path-sampling policy of a mixed operation calls it
    on every resample, and it walks and compares the layer's mutables each time (14 us per ``MixedConv2d``, 80 % of an
    ``activate`` of ``digits_cnn``), though a built supernet's mutables never change. A call with arguments goes to
    NNI's. An object, not a closure, so that a deep copy or a pickle of the supernet answers with its own mutables."""

    def __init__(self, module: nn.Module):
        self.module = module
        self.first = type(module).simplify(module)

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if args or kwargs:
            return type(self.module).simplify(self.module, *args, **kwargs)
        return dict(self.first)


class SamplingSupernet(nn.Module):
    """A model space turned, in place, into a path-sampling supernet.

    Parameters
    ----------
    space
        A *fresh* model space instance (it is modified in place).

    Raises
    ------
    UnsupportedSpaceError
        When a layer cannot share its weights between paths (:func:`unsupported_layers`), named with its labels.
    """

    def __init__(self, space: ModelSpace):
        super().__init__()
        self.choices: Choices = search_choices(space)
        problems = unsupported_layers(space)
        if problems:
            raise UnsupportedSpaceError(
                "a weight-sharing supernet needs a mixed version of each searched layer; "
                f"{describe_unsupported(problems)} have searched arguments in layers NNI has no mixed operation for "
                "(searchable: LayerChoice, "
                "InputChoice, Repeat, Cell, and nni.choice in MutableLinear, MutableConv2d, MutableBatchNorm2d, "
                "MutableLayerNorm, MutableMultiheadAttention or in weight-free layers such as MutableDropout)")
        from nni.nas.strategy import RandomOneShot

        try:  # NNI's path-sampling hooks (its RandomOneShot's), ours for weight-free layers first
            from strategies.supernet.mixed_1d import MIXED_1D

            hooks = [SampledParametrized.mutate, *(operation.mutate for operation in MIXED_1D)]
            self.space = RandomOneShot(mutation_hooks=hooks).mutate_model(space)
        except (TypeError, ValueError) as err:  # NNI names a mutable argument its mixed operation does not slice
            raise UnsupportedSpaceError(f"a weight-sharing supernet of {type(space).__name__} cannot be built: "
                                        f"{' '.join(str(err).split())}") from None
        use_faster_layers(self.space)
        self.modules_sampled = [m for m in self.space.modules() if isinstance(m, BaseSuperNetModule)]
        for module in self.modules_sampled:
            module.simplify = FirstSimplify(module)
        self.active: dict[str, Any] = {}

    def activate(self, arch: dict[str, Any]) -> None:
        """Run the path of ``arch`` (a dict of every label of the space) in the next forward passes."""
        arch = validate_arch(self.choices, arch)
        memo = dict(arch)
        for module in self.modules_sampled:
            module.resample(memo)
        self.active = arch

    def random_arch(self, rng: random.Random) -> dict[str, Any]:
        """An architecture drawn uniformly: each label's value independently (SPOS's single-path sampling)."""
        return {label: rng.choice(values) for label, values in self.choices.items()}

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.space(*args, **kwargs)


def recalibrate_batchnorm(model: nn.Module, batches: Iterable[Any], limit: int) -> int:
    """Recompute every BatchNorm layer's running statistics for the active path, from up to ``limit`` training
    batches (Guo et al. 2020, Section 3.3: the shared statistics belong to no path); returns the batches used.

    The statistics are those PyTorch's cumulative average (``momentum=None``) gives: the mean over batches of each
    batch's per-channel mean and unbiased variance, read from each layer's input in training mode. They are
    computed here, not by the layers, because NNI's ``MixedBatchNorm2d`` passes its fixed momentum to the kernel;
    a layer whose width is sampled gets its first channels written (the slice the path uses)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    sums: dict[nn.Module, list] = {}

    def record(module: nn.Module, inputs: tuple) -> None:
        x = inputs[0].detach()
        dims = [0, *range(2, x.dim())]
        stats = sums.setdefault(module, [0.0, 0.0, 0])
        stats[0] = stats[0] + x.mean(dims)
        stats[1] = stats[1] + x.var(dims, unbiased=True)
        stats[2] += 1

    handles = [norm.register_forward_pre_hook(record) for norm in norms]
    was_training = model.training
    model.train()
    used = 0
    try:
        with torch.no_grad():
            for x, _ in batches:
                if used >= limit:
                    break
                model(x)
                used += 1
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    with torch.no_grad():
        for norm, (mean, var, calls) in sums.items():
            channels = mean.numel()
            norm.running_mean[:channels] = mean / calls
            norm.running_var[:channels] = var / calls
            norm.num_batches_tracked.fill_(calls)
    return used


__all__ = ["SampledParametrized", "describe_unsupported", "SamplingSupernet", "recalibrate_batchnorm",
           "unsupported_layers"]
