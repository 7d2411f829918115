"""Tracing one module's forward with ``torch.fx`` into readable source lines (used by :mod:`nni_nas.export.codegen`).

Children are called as black boxes unless listed as inlined. How each module is called in one real forward pass
decides whether it can be a black box: tensors in, one tensor out, and any other argument a plain constant
(``drop_prob=0.0``) that is the same in every call. Such constants are specialised away: the child's generated
forward does not take them and the parent's call does not pass them.
"""

from __future__ import annotations

import builtins
import inspect
import math
import re
import types
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from nni_nas.export.codegen_leaf import CodegenError

# Modules the generated source may not import: it must run with torch alone.
FORBIDDEN_IMPORTS = ("nni", "nni_nas", "model_spaces", "strategies", "pytorch_lightning", "lightning")
INDENT = "    "
_CONSTANT_TYPES = (type(None), bool, int, float, str)
_SPECIALISATION_ASSERTS = {torch._assert, fx._symbolic_trace._assert_is_none}


@dataclass
class CallSite:
    """How a module was called during one forward: usable as a black box, and with which constant arguments."""

    black_box: bool = True
    constants: dict[str, Any] = field(default_factory=dict)


@dataclass
class Traced:
    """The forward of one module as source: signature line, body lines, imports, and what it references."""

    signature: str
    body: list[str]
    imports: set[str]
    targets: list[str]  # submodule / attribute paths the body uses
    constants: dict[str, torch.Tensor] = field(default_factory=dict)  # tensors to register as buffers
    specialised: dict[str, Any] = field(default_factory=dict)  # arguments baked in


class BlackBoxTracer(fx.Tracer):
    """Traces one module, calling every submodule as a leaf except those listed in ``inline``."""

    def __init__(self, inline: set[int]):
        super().__init__()
        self.inline = inline
        self.proxy_buffer_attributes = True  # buffers stay `self.x`, not constants folded into the code

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return id(m) not in self.inline


def record_calls(root: nn.Module, example_inputs: tuple[torch.Tensor, ...]) -> dict[int, CallSite]:
    """id(module) -> :class:`CallSite` for every module called during one forward of ``root``.

    A parent that passes a child a list, or unpacks or iterates the child's output, needs the child's code
    inline; so does a child that gets different constants in different calls.
    """
    sites: dict[int, CallSite] = {}

    def before(module: nn.Module, args: tuple, kwargs: dict) -> None:
        site = sites.setdefault(id(module), CallSite(constants=None))  # None: no call seen yet
        if not site.black_box:
            return
        try:
            bound = inspect.signature(module.forward).bind(*args, **kwargs)
        except TypeError:
            site.black_box = False
            return
        constants = {}
        for name, value in bound.arguments.items():
            if isinstance(value, torch.Tensor):
                continue
            if not isinstance(value, _CONSTANT_TYPES):
                site.black_box = False
                return
            constants[name] = value
        if site.constants is not None and site.constants != constants:
            site.black_box = False
        site.constants = constants

    def after(module: nn.Module, args: tuple, output: Any) -> None:
        if not isinstance(output, torch.Tensor):
            sites[id(module)].black_box = False

    handles = [m.register_forward_pre_hook(before, with_kwargs=True) for m in root.modules()]
    handles += [m.register_forward_hook(after) for m in root.modules()]
    try:
        with torch.no_grad():  # one sample says how modules are called, at a fraction of the cost
            root(*(x[:1] if isinstance(x, torch.Tensor) and x.dim() > 0 else x for x in example_inputs))
    finally:
        for handle in handles:
            handle.remove()
    return sites


def trace_module(module: nn.Module, inline: set[int], constants: dict[str, Any],
                 specialised_children: dict[int, dict[str, Any]]) -> Traced:
    """Trace ``module`` with the arguments in ``constants`` fixed; raises whatever fx raises when it cannot.

    ``specialised_children``: id(child) -> constants of children traced the same way; their calls in this
    module's code drop those arguments.
    """
    graph = BlackBoxTracer(inline).trace(module, concrete_args=constants or None)
    if constants:
        _drop_specialised_parameters(graph, module, constants)
    for node in graph.nodes:
        if node.op == "call_module":
            child = module.get_submodule(node.target)
            if id(child) in specialised_children:
                _drop_constant_arguments(node, child, specialised_children[id(child)])
    traced = _to_source(module, graph)
    traced.specialised = dict(constants)
    return traced


