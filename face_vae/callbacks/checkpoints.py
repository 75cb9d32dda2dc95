"""What every checkpoint of a run records beside Lightning's own state: the run's identity and files."""

from pathlib import Path

import lightning as L
from lightning.pytorch.plugins.io import TorchCheckpointIO

from face_vae.core import atomic
from face_vae.core.models.model_file import write_torch_file


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


class ReplacingCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, but each checkpoint written under a temporary name in its own folder, then
    renamed over the old one. Lightning's writes it in the system's temporary folder and moves it across disks,
    which on a full disk leaves a truncated checkpoint under the real name and the previous good one gone."""

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        if "://" in str(path):  # a remote folder (s3://...): Lightning's own writer
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        write_torch_file(checkpoint, Path(path), "and resume with resume=true (the previous checkpoint is kept)")
