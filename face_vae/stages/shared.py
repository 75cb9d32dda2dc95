"""Steps that several stages take: data and models fetched when missing, then opened."""

from pathlib import Path

from omegaconf import DictConfig

from face_vae import storage
from face_vae.data.preparation import ensure_prepared
from face_vae.errors import UserError
from face_vae.models.dcgan import DCGAN
from face_vae.models.model_file import load_model
from face_vae.models.vae import VAE


def prepared_data(cfg: DictConfig, force: bool = False) -> Path:
    """The prepared folder of `cfg.data`, pulling the source through data.dvc first when it is missing."""

    def pull(wanted: Path) -> None:
        try:
            storage.pull_data(cfg.storage, wanted)
        except UserError as error:  # no data and no DVC remote that has it: the official files remain
            raise UserError(
                f"{str(error).rstrip('.')}; or fetch CelebA from its official files with `python commands.py "
                f"download data.source_dir={cfg.data.source_dir}`."
            ) from error

    return ensure_prepared(cfg.data, pull, force=force)


def pulled_model(storage_cfg: DictConfig, model_file: Path) -> VAE | DCGAN:
    """The model in `model_file`, pulled through models.dvc first when the file is missing."""
    if not model_file.is_file():
        storage.pull_model(storage_cfg, model_file)
    return load_model(model_file)
