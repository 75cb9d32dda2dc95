"""Checkpoints: the one that keeps the best weights, judged by what the LightningModule names, and the
identity of the run every checkpoint records."""

from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from face_vae import atomic


class BestCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint, monitoring the module's `monitor` (loss_val for the VAE; None for the
    DCGAN, which has no validation loss: its last weights are kept), so the config names it nowhere."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.monitor = getattr(pl_module, "monitor", None)
        super().setup(trainer, pl_module, stage)


class RunIdentity(L.Callback):
    """Writes the run's identity (checkpoints_dir/run.json) into every checkpoint it saves, so that resume=true
    continues only a checkpoint of the run the folder describes."""

    KEY = "face_vae_run"

    def __init__(self, identity: dict[str, str]):
        self.identity = dict(identity)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint[self.KEY] = self.identity


class RunFiles(L.Callback):
    """Writes the run's own files (its identity, resolved config, MLflow run id) into `folder` when fitting starts
    (rank 0): after the checkpoint callback has looked at the folder, which a fresh run leaves empty until then."""

    def __init__(self, folder: Path, files: dict[str, str]):
        self.folder, self.files = Path(folder), dict(files)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            for name, text in self.files.items():
                atomic.write_text(self.folder / name, text)
