"""The texts of an exported folder: ``model.py``'s docstring and the folder's ``README.md``."""

from __future__ import annotations

import json

from nni_nas.export.layout import (
    EXPORT_FORMATS,
    EXPORTED_WEIGHTS_FILE,
    ONNX_FILE,
    SOURCE_FILE,
    TORCH_EXPORT_FILE,
    TORCHSCRIPT_FILE,
)
from nni_nas.export.ranking import RANKING_MD
from nni_nas.results.tables import format_count, format_number
from nni_nas.runtime.trial_files import ARCH_FILE, METRICS_FILE


def source_docstring(loaded, rank: int | None) -> str:
    where = f", rank {rank} when exported" if rank is not None else ""
    arch = json.dumps(loaded.arch, separators=(", ", ": "))
    return (f"Space `{loaded.space}`, trial {loaded.trial.trial_id} (NNI experiment {loaded.experiment_id}{where}),"
            f"\nexported by nni-nas as plain PyTorch: runs with torch alone.\n\nArchitecture: {arch}\n"
            f"Input: {_input_kind(loaded)} tensor (batch, {', '.join(str(s) for s in loaded.input_shape)}); output: "
            f"{loaded.num_classes} {_outputs(loaded)}.\n\nUsage::\n\n    import torch\n    from model import Network\n"
            '    model = Network().eval(); model.load_state_dict(torch.load("weights.pt", weights_only=True))')


def _outputs(loaded) -> str:
    """What the network's outputs are: logits of a classifier, predicted values of a regression, or whatever the
    user's own module made of them."""
    if loaded.module == "classification":
        return "logits"
    if loaded.module == "regression":
        return "predicted values"
    return f"outputs (as your module {loaded.module} uses them)"


def _own_code_lines(loaded) -> list[str]:
    """A user's space or data: what ``model.py`` needs of the user's files (nothing: its classes are written out)."""
    from nni_nas.user_code import is_reference

    lines = []
    if is_reference(loaded.space):
        lines.append(f"`model.py` writes out every class of your space `{loaded.space}` that this network uses (your "
                     "own layers included, as traced in evaluation mode), so it needs neither your space file nor "
                     "`nni`: copy this folder alone.")
    if is_reference(loaded.module):
        lines.append(f"It was trained with your module `{loaded.module}`; the network alone is exported, without the "
                     "module's loss or post-processing.")
    return lines + [""] if lines else []


NO_TEST_SPLIT = "no test split, so no test result (measure the model on test data of your own)"


def _result_line(loaded) -> str:
    """What the trial measured, each value named by the split it was measured on (a search without a test split,
    such as the Python API's, reports validation values only), then costs and latency, in words."""
    final = loaded.trial.final or {}
    tests = {key: value for key, value in final.items() if key.startswith("test_")}
    if "val_acc" in final or loaded.monitor == "val_acc":
        searched = f"Validation accuracy {format_number(final.get('val_acc', final.get('default')))}"
        tests = {("test accuracy" if key == "test_acc" else key): value for key, value in tests.items()}
    else:
        searched = f"{loaded.monitor} {format_number(final.get('default'))} on the validation split"
    searched += " (the searched value)"
    measured = (f"{searched}; on the data set's test split: " + ", ".join(
        f"{key} {format_number(value)}" for key, value in tests.items())) if tests else f"{searched}; {NO_TEST_SPLIT}"
    return (f"{measured}. {format_count(final.get('params'))} parameters, {format_count(final.get('flops'))} FLOPs, "
            f"{format_number(final.get('latency_ms'), 3)} ms per sample on one CPU thread.")


def _is_text(loaded) -> bool:
    """Byte-encoded text networks have one input dimension (``max_len``)."""
    return len(loaded.input_shape) == 1


def _input_kind(loaded) -> str:
    return "int64 token" if _is_text(loaded) else "float"


def input_scaling(loaded) -> str:
    """How a raw input becomes what the network was trained on, exactly, for the shipped data sets."""
    if loaded.data == "digits":
        return ("scikit-learn's `load_digits().images` (8x8 grey levels 0..16) as float32, `x / 8 - 1` (so "
                "[-1, 1]), with a channel axis: `x[:, None]`.")
    if loaded.data == "cifar10":
        from nni_nas.data.images import CIFAR_MEAN, CIFAR_STD

        return (f"RGB pixels divided by 255 (torchvision's `ToTensor`: channels first, [0, 1]), then per channel "
                f"`(x - mean) / std` with mean {CIFAR_MEAN} and std {CIFAR_STD} (`T.Normalize`).")
    if loaded.data == "npz":
        return ("the npz file's `x` exactly as stored, cast to float32 (nni-nas does not rescale it; an (N, H, W) "
                "image or (N, L) sequence array gets a channel axis: `x[:, None]`).")
    from nni_nas.user_code import is_reference

    if is_reference(loaded.data):
        return (f"what your data function `{loaded.data}` gives, as it gives it (nni-nas adds no scaling of its own): "
                "prepare new inputs the way that function does.")
    if _is_text(loaded):
        return "token ids from `encode` below (bytes + 1, 0 = padding); no other scaling."
    return (f"whatever the `{loaded.data}` data set's loader does (`nni_nas.data.load_data({loaded.data!r}, ...)` "
            "gives the exact tensors); nni-nas adds no scaling of its own.")


