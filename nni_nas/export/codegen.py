"""Write a frozen network as self-contained plain-PyTorch source (the ``model.py`` of an export).

How: every custom module of the network (a space's ``Cell``, ``SearchLayer`` ...) becomes one generated class
whose ``forward`` is its own ``torch.fx`` trace with its children called as black boxes, so the source keeps
the network's structure and names. Standard ``torch.nn`` modules are written as constructor calls
(:mod:`nni_nas.export.codegen_leaf`). The network class builds its whole module tree with no arguments, with the
architecture baked in, and its state_dict keys equal the frozen network's, so the trained weights load as they are.

A module whose forward cannot be traced on its own (it takes a list, ``*inputs``, a flag) is traced inside its
parent instead; stateless modules that end up unused (NNI's ``ChosenInputs``) disappear. The forward is the
evaluation-mode computation: training-only branches (drop-path, auxiliary heads) are not in the source.
"""

from __future__ import annotations

import copy
import keyword

import torch
from torch import nn

from nni_nas.export.codegen_leaf import CodegenError, leaf_constructor, standard_class
from nni_nas.export.codegen_trace import INDENT, Traced, record_calls, trace_module

MAX_CONSTANT_ELEMENTS = 65536


def _origin(cls: type) -> str:
    """Where a generated class came from: ``module.Class``, or ``my_space.py:Class`` for a class of a user's file
    (imported by :mod:`nni_nas.user_code` under a private module name)."""
    from nni_nas.user_code import USER_MODULE_PREFIX

    if cls.__module__.startswith(USER_MODULE_PREFIX):
        import sys
        from pathlib import Path

        path = getattr(sys.modules.get(cls.__module__), "__file__", None)
        if path:
            return f"{Path(path).name}:{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def generate_source(model: nn.Module, example_inputs: tuple[torch.Tensor, ...], docstring: str = "",
                    network_alias: str = "Network") -> str:
    """Plain-PyTorch source of ``model`` (a frozen network); its classes need only ``torch``.

    Parameters
    ----------
    model
        The frozen network (not modified; a copy is traced in evaluation mode).
    example_inputs
        Inputs of one forward pass; used to see how each module is called.
    docstring
        Module docstring of the generated file.
    network_alias
        The generated root class is also bound to this name (``from model import Network``).
    """
    return _Generator(model, example_inputs).source(docstring, network_alias)


