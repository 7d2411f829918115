"""Any NNI model space relaxed for gradient-based one-shot search: one architecture vector ``alpha`` per label, and
every mutable turned into a mixed operation whose output depends on ``alpha`` differentiably.

Three relaxations (``method``):

- ``darts`` (Liu et al. 2019, eq. 2): the softmax of ``alpha`` weighs every candidate's output.
- ``gdas`` (Dong & Yang 2019, eqs. 5-7): each forward pass draws one hard one-hot sample per label from the
  Gumbel-softmax of ``alpha`` (temperature :attr:`LabelWeights.tau`), shared by every layer with that label; its
  value is one-hot and its gradient the soft sample's (the straight-through estimator). A ``LayerChoice`` runs the
  sampled candidate only: ``h_k * op_k(x) + sum_{j != k} h_j`` (the value of the sum is 0; its gradient reaches every
  ``alpha``), the GDAS paper's own way of computing one path per edge.
- ``proxyless`` (Cai et al. 2019, Section 3.2): each training step samples one path per label from the softmax of
  ``alpha`` (binary gates); only that path is run and kept for backward (memory of one path); ``alpha``'s gradient is
  the paper's binary-gate estimator ``dL/dalpha_i = sum_j dL/dg_j p_j (delta_ij - p_i)``, ``dL/dg_j`` computed in
  backward from every candidate's output on the saved input.

What is reused from NNI 3.0 (``nni.nas.oneshot.pytorch.supermodule``), because it computes the same thing:
``DifferentiableMixedInput`` (``InputChoice``), ``DifferentiableMixedRepeat`` (a ``Repeat`` depth: the weighted
sum of the outputs at each depth), ``DifferentiableMixedCell`` (``Cell``, derived the DARTS way: the strongest two
inputs per node), the mixed operations (``MixedConv2d``, ``MixedLinear``, ``MixedBatchNorm2d``, ``MixedLayerNorm``,
``MixedMultiHeadAttention`` under ``MixedOpDifferentiablePolicy``: a searched width or kernel size is one operation
whose weight is the alpha-weighted sum of the candidates' masked slices, FBNetV2's form) and, for ``proxyless``,
``ProxylessMixedLayer``, ``ProxylessMixedInput`` and ``ProxylessMixedRepeat`` (a ``Repeat`` becomes a skip gate per
optional block). Ours: :class:`MixedChoice` (a ``LayerChoice``, or a weight-free layer with a searched argument
such as a ``MutableDropout`` rate, which NNI refuses), and :class:`LabelWeights`, the one place that turns ``alpha``
into weights, so that under ``gdas`` every layer with the same label runs the same sampled value (NNI draws one
sample per layer). Under ``proxyless`` a searched width or weight-free argument is relaxed the ``gdas`` way (one
hard straight-through sample per step: still one path in memory), because a binary gate needs separate candidate
operations.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from nni.nas.nn.pytorch import LayerChoice, ParametrizedModule
from nni.nas.oneshot.pytorch.supermodule.base import BaseSuperNetModule
from torch import nn

from nni_nas.arch import Choices, search_choices, validate_arch
from nni_nas.errors import UnsupportedSpaceError
from strategies.supernet.binary_gate import use_lazy_gates
from strategies.supernet.faster import PYTORCH_CLASS, use_faster_layers
from strategies.supernet.sampling import _has_weights, describe_unsupported, unsupported_layers

METHODS = ("darts", "gdas", "proxyless")


class LabelWeights(nn.Module):
    """``alpha -> weights`` for every mixed operation of one supernet (NNI's supermodules call it as their
    ``softmax``): the softmax (``darts``, ``proxyless``), or under ``hard`` one Gumbel-softmax sample per label and
    forward pass, one-hot in value with the soft sample's gradient (GDAS). :meth:`new_pass` starts a forward pass
    (the supernet calls it), so every layer of one label reads the same sample."""

    def __init__(self, hard: bool = False, tau: float = 1.0):
        super().__init__()
        self.hard, self.tau = hard, tau
        self._drawn: dict[int, torch.Tensor] = {}
        self.fixed: dict[int, int] | None = None  # alpha id -> index: a fixed path (the derived one, in evaluation)

    def new_pass(self) -> None:
        self._drawn.clear()

    def forward(self, alpha: torch.Tensor) -> torch.Tensor:
        if self.fixed is not None and id(alpha) in self.fixed:
            return F.one_hot(torch.tensor(self.fixed[id(alpha)]), len(alpha)).to(alpha.dtype).to(alpha.device)
        if not self.hard:
            return torch.softmax(alpha, -1)
        key = id(alpha)
        if key not in self._drawn:
            self._drawn[key] = F.gumbel_softmax(alpha, tau=self.tau, hard=True, dim=-1)
        return self._drawn[key]


class MixedChoice(BaseSuperNetModule):
    """A ``LayerChoice`` (or a weight-free layer with one searched argument, one candidate per value) relaxed:
    under soft weights the weighted sum of every candidate's output (DARTS eq. 2); under hard weights (GDAS) only
    the sampled candidate runs, ``h_k * op_k(x) + sum_{j != k} h_j``."""

    def __init__(self, label: str, names: list[Any], candidates: list[nn.Module], alpha: nn.Parameter,
                 weights: LabelWeights, weight_free: bool = False):
        super().__init__()
        self.label, self.names = label, list(names)
        if weight_free:  # built per value from a layer without weights: nothing to share, kept out of children
            self._plain = list(candidates)
            self.candidates = None
        else:
            self._plain = None
            self.candidates = nn.ModuleList(candidates)
        self._arch_alpha = alpha
        self.weights = weights

    def _ops(self) -> list[nn.Module]:
        return self._plain if self._plain is not None else list(self.candidates)

    def resample(self, memo: dict[str, Any]) -> dict[str, Any]:
        return {}

    def export(self, memo: dict[str, Any]) -> dict[str, Any]:
        if self.label in memo:
            return {}
        return {self.label: self.names[int(torch.argmax(self._arch_alpha).item())]}

    def arch_parameters(self):
        yield self._arch_alpha

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        w = self.weights(self._arch_alpha)
        ops = self._ops()
        if self.weights.hard or self.weights.fixed is not None:
            k = int(w.detach().argmax())
            op = ops[k]
            if op.training != self.training:  # weight-free candidates are not children: set their mode here
                op.train(self.training)
            out = op(*args, **kwargs) * w[k]
            return out + (w.sum() - w[k])  # 0 in value; the gradient of every other alpha entry (GDAS)
        total = None
        for i, op in enumerate(ops):
            if op.training != self.training:  # a walk over the candidate's modules per pass otherwise
                op.train(self.training)
            term = op(*args, **kwargs) * w[i]
            total = term if total is None else total + term
        return total


def _mixed_choice_hook(weights_of):
    def hook(module: nn.Module, name: str, memo: dict[str, Any], mutate_kwargs: dict[str, Any]) -> Any:
        if type(module) is LayerChoice:
            names = list(module.names)
            return MixedChoice(module.label, names, [module[n] for n in names], memo[module.label], weights_of())
        if isinstance(module, ParametrizedModule) and module.mutables and not _has_weights(module):
            mutables = list(module.simplify().values())
            if len(mutables) != 1:
                raise UnsupportedSpaceError(f"{name} ({type(module).__name__}) has {len(mutables)} searched "
                                            "arguments; a weight-free layer can be relaxed with one")
            mutable = mutables[0]
            values = list(mutable.values)
            return MixedChoice(mutable.label, values, [module.freeze({mutable.label: v}) for v in values],
                               memo[mutable.label], weights_of(), weight_free=True)
        return None
    return hook


def relaxation_problems(space: nn.Module, method: str) -> list[str]:
    """The layers of ``space`` that ``method`` cannot relax (``name (Type: labels)``): those no weight-sharing
    supernet can share (:func:`strategies.supernet.sampling.unsupported_layers`) and, for ``proxyless``, a
    ``Repeat`` whose depth is not a plain ``nni.choice``."""
    problems = unsupported_layers(space)
    if method == "proxyless":
        from nni.mutable import Categorical
        from nni.nas.nn.pytorch import Repeat

        for name, module in space.named_modules():
            if isinstance(module, Repeat) and not isinstance(module.depth_choice, int | Categorical):
                problems.append(f"{name} (Repeat with a depth expression: {module.depth_choice})")
    return problems


def relaxed_problem(name: str, method: str, space: nn.Module) -> str | None:
    """Why ``method``'s relaxation cannot search ``space``, in one line naming the layers and labels (or what the
    space declares: :attr:`model_spaces.contract.SearchSpace.not_relaxable`), or None."""
    declared = getattr(space, "not_relaxable", None)
    if declared:
        return (f"{name} relaxes each choice into a weighted mix of its candidates, and space "
                f"{getattr(space, 'space_name', type(space).__name__)!r} cannot run that: {declared}; search it with "
                "ENAS, SPOS or a multi-trial strategy")
    layers = relaxation_problems(space, method)
    if layers:
        return (f"{name} relaxes every mutable through a mixed operation, and {describe_unsupported(layers)} have "
                "none: fix those labels through space_args, or search with a multi-trial strategy")
    return None


class RelaxedSupernet(nn.Module):
    """A model space relaxed in place for ``method`` (``darts``, ``gdas`` or ``proxyless``).

    ``alphas`` holds one vector per label of the space (``1e-3 * N(0, 1)``, the DARTS paper's initialisation),
    shared by every layer of that label; :meth:`arch_parameters` and :meth:`weight_parameters` split the
    parameters for the two optimisers; :meth:`derive` is the discrete architecture (every label's strongest value,
    a ``Cell``'s two strongest inputs per node); :meth:`fix` runs one architecture's path (for evaluation).

    Raises
    ------
    UnsupportedSpaceError
        Naming each layer the relaxation cannot handle.
    """

    def __init__(self, space: nn.Module, method: str = "darts", tau: float = 1.0):
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        self.method = method
        self.choices: Choices = search_choices(space)
        problem = relaxed_problem(method, method, space)
        if problem:
            raise UnsupportedSpaceError(problem)
        from nni.mutable import CategoricalMultiple

        simplified = space.simplify()
        self.labels = list(simplified)
        self.alpha_list = nn.ParameterList(
            [nn.Parameter(1e-3 * torch.randn(len(simplified[label].values))) for label in self.labels])
        self.value_names = {label: list(simplified[label].values) for label in self.labels}
        self.multiple = {label: simplified[label].n_chosen for label in self.labels
                         if isinstance(simplified[label], CategoricalMultiple)}
        self.label_weights = LabelWeights(hard=method == "gdas", tau=tau)
        self.sampled_weights = LabelWeights(hard=True, tau=1.0)  # proxyless: widths and weight-free layers
        self.space = self._mutate(space)
        use_faster_layers(self.space)
        use_lazy_gates(self.space)  # proxyless: alpha's estimator only in backward passes that ask for it
        self.mixed = [m for m in self.space.modules() if isinstance(m, BaseSuperNetModule)]
        own = {id(p) for p in self.alpha_list}
        extra = [p for m in self.mixed if hasattr(m, "arch_parameters") for p in m.arch_parameters()
                 if id(p) not in own]  # NNI's Cell edges and Proxyless skip gates make their own
        self._extra_alphas = list({id(p): p for p in extra}.values())
        self._fixed_arch: dict[str, Any] | None = None

    def _mutate(self, space: nn.Module) -> nn.Module:
        # NNI's strategy package first: importing its one-shot module directly before it leaves the package with
        # placeholder classes (an import cycle inside NNI 3.0), and RandomOneShot (SPOS) then fails to build
        import nni.nas.strategy  # noqa: F401
        from nni.nas.oneshot.pytorch.strategy import OneShotStrategy, no_default_hook
        from nni.nas.oneshot.pytorch.supermodule import differentiable as diff
        from nni.nas.oneshot.pytorch.supermodule import proxyless
        from nni.nas.oneshot.pytorch.supermodule.operation import NATIVE_MIXED_OPERATIONS

        alphas = dict(zip(self.labels, self.alpha_list))
        proxy = self.method == "proxyless"
        layer_weights = self.sampled_weights if proxy else self.label_weights
        soft = nn.Softmax(-1)  # NNI's Proxyless layers sample from the softmax of alpha themselves
        from strategies.supernet.mixed_1d import MIXED_1D

        mixed_ops = {operation.mutate for operation in (*NATIVE_MIXED_OPERATIONS, *MIXED_1D)}
        if proxy:
            structural = [proxyless.suppress_already_mutated, proxyless.ProxylessMixedLayer.mutate,
                          proxyless.ProxylessMixedInput.mutate, proxyless.ProxylessMixedRepeat.mutate]
            hooks = structural + [_mixed_choice_hook(lambda: layer_weights)]
        else:
            hooks = [_mixed_choice_hook(lambda: layer_weights), diff.DifferentiableMixedInput.mutate,
                     diff.DifferentiableMixedCell.mutate, diff.DifferentiableMixedRepeat.mutate]
        hooks += [*mixed_ops, no_default_hook]
        label_weights = self.label_weights

        class _Relaxer(OneShotStrategy):
            def default_mutation_hooks(self):
                return hooks

            def run_hook(self, hook, name, module, memo):
                if not memo.get("_validated"):
                    memo.update(alphas)
                    memo["_validated"] = True
                weights = layer_weights if hook in mixed_ops else (soft if proxy else label_weights)
                return hook(module, name, memo, {"mixed_op_sampling": diff.MixedOpDifferentiablePolicy,
                                                 "softmax": weights})

        try:
            return _Relaxer().mutate_model(space)
        except (TypeError, ValueError, KeyError) as err:
            raise UnsupportedSpaceError(f"{self.method} cannot relax {type(space).__name__}: "
                                        f"{' '.join(str(err).split())}") from None

    # ---------------------------------------------------------------------------------------- parameters
    def arch_parameters(self) -> list[nn.Parameter]:
        """Every architecture parameter: one vector per label, plus those NNI's Cell and Proxyless Repeat make."""
        return list(self.alpha_list) + self._extra_alphas

    def weight_parameters(self) -> list[nn.Parameter]:
        """The network's weights (everything but the architecture parameters)."""
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.space.parameters() if id(p) not in arch and p.requires_grad]

    def alpha_softmax(self) -> dict[str, dict[str, float]]:
        """Per label, the softmax of its alpha by value (what the history shows)."""
        return {label: {str(v): round(float(w), 4) for v, w in
                        zip(self.value_names[label], torch.softmax(alpha.detach().cpu(), -1))}
                for label, alpha in zip(self.labels, self.alpha_list)}

    # ---------------------------------------------------------------------------------------- paths
    def gates(self, arch: dict[str, Any]) -> dict[str, tuple[nn.Parameter, str]]:
        """Proxyless: the skip gate of each optional block of a ``Repeat`` (NNI turns a depth into one gate per
        block), as ``arch``'s depth sets it: gate label -> (its alpha, ``'1'`` run or ``'0'`` skip)."""
        from nni.nas.oneshot.pytorch.supermodule.proxyless import ProxylessMixedRepeat

        out = {}
        for module in self.mixed:
            if isinstance(module, ProxylessMixedRepeat) and module.depth_choice.label in arch:
                depth = arch[module.depth_choice.label]
                for d in range(module.min_depth, module.max_depth):
                    gate = module.blocks[d]
                    out[gate.label] = (gate._arch_alpha, "1" if d < depth else "0")
        return out

    def path_index(self, arch: dict[str, Any]) -> dict[int, int]:
        """alpha id -> the index ``arch`` takes, for every single-choice label and Proxyless skip gate."""
        index = {id(alpha): self.value_names[label].index(arch[label])
                 for label, alpha in zip(self.labels, self.alpha_list) if label not in self.multiple}
        index.update({id(alpha): int(value) for alpha, value in self.gates(arch).values()})
        return index

    def resample(self) -> dict[str, Any]:
        """Proxyless: draw the next training step's path (one binary gate per label, from the softmax)."""
        memo: dict[str, Any] = dict(self._fixed_arch or {})
        if self._fixed_arch is not None:
            memo.update({label: value for label, (_, value) in self.gates(self._fixed_arch).items()})
        for module in self.mixed:
            memo.update(module.resample(memo))
        return memo

    def fix(self, arch: dict[str, Any] | None) -> None:
        """Run ``arch``'s path in the next forward passes (None: the relaxation again)."""
        self._fixed_arch = None if arch is None else validate_arch(self.choices, arch)
        if arch is None:
            self.label_weights.fixed = self.sampled_weights.fixed = None
            return
        fixed = self.path_index(self._fixed_arch)
        self.label_weights.fixed = self.sampled_weights.fixed = fixed
        if self.method == "proxyless":
            self.resample()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        self.label_weights.new_pass()
        self.sampled_weights.new_pass()
        return self.space(*args, **kwargs)

    # ---------------------------------------------------------------------------------------- derivation
    def derive(self) -> dict[str, Any]:
        """The discrete architecture: every label's value of largest alpha; an ``InputChoice`` its ``n_chosen``
        strongest inputs; a ``Cell``'s operations and inputs as DARTS derives them (NNI's cell export); a
        Proxyless ``Repeat`` its most likely depth."""
        from nni.nas.oneshot.pytorch.supermodule.differentiable import DifferentiableMixedCell
        from nni.nas.oneshot.pytorch.supermodule.proxyless import ProxylessMixedRepeat

        arch: dict[str, Any] = {}
        for label, alpha in zip(self.labels, self.alpha_list):
            order = torch.argsort(alpha.detach().cpu(), descending=True).tolist()
            values = self.value_names[label]
            if label in self.multiple:
                arch[label] = sorted(values[i] for i in order[:self.multiple[label] or 1])
            else:
                arch[label] = values[order[0]]
        for module in self.mixed:
            if isinstance(module, DifferentiableMixedCell):
                arch.update(module.export({}))
            elif isinstance(module, ProxylessMixedRepeat):
                probs = module.export_probs({})
                for label, weights in probs.items():
                    arch[label] = max(weights, key=weights.get)
        return validate_arch(self.choices, {label: arch[label] for label in self.choices})

    def ranked(self) -> list[tuple[float, dict[str, Any]]]:
        """Per label, ``(log-probability, value)`` pairs best first: what :func:`best_first` walks."""
        out = []
        for label, alpha in zip(self.labels, self.alpha_list):
            if label in self.multiple:
                continue
            logp = torch.log_softmax(alpha.detach().cpu(), -1).tolist()
            out.append((label, sorted(zip(logp, self.value_names[label]), key=lambda t: -t[0])))
        return out


def best_first(supernet: RelaxedSupernet, feasible, limit: int = 2000) -> tuple[dict[str, Any] | None, int]:
    """The most probable architecture (sum of each label's log-softmax) that ``feasible`` accepts, walking
    architectures in order of probability from :meth:`RelaxedSupernet.derive` (a best-first search over each
    label's value ranks); ``(arch, looked)``, ``arch`` None when none of the first ``limit`` is feasible."""
    import heapq

    base = supernet.derive()
    ranked = supernet.ranked()
    start = tuple(0 for _ in ranked)
    heap = [(0.0, start)]
    seen = {start}
    looked = 0
    while heap and looked < limit:
        cost, ranks = heapq.heappop(heap)
        arch = dict(base)
        for (label, values), rank in zip(ranked, ranks):
            arch[label] = values[rank][1]
        looked += 1
        if feasible(arch):
            return arch, looked
        for i, ((_, values), rank) in enumerate(zip(ranked, ranks)):
            if rank + 1 < len(values):
                nxt = ranks[:i] + (rank + 1,) + ranks[i + 1:]
                if nxt not in seen:
                    seen.add(nxt)
                    drop = values[0][0] - values[rank + 1][0] - (values[0][0] - values[rank][0])
                    heapq.heappush(heap, (cost + drop, nxt))
    return None, looked


def expected_latency(supernet: RelaxedSupernet, table: dict[int, list[float]]) -> torch.Tensor:
    """``sum over layers of sum_i p_i * latency_i`` (ProxylessNAS eq. 4) for the layers in ``table`` (alpha id ->
    per-candidate milliseconds), differentiable in alpha."""
    total = torch.zeros(())
    for alpha in supernet.arch_parameters():
        if id(alpha) in table:
            lat = torch.tensor(table[id(alpha)], dtype=alpha.dtype, device=alpha.device)
            total = total.to(alpha.device) + (torch.softmax(alpha, -1) * lat).sum()
    return total


def plain_copy(module: nn.Module, sample: dict[str, Any]) -> nn.Module:
    """A copy of a supernet part as the plain layers ``sample``'s network has (for timing: the weights of a mixed
    operation are not copied; NNI's own ``MixedConv2d.freeze`` fails on a convolution without bias), PyTorch's own
    classes where the supernet swapped in faster ones (``faster.py``)."""
    import copy

    from nni.nas.nn.pytorch import InputChoice
    from nni.nas.nn.pytorch.choice import ChosenInputs
    from nni.nas.oneshot.pytorch.supermodule.operation import MixedOperation
    from nni.nas.oneshot.pytorch.supermodule.proxyless import ProxylessMixedLayer

    def plain(part: nn.Module) -> nn.Module:
        if isinstance(part, MixedOperation):
            args = {**part.init_arguments, **{key: mutable.freeze(sample)
                                              for key, mutable in part.mutable_arguments.items()}}
            return part.bound_type(**args)
        if isinstance(part, ProxylessMixedLayer):
            return plain(part[sample[part.label]])
        if isinstance(part, MixedChoice):
            return plain(part._ops()[part.names.index(sample[part.label])])
        if isinstance(part, InputChoice):
            chosen = sample[part.label]
            return ChosenInputs(chosen if isinstance(chosen, list) else [chosen], part.reduction)
        if type(part) in PYTORCH_CLASS:  # timed as the derived network's own layer, not the supernet's faster one
            part.__class__ = PYTORCH_CLASS[type(part)]
        for name, child in list(part.named_children()):
            setattr(part, name, plain(child))
        return part

    return plain(copy.deepcopy(module))


def latency_table(supernet: RelaxedSupernet, example: torch.Tensor, runs: int,
                  arch: dict[str, Any] | None = None) -> dict[int, list[float]]:
    """Per Proxyless layer (alpha id), each candidate's latency in ms on the input that layer sees on ``arch``'s
    path (default: the current derivation), timed as the final dict's ``latency_ms`` is (one thread, one sample,
    median of ``runs``): ProxylessNAS's latency lookup table (Section 3.3), measured on the device the trial trains
    on. Each candidate is timed as the plain layer it becomes in ``arch``'s network (frozen: a searched width at
    ``arch``'s value), not as the mixed operation; a label in several layers sums their latencies."""
    import statistics
    import time

    from nni.nas.oneshot.pytorch.supermodule.proxyless import ProxylessMixedLayer

    from nni_nas.evaluation.metrics import LATENCY_THREADS, LATENCY_WARMUP

    arch = arch if arch is not None else supernet.derive()
    sample = {**arch, **{label: value for label, (_, value) in supernet.gates(arch).items()}}
    names = {id(m): name for name, m in supernet.space.named_modules()}
    layers = [m for m in supernet.mixed if isinstance(m, ProxylessMixedLayer)]
    network = plain_copy(supernet.space, sample).eval()  # the arch's network, each gated layer at its path
    inside = dict(network.named_modules())
    inputs: dict[int, tuple] = {}
    handles = []

    def recorder(key: int):
        return lambda module, args: inputs.setdefault(key, tuple(a[:1].detach() for a in args))

    for layer in layers:
        if names.get(id(layer)) in inside:
            handles.append(inside[names[id(layer)]].register_forward_pre_hook(recorder(id(layer))))
    was_training = supernet.training
    try:
        with torch.no_grad():
            network(example[:1])
    finally:
        for handle in handles:
            handle.remove()
    threads = torch.get_num_threads()
    torch.set_num_threads(LATENCY_THREADS)
    table: dict[int, list[float]] = {}
    try:
        with torch.inference_mode():
            for layer in layers:
                if id(layer) not in inputs:
                    continue  # not on the path (a block beyond a Repeat's depth): its candidates count 0
                args = inputs[id(layer)]
                times = []
                for name in layer.names:
                    op = plain_copy(layer[name], sample).eval()
                    samples = []
                    for i in range(LATENCY_WARMUP + runs):
                        start = time.perf_counter()
                        op(*args)
                        if i >= LATENCY_WARMUP:
                            samples.append((time.perf_counter() - start) * 1000.0)
                    times.append(statistics.median(samples))
                row = table.setdefault(id(layer._arch_alpha), [0.0] * len(times))
                table[id(layer._arch_alpha)] = [a + b for a, b in zip(row, times)]
    finally:
        torch.set_num_threads(threads)
        supernet.train(was_training)
    return table


__all__ = ["METHODS", "LabelWeights", "MixedChoice", "RelaxedSupernet", "best_first", "expected_latency",
           "latency_table", "plain_copy", "relaxation_problems", "relaxed_problem"]
