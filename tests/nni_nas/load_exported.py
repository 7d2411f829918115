"""Run exported models where ``nni`` cannot be imported (the parity tests start this as a subprocess).

Usage: ``python load_exported.py INPUTS.pt OUTPUTS.pt FOLDER [FOLDER ...]``. INPUTS.pt holds ``{name: batch}``;
OUTPUTS.pt receives ``{folder: {file: {name: logits}}}`` for every format found in each folder, plus
``"nni_import_error"``: the message of the failed ``import nni``.

Before anything else, a meta-path finder makes ``nni`` (and nni-nas's own packages, and Lightning) impossible to
import, so an exported file that needs any of them fails here.
"""

import importlib.abc
import importlib.util
import sys

BLOCKED = ("nni", "nni_nas", "model_spaces", "strategies", "pytorch_lightning", "lightning")


class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in BLOCKED:
            raise ImportError(f"{fullname} is blocked: exported models must run without it")
        return None


sys.meta_path.insert(0, _Blocker())
for _name in list(sys.modules):
    if _name.split(".")[0] in BLOCKED:
        del sys.modules[_name]

import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402


def _run(model, batch):
    with torch.no_grad():
        return model(batch)


def outputs_of(folder: Path, inputs: dict) -> dict:
    results = {}
    if (folder / "model.py").is_file():
        spec = importlib.util.spec_from_file_location(f"exported_{abs(hash(folder))}", folder / "model.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        network = module.Network()
        if (folder / "weights.pt").is_file():
            network.load_state_dict(torch.load(folder / "weights.pt", weights_only=True))
        network.eval()
        results["model.py"] = {name: _run(network, batch) for name, batch in inputs.items()}
    if (folder / "model.ts").is_file():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.jit.load(str(folder / "model.ts"))
        results["model.ts"] = {name: _run(program, batch) for name, batch in inputs.items()}
    if (folder / "model.pt2").is_file():
        program = torch.export.load(str(folder / "model.pt2")).module()
        results["model.pt2"] = {name: _run(program, batch) for name, batch in inputs.items()}
    if (folder / "model.onnx").is_file():
        import onnxruntime

        session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name
        results["model.onnx"] = {name: torch.from_numpy(session.run(None, {input_name: batch.numpy()})[0])
                                 for name, batch in inputs.items()}
    return results


def main(argv):
    inputs = torch.load(argv[1], weights_only=True)
    try:
        import nni  # noqa: F401
        error = None
    except ImportError as err:
        error = str(err)
    results = {"nni_import_error": error}
    for folder in argv[3:]:
        results[folder] = outputs_of(Path(folder), inputs)
    torch.save(results, argv[2])


if __name__ == "__main__":
    main(sys.argv)
