"""Write and check the files of one exported architecture: model.py, weights.pt, model.pt2, model.ts and model.onnx.

Every format is loaded back right after it is written and run on a fixed batch; its logits must equal the
trained network's within :data:`TOLERANCE`, so an export that would not reproduce the model fails loudly.
``torch.export``, TorchScript and ONNX are produced from the generated plain-PyTorch network, not from the NNI
model, so none of the files refers to ``nni``. ``model.pt2`` is the format PyTorch now recommends (``torch.jit``
is deprecated in this torch); the ONNX file is converted from that same exported program when both are written.
TorchScript stays for C++ users: libtorch loads a ``.ts`` file directly, while a ``.pt2`` program needs
AOTInductor compilation to run without Python.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import itertools
import sys
import types
import warnings
from pathlib import Path

import torch
from torch import nn

from nni_nas.errors import ExportError

TOLERANCE = 1e-5

_module_counter = itertools.count()


class ParityError(ExportError):
    """An exported format does not reproduce the trained network's outputs."""


def import_source(path: Path) -> types.ModuleType:
    """Import a generated ``model.py`` under a unique name (it does not stay in ``sys.modules``)."""
    name = f"_nni_nas_exported_{next(_module_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # TorchScript looks classes up by module name while scripting
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def forget_source(module: types.ModuleType) -> None:
    """Undo :func:`import_source`'s registration."""
    sys.modules.pop(module.__name__, None)


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute element difference (inf when the shapes differ)."""
    if a.shape != b.shape:
        return float("inf")
    return float((a.detach().float() - b.detach().float()).abs().max()) if a.numel() else 0.0


def check_parity(name: str, output: torch.Tensor, reference: torch.Tensor) -> float:
    """``max_abs_diff``; :class:`ParityError` when it exceeds :data:`TOLERANCE`."""
    diff = max_abs_diff(output, reference)
    if not diff <= TOLERANCE:
        raise ParityError(f"{name} differs from the trained network by {diff:.3g} (tolerance {TOLERANCE}); "
                          "please report this with the space and architecture")
    return diff


def logits(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """Evaluation-mode outputs of ``model`` (a module or a loaded TorchScript program) on ``batch``."""
    model.eval()
    with torch.no_grad():
        return model(batch)


def write_weights(network: nn.Module, path: Path) -> None:
    """The state_dict as plain tensors, loadable with ``torch.load(path, weights_only=True)``."""
    state = {key: value.detach().clone().contiguous() for key, value in network.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    path.write_bytes(buffer.getvalue())  # (torch.save to a full disk raises RuntimeError; Python says ENOSPC)


def write_torchscript(network: nn.Module, batch: torch.Tensor, reference: torch.Tensor, path: Path) -> float:
    """Script ``network`` (trace it where scripting fails), save it, load it back and check its outputs."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit.*deprecated.*")
        try:
            program = torch.jit.script(network)
        except Exception:  # noqa: BLE001 - TorchScript rejects some Python; tracing is exact for our forwards
            program = torch.jit.trace(network, (batch,), check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(program, buffer)
        path.write_bytes(buffer.getvalue())  # a full disk is an OSError, not a RuntimeError of the C++ writer
        loaded = torch.jit.load(str(path))
    return check_parity(path.name, logits(loaded, batch), reference)


def export_program(network: nn.Module, batch: torch.Tensor) -> torch.export.ExportedProgram:
    """``torch.export`` of ``network`` in evaluation mode, with a dynamic batch size."""
    network.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.export.export(network, (batch,), dynamic_shapes=({0: torch.export.Dim("batch")},))


def write_torch_export(program: torch.export.ExportedProgram, batch: torch.Tensor, reference: torch.Tensor,
                       path: Path) -> float:
    """Save an exported program, load it back with ``torch.export.load`` and check its outputs."""
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    path.write_bytes(buffer.getvalue())  # written by Python, so a full disk is an OSError, not torch's RuntimeError
    loaded = torch.export.load(path).module()
    with torch.no_grad():
        return check_parity(path.name, loaded(batch), reference)


def write_onnx(network: nn.Module | torch.export.ExportedProgram, batch: torch.Tensor, reference: torch.Tensor,
               path: Path) -> float:
    """Export ``network`` (or its exported program) to ONNX with a dynamic batch size; check it with onnxruntime."""
    try:
        import onnxruntime
    except ImportError as err:
        raise ExportError(f"ONNX export needs onnx, onnxscript and onnxruntime ({err}); install them with "
                          "`pip install 'nni-nas[export]'` or leave out --format onnx") from None
    # The exporter narrates each step on stdout; the export's own line is enough for the user.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dynamic = None if isinstance(network, torch.export.ExportedProgram) else ({0: torch.export.Dim("batch")},)
        program = torch.onnx.export(network, (batch,), None, input_names=["input"], output_names=["logits"],
                                    dynamic_shapes=dynamic, dynamo=True, verbose=False)
    path.write_bytes(program.model_proto.SerializeToString())  # one file, weights inside; a full disk is an OSError
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    output = session.run(None, {session.get_inputs()[0].name: batch.numpy()})[0]
    return check_parity(path.name, torch.from_numpy(output), reference)