def readme_text(loaded, rank: int | None, formats: tuple[str, ...]) -> str:
    shape = ", ".join(str(s) for s in loaded.input_shape)
    lines = [f"# {loaded.space}: trial {loaded.trial.trial_id} of NNI experiment {loaded.experiment_id}", ""]
    if loaded.weights_missing is not None:
        lines += [f"**WEIGHTS MISSING**: {loaded.weights_missing}. This folder holds the architecture only "
                  f"(`{SOURCE_FILE}` builds it untrained); retrain it before use.", ""]
    lines += [
        f"Trial `{loaded.trial.trial_id}` ({loaded.trial.status.lower()}), strategy `{loaded.strategy}`, "
        f"seed {loaded.seed}, data `{loaded.data}`.",
        _result_line(loaded),
        "",
        (f"Rank {rank} when exported; " if rank is not None else "")
        + f"the current ranking of the trials exported beside this folder: `../{RANKING_MD}`.",
        "",
        f"Input: {_input_kind(loaded)} tensor `(batch, {shape})`; output: `(batch, {loaded.num_classes})` "
        f"{_outputs(loaded)}. Everything here runs with torch alone (no `nni`).",
        "",
        f"Input scaling (as the `{loaded.data}` data set fed the network in training): {input_scaling(loaded)}",
        "",
        *_own_code_lines(loaded),
    ]
    lines += _scaling_lines(loaded)
    if loaded.weights_missing is None and {"source", "weights"} <= set(formats):
        lines += ["```python", "import torch", "from model import Network",
                  'model = Network().eval(); model.load_state_dict(torch.load("weights.pt", weights_only=True))',
                  "```", ""]
    if _is_text(loaded):
        max_len = loaded.input_shape[0]
        lines += ["A text is its UTF-8 bytes, each plus 1, cut or padded with 0 to "
                  f"{max_len} (`nni_nas.data.text.encode`):", "", "```python",
                  f"def encode(text, max_len={max_len}):",
                  '    data = [b + 1 for b in text.encode("utf-8")[:max_len]]',
                  "    return torch.tensor([data + [0] * (max_len - len(data))])",
                  "", 'logits = model(encode("Return the number of seconds since the epoch."))', "```", ""]
    files = {
        SOURCE_FILE: "plain-PyTorch source; `Network()` builds the network with this architecture",
        EXPORTED_WEIGHTS_FILE: "trained state_dict (`torch.load(..., weights_only=True)`)",
        TORCH_EXPORT_FILE: '`torch.export.load("model.pt2").module()`: the exported program with the weights in '
                           "it, no Python source needed, dynamic batch size (the format PyTorch recommends now)",
        TORCHSCRIPT_FILE: '`torch.jit.load("model.ts")`, no Python source needed (TorchScript is deprecated in '
                          "torch; kept because libtorch C++ loads it directly)",
        ONNX_FILE: "ONNX with a dynamic batch size, input `input`, output `logits` (checked with onnxruntime)",
        ARCH_FILE: "the architecture dict (choice label -> value)",
        METRICS_FILE: "the trial's final result, ids, seed, input shape, and each format's largest logit "
                      "difference from the trained network on a fixed batch",
    }
    chosen = {EXPORT_FORMATS[name] for name in formats} if loaded.weights_missing is None else {SOURCE_FILE}
    lines += ["| file | what |", "| --- | --- |"]
    lines += [f"| `{name}` | {what} |" for name, what in files.items()
              if name in chosen or name in (ARCH_FILE, METRICS_FILE)]
    lines += ["", "The forward in `model.py` is the evaluation-mode computation of the searched network "
              "(training-only branches such as drop-path are not part of it).", ""]
    return "\n".join(lines)


def _scaling_lines(loaded) -> list[str]:
    """How raw images become the input, when the data set recorded it (``image_folder``: per-channel mean and std
    of the training split)."""
    pre = getattr(loaded, "preprocessing", None)
    if not pre or "mean" not in pre:
        return []
    lines = [f"Scaling: pixels 0..255 times {pre.get('scale', 1):.6g}, then per channel minus mean {pre['mean']} and "
             f"divided by std {pre['std']} (the training split's statistics)."]
    if pre.get("classes"):
        lines[0] += f" Classes, in logit order: {pre['classes']}."
    return lines + [""]
