"""The files of an exported folder, and the ``--format`` names that choose them (no torch: the CLI reads this)."""

from __future__ import annotations

SOURCE_FILE = "model.py"
EXPORTED_WEIGHTS_FILE = "weights.pt"
TORCH_EXPORT_FILE = "model.pt2"
TORCHSCRIPT_FILE = "model.ts"
ONNX_FILE = "model.onnx"
README_FILE = "README.md"
# format name (``--format``) -> the file it writes
EXPORT_FORMATS = {"source": SOURCE_FILE, "weights": EXPORTED_WEIGHTS_FILE, "torch_export": TORCH_EXPORT_FILE,
                  "torchscript": TORCHSCRIPT_FILE, "onnx": ONNX_FILE}