class _Generator:
    def __init__(self, model: nn.Module, example_inputs: tuple[torch.Tensor, ...]):
        self.root = copy.deepcopy(model).eval()
        if standard_class(self.root) is not None:
            raise CodegenError(f"the network is a plain nn.{type(self.root).__name__}; export expects a model space")
        self.calls = record_calls(self.root, example_inputs)
        self.callable: dict[int, bool] = {}
        self.traces: dict[int, Traced | None] = {}
        self.errors: dict[int, str] = {}  # why a module could not be traced on its own
        self._plan(self.root)
        self.referenced = self._referenced_paths()
        self.has_state: dict[int, bool] = {}
        self.classes: dict[str, str] = {}  # class name -> source
        self.class_of_source: dict[str, str] = {}  # source with a placeholder name -> class name
        self.imports: set[str] = set()

    # ------------------------------------------------------------------ deciding what is traced where
    def _plan(self, module: nn.Module) -> bool:
        """Post-order: can ``module`` be called as a black box in its parent's trace?"""
        if id(module) in self.callable:
            return self.callable[id(module)]
        children_ok = [self._plan(child) for child in module.children()]
        cls = standard_class(module)
        if cls is not None:
            ok = all(children_ok) if isinstance(module, nn.Sequential) else True
        else:
            site = self.calls.get(id(module))
            trace = self._trace(module, site.constants if site else {}) if site is None or site.black_box else None
            self.traces[id(module)] = trace
            ok = trace is not None
        if module is self.root and self.traces.get(id(module)) is None:
            raise CodegenError(f"cannot trace the forward of {type(module).__qualname__} with torch.fx "
                               f"({self.errors.get(id(module), 'not called with tensors')}); a space's forward must "
                               "not branch on tensor values")
        self.callable[id(module)] = ok
        return ok

    def _trace(self, module: nn.Module, constants: dict) -> Traced | None:
        not_callable = {id(m) for m in module.modules() if m is not module and not self.callable.get(id(m), True)}
        # First with every traceable child as a black box; if the parent needs to see inside one (it iterates
        # over the child's output, say), again with all custom children traced through.
        everything = not_callable | {id(m) for m in module.modules()
                                     if m is not module and (standard_class(m) is None or _holds_custom(m))}
        specialised = {id(m): self.calls[id(m)].constants for m in module.modules()
                       if m is not module and self.traces.get(id(m)) is not None and self.callable.get(id(m))
                       and self.calls.get(id(m)) is not None and self.calls[id(m)].constants}
        for inline in (not_callable, everything):
            try:
                return trace_module(module, inline, constants, specialised)
            except CodegenError:
                raise
            except Exception as err:  # noqa: BLE001 - fx raises many types; the fallback is the parent's trace
                self.errors[id(module)] = f"{type(err).__name__}: {err}"
        return None

    def _referenced_paths(self) -> set[str]:
        """Every module path that some emitted forward uses, with all the paths above it."""
        referenced: set[str] = set()
        for path, module in _named_modules(self.root):
            trace = self.traces.get(id(module))
            if trace is None or not (module is self.root or self.callable[id(module)]):
                continue
            for target in trace.targets:
                parts = _join(path, target).split(".")
                referenced.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        return referenced

    def _kept(self, path: str, module: nn.Module) -> bool:
        """Modules the generated network constructs: those with weights and those some forward uses."""
        if id(module) not in self.has_state:
            self.has_state[id(module)] = any(True for _ in module.state_dict(keep_vars=True))
        return self.has_state[id(module)] or path in self.referenced

    # ------------------------------------------------------------------ emitting source
    def source(self, docstring: str, network_alias: str) -> str:
        root_name = _class_name(type(self.root).__name__, reserved={network_alias})
        root_body = self._class_body(self.root, "")
        root_source = self._class_source(root_name, type(self.root), [], root_body, self.traces[id(self.root)],
                                         role="the network; builds with no arguments")
        docstring = f'"""{docstring.strip()}\n"""\n\n' if docstring.strip() else ""
        extra = sorted(self.imports - {"import torch"})
        header = "\n".join(["from __future__ import annotations", "", "import torch", "from torch import nn", *extra])
        parts = [*self.classes.values(), root_source, f"{network_alias} = {root_name}\n"]
        return docstring + header + "\n\n\n" + "\n\n".join(parts)

    def _expression(self, module: nn.Module, path: str, depth: int) -> str:
        pad, inner = INDENT * depth, INDENT * (depth + 1)
        children = list(module.named_children())
        if isinstance(module, nn.Sequential | nn.ModuleList):
            items = [self._expression(child, _join(path, name), depth + 1) for name, child in children]
            if [name for name, _ in children] != [str(i) for i in range(len(children))]:
                raise CodegenError(f"{path or 'network'}: a {type(module).__name__} with named entries is not "
                                   "supported")
            opening, closing = ("nn.Sequential(", ")") if isinstance(module, nn.Sequential) else \
                ("nn.ModuleList([", "])")
            return _wrap(opening, items, closing, pad, inner)
        if isinstance(module, nn.ModuleDict):
            items = [f"{name!r}: {self._expression(child, _join(path, name), depth + 1)}"
                     for name, child in children if self._kept(_join(path, name), child)]
            return _wrap("nn.ModuleDict({", items, "})", pad, inner)
        if standard_class(module) is not None:
            if children:
                raise CodegenError(f"{path}: nn.{type(module).__name__} with submodules is not supported")
            return leaf_constructor(module)
        name = self._emit_class(module, path)
        kept = [(n, c) for n, c in children if self._kept(_join(path, n), c)]
        items = [f"{n}={self._expression(c, _join(path, n), depth + 1)}" for n, c in kept]
        if kept and not all(n.isidentifier() and not keyword.iskeyword(n) for n, _ in kept):
            items = [f"{n!r}: {self._expression(c, _join(path, n), depth + 1)}" for n, c in kept]
            return _wrap(f"{name}({{", items, "})", pad, inner)
        return _wrap(f"{name}(", items, ")", pad, inner)

    def _emit_class(self, module: nn.Module, path: str) -> str:
        children = [n for n, c in module.named_children() if self._kept(_join(path, n), c)]
        identifiers = all(n.isidentifier() and not keyword.iskeyword(n) for n in children)
        params = [f"{n}: nn.Module" for n in children] if identifiers else (["modules: dict[str, nn.Module]"]
                                                                             if children else [])
        body = ([f"self.{n} = {n}" for n in children] if identifiers
                else ["for name, module in modules.items():", f"{INDENT}self.add_module(name, module)"])
        body += self._own_state(module, path)
        trace = self.traces.get(id(module)) if self.callable.get(id(module)) else None
        role = "a block"
        if trace is not None and trace.specialised:
            role += "; specialised to " + ", ".join(f"{k}={v!r}" for k, v in trace.specialised.items())
        placeholder = self._class_source("@@NAME@@", type(module), params, body, trace, role=role)
        if placeholder not in self.class_of_source:
            name = _class_name(type(module).__name__, reserved=set(self.classes) | {"Network"})
            self.class_of_source[placeholder] = name
            self.classes[name] = placeholder.replace("@@NAME@@", name)
        return self.class_of_source[placeholder]

    def _class_body(self, module: nn.Module, path: str) -> list[str]:
        lines = []
        for name, child in module.named_children():
            if self._kept(_join(path, name), child):
                expression = self._expression(child, _join(path, name), 0)
                lines.append(f"self.{name} = {expression}" if name.isidentifier()
                             else f"self.add_module({name!r}, {expression})")
        return lines + self._own_state(module, path)

    def _own_state(self, module: nn.Module, path: str) -> list[str]:
        lines = []
        for name, parameter in module.named_parameters(recurse=False):
            lines.append(f"self.{name} = nn.Parameter({_empty(parameter)}"
                         f"{'' if parameter.requires_grad else ', requires_grad=False'})")
        persistent = set(module.state_dict(keep_vars=True))
        for name, buffer in module.named_buffers(recurse=False):
            value = _empty(buffer) if name in persistent else _tensor_literal(buffer, f"{path}.{name}")
            flag = "" if name in persistent else ", persistent=False"
            lines.append(f"self.register_buffer({name!r}, {value}{flag})")
        trace = self.traces.get(id(module))
        for name, value in (trace.constants.items() if trace is not None else ()):
            lines.append(f"self.register_buffer({name!r}, {_tensor_literal(value, path)}, persistent=False)")
        return lines

    def _class_source(self, name: str, original: type, params: list[str], body: list[str],
                      trace: Traced | None, role: str) -> str:
        self.imports.update(trace.imports if trace is not None else ())
        origin = _origin(original)
        doc = (f'"""Generated from ``{origin}`` ({role}).\n\n{INDENT}Evaluation-mode forward.\n{INDENT}"""'
               if trace is not None else
               f'"""Holds the weights of ``{origin}``.\n\n{INDENT}Its computation is written out in the forward of '
               f'the module that contains it.\n{INDENT}"""')
        signature = ", ".join(["self", *params])
        lines = [f"class {name}(nn.Module):", f"{INDENT}{doc}", "", f"{INDENT}def __init__({signature}) -> None:",
                 f"{INDENT * 2}super().__init__()", *[f"{INDENT * 2}{line}" for line in _indent_multiline(body)]]
        if trace is not None:
            lines += ["", f"{INDENT}{trace.signature}", *[f"{INDENT * 2}{line}" for line in trace.body]]
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- helpers
def _holds_custom(module: nn.Module) -> bool:
    return isinstance(module, nn.Sequential) and any(standard_class(m) is None for m in module.modules())


