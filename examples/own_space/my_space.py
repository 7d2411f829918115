"""A model space written the way NNI's "Hello, NAS!" tutorial writes one, sized for 8x8 digit images.

Nothing here knows about nni-nas: a ``ModelSpace`` with a ``LayerChoice``, an ``nni.choice`` dropout rate and an
``nni.choice`` width, and a layer class of our own (``DepthwiseSeparableConv``).
"""

import nni
import torch
import torch.nn.functional as F
from nni.nas.nn.pytorch import LayerChoice, ModelSpace, MutableDropout, MutableLinear
from torch import nn


class DepthwiseSeparableConv(nn.Module):
    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.depthwise = nn.Conv2d(in_ch, in_ch, kernel_size=3, groups=in_ch)
        self.pointwise = nn.Conv2d(in_ch, out_ch, kernel_size=1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class MySpace(ModelSpace):
    def __init__(self, channels: int = 16, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, 1)
        self.conv2 = LayerChoice([
            nn.Conv2d(channels, 2 * channels, 3, 1),
            DepthwiseSeparableConv(channels, 2 * channels),
        ], label="conv2")
        self.dropout1 = MutableDropout(nni.choice("dropout", [0.0, 0.25, 0.5]))
        feature = nni.choice("feature", [32, 64, 128])
        self.fc1 = MutableLinear(2 * channels * 2 * 2, feature)
        self.fc2 = MutableLinear(feature, num_classes)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(self.conv2(x), 2)
        x = torch.flatten(self.dropout1(x), 1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)
