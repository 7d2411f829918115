"""What an architecture costs: parameters and FLOPs of the space's own network, and a cached table of both for
every architecture of a tabular space.

:func:`arch_cost` freezes the space with ``arch`` and counts with the trial's own counters
(:func:`nni_nas.evaluation.metrics.count_params` and :func:`~nni_nas.evaluation.metrics.count_flops`), so a
constraint checked before training and the ``params`` / ``flops`` a trial reports are the same numbers.

Freezing one NAS-Bench-201 network deep-copies the whole space (seconds each on a busy CPU), so counting all 15,625
cells one by one would take hours. Every decision of a tabular space is a ``LayerChoice`` whose candidates see a
fixed input shape, so both counts are **additive**: cost(arch) = cost(base) + sum over choice positions of
(cost of the chosen candidate - cost of the base's candidate), where base takes the first value of every label.
The table is built from one frozen network (the inputs each position sees) and every candidate counted alone on
its input, then checked exactly against :func:`arch_cost` on a few random architectures; a mismatch is an
error, never a silent guess.

The table is cached as JSON in ``$NNI_NAS_CACHE`` (default ``~/.cache/nni-nas``) under ``costs/``, named by a
digest of everything that changes the numbers: the space, its arguments, the input shape, the classes, the
source of the space's module and of the counters, and torch's version.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

COST_KEYS = ("params", "flops")
CACHE_VERSION = 1
VERIFY_SAMPLES = 3


def arch_cost(space: Any, arch: dict[str, Any], input_shape: tuple[int, ...] | None = None) -> dict[str, int]:
    """``{"params": ..., "flops": ...}`` of ``arch`` in ``space`` (a built space): the frozen network's trainable
    parameters and the FLOPs of one forward pass on one sample of ``input_shape`` (default: the space's own; a
    user's space may have none) (a multiply-add counts 2), exactly as a trial reports them."""
    from nni_nas.evaluation.metrics import count_flops, count_params

    model = space.freeze(arch)
    shape = tuple(input_shape if input_shape is not None else space.input_shape)
    return {"params": int(count_params(model)), "flops": int(count_flops(model, shape))}


def cache_dir() -> Path:
    """Where cost tables are cached: ``$NNI_NAS_CACHE/costs`` (default ``~/.cache/nni-nas/costs``)."""
    root = os.environ.get("NNI_NAS_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "nni-nas")
    return Path(root) / "costs"


def _digest(space: Any, space_args: dict[str, Any]) -> str:
    import torch

    from nni_nas.evaluation import metrics

    parts = {
        "version": CACHE_VERSION,
        "space": space.space_name,
        "space_args": space_args,
        "input_shape": list(space.input_shape),
        "num_classes": getattr(space, "num_classes", None),
        "space_source": inspect.getsource(sys.modules[type(space).__module__]),
        "counter_source": inspect.getsource(metrics) + inspect.getsource(sys.modules[__name__]),
        "torch": torch.__version__,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _all_archs(choices: dict[str, list[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(choices, values)) for values in itertools.product(*choices.values())]


def _choice_deltas(space: Any, base_arch: dict[str, Any]) -> tuple[dict[str, int], dict[str, dict[Any, dict]]]:
    """The cost of ``base_arch`` and, per label and value, what choosing that value instead adds to it.

    One frozen network: a hook records the input every ``LayerChoice`` position sees in it; each candidate of the
    position is then counted alone on that input (parameters and FLOPs), summed over the positions that share
    the label."""
    from nni.nas.nn.pytorch import LayerChoice

    from nni_nas.evaluation.metrics import count_flops_on, count_params

    positions = {path: module for path, module in space.named_modules() if isinstance(module, LayerChoice)}
    frozen = space.freeze(base_arch)
    seen_inputs: dict[str, tuple] = {}

    def recorder(path: str):
        def record(module: Any, args: tuple, output: Any) -> None:  # returns None: the output stays as it is
            seen_inputs.setdefault(path, args)
        return record

    hooks = [frozen.get_submodule(path).register_forward_hook(recorder(path)) for path in positions]
    try:
        base = {"params": int(count_params(frozen)), "flops": int(count_flops_on(frozen, _example(space)))}
    finally:
        for hook in hooks:
            hook.remove()
    deltas: dict[str, dict[Any, dict[str, int]]] = {}
    for path, choice in positions.items():
        base_value = base_arch[choice.label]
        counted = {value: {"params": int(count_params(choice[value])),
                           "flops": int(count_flops_on(choice[value], *seen_inputs[path]))}
                   for value in choice.names}
        per_label = deltas.setdefault(choice.label, {value: dict.fromkeys(COST_KEYS, 0) for value in choice.names})
        for value, cost in counted.items():
            for key in COST_KEYS:
                per_label[value][key] += cost[key] - counted[base_value][key]
    return base, deltas


def _example(space: Any) -> Any:
    import torch

    return space.example_input(1, generator=torch.Generator().manual_seed(0))


def build_cost_table(space: Any) -> dict[str, dict[str, int]]:
    """The cost of every architecture of a tabular ``space``, keyed by its benchmark key (not cached; see
    :func:`cost_table`). Additive decomposition, checked exactly on :data:`VERIFY_SAMPLES` random architectures."""
    from model_spaces.contract import TabularSpace
    from nni_nas.arch import search_choices

    if not isinstance(space, TabularSpace):
        raise TypeError(f"space {space.space_name!r} is not a TabularSpace; use arch_cost per architecture")
    choices = search_choices(space)
    base_arch = {label: values[0] for label, values in choices.items()}
    base, deltas = _choice_deltas(space, base_arch)
    table = {}
    for arch in _all_archs(choices):
        table[space.to_benchmark_key(arch)] = {
            key: base[key] + sum(deltas[label][arch[label]][key] for label in choices) for key in COST_KEYS}
    rng = random.Random(0)
    for arch in rng.sample(_all_archs(choices), VERIFY_SAMPLES):
        exact, summed = arch_cost(space, arch), table[space.to_benchmark_key(arch)]
        if exact != summed:
            raise RuntimeError(f"space {space.space_name!r}: the costs of {arch} are not additive over its labels "
                               f"(exact {exact}, summed {summed}); its cost table cannot be built this way")
    return table


def cost_table(space: Any, space_args: dict[str, Any] | None = None) -> dict[str, dict[str, int]]:
    """The cost of every architecture of a tabular ``space`` (built with ``space_args``), keyed by benchmark
    key, from the cache when it is there (built and cached otherwise; the build time is logged to stderr)."""
    path = cache_dir() / f"{space.space_name}-{_digest(space, dict(space_args or {}))}.json"
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            pass  # a damaged cache file is rebuilt below and replaced
    start = time.perf_counter()
    table = build_cost_table(space)
    seconds = time.perf_counter() - start
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(table))
    partial.replace(path)  # atomic: a concurrent reader sees the old file or the whole new one
    print(f"nni-nas: cost table of {space.space_name} ({len(table):,} architectures) built in {seconds:.1f} s, "
          f"cached at {path}", file=sys.stderr)
    return table


def benchmark_network(space_name: str) -> Any:
    """The network a tabular space's published table was measured on (the space's class declares its input
    shape and classes in ``benchmark_network``; its default arguments are the benchmark's sizes)."""
    import model_spaces

    cls = model_spaces.get_space_class(space_name)
    spec = getattr(cls, "benchmark_network", None)
    if spec is None:
        raise TypeError(f"space {space_name!r} is not a TabularSpace")
    return model_spaces.build_space(space_name, tuple(spec["input_shape"]), spec["num_classes"])


def benchmark_cost_table(space_name: str) -> dict[str, dict[str, int]]:
    """:func:`cost_table` of the network a tabular benchmark was measured on (NAS-Bench-201: 16 channels, 5 cells
    per stage; NAS-Bench-Macro: 32 stem and 1,280 head channels; both 3x32x32 inputs, 10 classes)."""
    return cost_table(benchmark_network(space_name), {})


class CostModel:
    """The costs of architectures of one built space, memoised: looked up in the cached table of a tabular space,
    counted on the frozen network (:func:`arch_cost`) otherwise.

    Parameters
    ----------
    space
        A built space (the network whose costs count: the one the trials train).
    space_args
        The arguments it was built with (part of the cache key of its table).
    input_shape
        One input's shape, for a space that does not keep its own (a user's ``ModelSpace``: the data's).
    """

    def __init__(self, space: Any, space_args: dict[str, Any] | None = None,
                 input_shape: tuple[int, ...] | None = None):
        self.space = space
        self.space_args = dict(space_args or {})
        self.input_shape = input_shape
        self._memo: dict[str, dict[str, int]] = {}
        self._table: dict[str, dict[str, int]] | None = None
        self._table_read = False
        self._additive: Any = None  # (fixed params, per-position params) once checked; False: not additive
        self._gates: dict[str, tuple[str, int]] = {}  # edge label -> (input label, source) in a cell space

    @property
    def table(self) -> dict[str, dict[str, int]] | None:
        """Every architecture's cost, keyed by benchmark key, for a tabular space (None for other spaces)."""
        from model_spaces.contract import TabularSpace

        if not self._table_read:
            self._table = cost_table(self.space, self.space_args) if isinstance(self.space, TabularSpace) else None
            self._table_read = True
        return self._table

    def __call__(self, arch: dict[str, Any]) -> dict[str, int]:
        """``{"params", "flops"}`` of ``arch``."""
        key = json.dumps(arch, sort_keys=True, default=str)
        if key not in self._memo:
            table = self.table
            self._memo[key] = (dict(table[self.space.to_benchmark_key(arch)]) if table is not None
                               else arch_cost(self.space, arch, self.input_shape))
        return self._memo[key]

    def smallest(self) -> dict[str, int]:
        """The least ``params`` and the least ``flops`` any architecture of the space has (each minimised on its
        own). Exact over the table of a tabular space; elsewhere a coordinate descent (each label in turn set to its
        cheapest value, until nothing changes): exact when the labels add to the cost independently; otherwise a local
        minimum, so ``nni-nas check`` may let through a limit that only a search then finds unreachable."""
        table = self.table
        if table is not None:
            return {key: min(cost[key] for cost in table.values()) for key in COST_KEYS}
        from nni_nas.arch import search_choices

        choices = search_choices(self.space)
        out = {}
        for key in COST_KEYS:
            arch = {label: values[0] for label, values in choices.items()}
            changed = True
            while changed:
                changed = False
                for label, values in choices.items():
                    best = min(values, key=lambda value, label=label: self({**arch, label: value})[key])
                    if self({**arch, label: best})[key] < self(arch)[key]:
                        arch[label], changed = best, True
            out[key] = self(arch)[key]
        return out

    def params_of(self, arch: dict[str, Any]) -> int:
        """``params`` of ``arch``; on spaces whose parameters add up over their ``LayerChoice`` positions (checked
        exactly on two random architectures at first use) without freezing a network: what a derivation that
        looks at hundreds of candidates needs (:func:`strategies.darts.search.derive_in_budget`)."""
        if self._additive is None:
            self._additive = self._additive_params() or False
        if self._additive is False:
            return self(arch)["params"]
        fixed, positions = self._additive
        return fixed + _summed(positions, self._gates, arch)

    def costs_of(self, arch: dict[str, Any], keys: Any) -> dict[str, int]:
        """The costs in ``keys`` of ``arch``: :meth:`params_of` when only ``params`` is asked for."""
        return {"params": self.params_of(arch)} if set(keys) <= {"params"} else self(arch)

    def _additive_params(self) -> tuple[int, list[tuple[str, dict[Any, int]]]] | None:
        from nni.nas.nn.pytorch import LayerChoice

        from model_spaces.contract import CellSpace
        from nni_nas.arch import search_choices
        from nni_nas.evaluation.metrics import count_params

        choices = [module for module in self.space.modules() if isinstance(module, LayerChoice)]
        inside = {id(p) for choice in choices for p in choice.parameters()}
        fixed = sum(p.numel() for p in self.space.parameters() if p.requires_grad and id(p) not in inside)
        positions = [(choice.label, {value: int(count_params(choice[value])) for value in choice.names})
                     for choice in choices]
        # In a cell space an edge whose source the node does not read is dropped from the frozen network.
        self._gates = ({label: (inputs, source) for inputs, labels in self.space.cell_edges().items()
                        for source, label in enumerate(labels)} if isinstance(self.space, CellSpace) else {})
        all_choices = search_choices(self.space)
        rng = random.Random(0)
        for _ in range(2):
            arch = {label: rng.choice(values) for label, values in all_choices.items()}
            try:
                summed = fixed + _summed(positions, self._gates, arch)
            except (KeyError, TypeError):
                return None
            if summed != self(arch)["params"]:
                return None
        return fixed, positions


def _summed(positions: list[tuple[str, dict[Any, int]]], gates: dict[str, tuple[str, int]],
            arch: dict[str, Any]) -> int:
    """The parameters of the chosen candidates, an edge counted only when its node reads its source."""
    total = 0
    for label, counts in positions:
        gate = gates.get(label)
        if gate is None or gate[1] in arch[gate[0]]:
            total += counts[arch[label]]
    return total