def _drop_specialised_parameters(graph: fx.Graph, module: nn.Module, constants: dict[str, Any]) -> None:
    # fx keeps a specialised parameter and asserts its value; the generated forward simply does not take it.
    for node in reversed(list(graph.nodes)):
        if node.op == "call_function" and node.target in _SPECIALISATION_ASSERTS:
            inputs = [arg for arg in node.args if isinstance(arg, fx.Node)]
            graph.erase_node(node)
            for arg in inputs:
                if arg.op != "placeholder" and not arg.users:
                    graph.erase_node(arg)
    names = [p for p in inspect.signature(module.forward).parameters]
    placeholders = [node for node in graph.nodes if node.op == "placeholder"]
    for name, node in zip(names, placeholders):
        if name in constants:
            if node.users:
                raise CodegenError(f"{type(module).__qualname__}: argument {name} is still used after "
                                   "specialisation")
            graph.erase_node(node)


def _drop_constant_arguments(node: fx.Node, child: nn.Module, constants: dict[str, Any]) -> None:
    parameters = list(inspect.signature(child.forward).parameters)
    named = dict(zip(parameters, node.args))
    named.update(node.kwargs)
    kept = [name for name in parameters if name in named and name not in constants]
    # Positional while the order is unbroken, by keyword after a dropped argument.
    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    for index, name in enumerate(kept):
        if not keywords and index < len(node.args) and parameters.index(name) == index:
            positional.append(named[name])
        else:
            keywords[name] = named[name]
    node.args, node.kwargs = tuple(positional), keywords


def _to_source(module: nn.Module, graph: fx.Graph) -> Traced:
    params = {name for name, _ in module.named_parameters()} | {name for name, _ in module.named_buffers()}
    constants: dict[str, torch.Tensor] = {}
    targets = []
    for node in graph.nodes:
        node.type = None  # annotations would need imports; the generated code runs without them
        if node.op == "get_attr" and node.target not in params:
            value = _resolve(module, node.target)
            if not isinstance(value, torch.Tensor):
                raise CodegenError(f"{type(module).__qualname__}: attribute {node.target} is not a tensor")
            name = f"_constant{len(constants)}"
            constants[name] = value.detach().clone()
            node.target = name
        elif node.op in ("call_module", "get_attr"):
            targets.append(node.target)
    code = graph.python_code(root_module="self")
    lines = [line for line in code.src.strip("\n").splitlines() if line.strip()]
    body = [_tidy(line[len(INDENT):], _indexable(module, targets)) for line in lines[1:]]
    return Traced(lines[0].strip(), body, _imports(code.globals, "\n".join(body)), targets, constants)


def _indexable(module: nn.Module, targets: list[str]) -> bool:
    """True when every numeric step of the paths is an entry of an ``nn.Sequential`` or ``nn.ModuleList``."""
    for target in targets:
        owner: Any = module
        for part in target.split("."):
            if part.isdigit() and not isinstance(owner, nn.Sequential | nn.ModuleList):
                return False
            owner = getattr(owner, part, None)
    return True


def _tidy(line: str, indexable: bool) -> str:
    """Drop fx's ``;  x = None`` memory hints, write keyword arguments as ``dim=1``, not ``dim = 1``, and
    ``self.cells[0]`` for ``getattr(self.cells, "0")`` where that is the same."""
    line = re.sub(r";\s+(\w+ = )+None$", "", line)
    while indexable:
        line, count = re.subn(r'getattr\(([\w.\[\]]+), "(\d+)"\)', r"\1[\2]", line)
        if not count:
            break
    target, sep, value = line.partition(" = ")
    return target + sep + re.sub(r"(\w) = ", r"\1=", value) if sep else line


def _imports(globals_: dict[str, Any], body: str) -> set[str]:
    lines = set()
    for name, value in globals_.items():
        if name == "torch" or not re.search(rf"\b{re.escape(name)}\b", body):
            continue
        if isinstance(value, float) and (math.isinf(value) or math.isnan(value)):
            lines.add(f"{name} = float({name!r})")
        elif value is type(None):
            lines.add(f"{name} = type(None)")
        elif getattr(builtins, name, None) is value:
            continue
        elif isinstance(value, types.ModuleType):
            lines.add(_checked_import(value.__name__, f"import {value.__name__} as {name}"))
        else:
            origin, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
            if origin is None or qualname is None or "." in qualname:
                raise CodegenError(f"the traced forward uses {value!r}, which has no importable name")
            lines.add(_checked_import(origin, f"from {origin} import {qualname} as {name}"))
    return lines


def _checked_import(module_name: str, line: str) -> str:
    if module_name.split(".")[0] in FORBIDDEN_IMPORTS:
        raise CodegenError(f"the traced forward calls into {module_name}; model.py must import torch only "
                           "(move that helper into plain torch code in the space)")
    return line


def _resolve(module: nn.Module, target: str) -> Any:
    value: Any = module
    for part in target.split("."):
        value = getattr(value, part)
    return value
