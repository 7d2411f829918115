"""A small MLP space for tabular regression, written with NNI's mutables: a searched width, depth and activation.

It takes ``input_shape`` and ``num_classes`` (nni-nas's contract: filled from the data when the config leaves them
out; for regression ``num_classes`` is the number of targets per sample).
"""

import nni
from nni.nas.nn.pytorch import LayerChoice, ModelSpace, MutableLinear, Repeat
from torch import nn


class MlpSpace(ModelSpace):
    def __init__(self, input_shape=(10,), num_classes: int = 1, widths=(16, 32, 64), max_depth: int = 3):
        super().__init__()
        width = nni.choice("width", list(widths))
        self.stem = MutableLinear(input_shape[0], width)
        self.body = Repeat(lambda index: nn.Sequential(
            MutableLinear(width, width),
            LayerChoice([nn.ReLU(), nn.Tanh(), nn.SiLU()], label=f"act{index}"),
        ), depth=(1, max_depth), label="depth")
        self.head = MutableLinear(width, num_classes)

    def forward(self, x):
        return self.head(self.body(self.stem(x)))