def _named_modules(root: nn.Module) -> list[tuple[str, nn.Module]]:
    return list(root.named_modules(remove_duplicate=False))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _class_name(name: str, reserved: set[str]) -> str:
    candidate, index = name, 2
    while candidate in reserved or candidate in ("nn", "torch"):
        candidate, index = f"{name}{index}", index + 1
    return candidate


def _wrap(opening: str, items: list[str], closing: str, pad: str, inner: str) -> str:
    if not items:
        return opening + closing
    one_line = opening + ", ".join(items) + closing
    if len(one_line) + len(pad) <= 100 and "\n" not in one_line:
        return one_line
    return opening + "\n" + "".join(f"{inner}{item},\n" for item in items) + pad + closing


def _indent_multiline(lines: list[str]) -> list[str]:
    return [part for line in lines for part in line.split("\n")]


def _empty(tensor: torch.Tensor) -> str:
    shape = ", ".join(str(s) for s in tensor.shape)
    dtype = "" if tensor.dtype == torch.float32 else f", dtype={tensor.dtype}"
    return f"torch.empty(({shape}{',' if tensor.dim() == 1 else ''}){dtype})"


def _tensor_literal(tensor: torch.Tensor, where: str) -> str:
    if tensor.numel() > MAX_CONSTANT_ELEMENTS:
        raise CodegenError(f"{where or 'network'}: a {tuple(tensor.shape)} tensor constant is too large to write "
                           "into model.py; register it as a persistent buffer so it travels in weights.pt")
    return f"torch.tensor({tensor.tolist()!r}, dtype={tensor.dtype})"
