"""The checkpoint that keeps the best weights, judged by what the LightningModule names."""

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint


class BestCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint, monitoring the module's `monitor` (loss_val for the VAE; None for the
    DCGAN, which has no validation loss: its last weights are kept), so the config names it nowhere."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.monitor = getattr(pl_module, "monitor", None)
        super().setup(trainer, pl_module, stage)
