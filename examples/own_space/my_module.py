"""A Lightning module of our own, in NNI's contract: it gets the network through ``set_model``.

It owns its loss and optimiser and logs ``val_acc`` each validation epoch, the value the config's ``monitor`` names.
"""

import torch
import torch.nn.functional as F
from nni.nas.evaluator.pytorch import LightningModule


class MyModule(LightningModule):
    def __init__(self, lr: float = 0.01):
        super().__init__()
        self.lr = lr

    def forward(self, x):
        return self.model(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        self.log("val_loss", F.cross_entropy(logits, y))
        self.log("val_acc", (logits.argmax(1) == y).float().mean())

    def test_step(self, batch, batch_idx):
        x, y = batch
        self.log("test_acc", (self(x).argmax(1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)
