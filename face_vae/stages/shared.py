"""Steps that several stages take: data and models fetched when missing, then opened."""

from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from face_vae import hardware, storage
from face_vae.config import build, flat_values
from face_vae.data.preparation import FolderNotWritable, TooManyBadImages, ensure_prepared
from face_vae.errors import UserError
from face_vae.models.dcgan import DCGAN
from face_vae.models.model_file import load_model
from face_vae.models.vae import VAE
from face_vae.tracking import provenance, server


def prepared_data(cfg: DictConfig, force: bool = False) -> Path:
    """The prepared folder of `cfg.data`, pulling the source through data.dvc first when it is missing."""

    def pull(wanted: Path) -> None:
        try:
            storage.pull_data(storage_settings(cfg), wanted)
        except UserError as error:  # no data and no DVC remote that has it: the official files remain
            raise UserError(
                f"{str(error).rstrip('.')}; or fetch CelebA from its official files with `python commands.py "
                f"download data.source_dir={cfg.data.source_dir}`."
            ) from error

    try:
        return ensure_prepared(build(cfg.data.preparation), Path(cfg.data.prepared_dir), pull, force=force)
    except TooManyBadImages as error:
        raise UserError(f"{error} (data.max_bad_fraction).") from error
    except FolderNotWritable as error:
        raise UserError(f"{error}: choose another data.prepared_dir.") from error


def pulled_model(cfg: DictConfig, model_file: Path) -> VAE | DCGAN:
    """The model in `model_file`, pulled through models.dvc first when the file is missing."""
    if not model_file.is_file():
        storage.pull_model(storage_settings(cfg), model_file)
    return load_model(model_file)


def trainer_arguments(trainer_cfg: DictConfig) -> DictConfig:
    """The trainer config without `threads`, which the stage has applied (torch.set_num_threads) and
    Lightning's Trainer does not take."""
    arguments = trainer_cfg.copy()
    with open_dict(arguments):
        arguments.pop("threads", None)
    return arguments


def check_image_size(network: VAE | DCGAN, image_size: int) -> None:
    """Refuse to compare or encode images of another size than the model's (FID, codes)."""
    if network.image_size != image_size:
        raise UserError(
            f"The model makes and reads {network.image_size} px faces, not {image_size}: "
            f"set data.image_size={network.image_size}."
        )


def check_sampler(network: VAE | DCGAN, sampler: str, model_file: Path) -> None:
    """Refuse, in the user's words, a sampler the model in `model_file` cannot draw from."""
    if sampler in ("gmm", "flow") and isinstance(network, DCGAN):
        raise UserError(f"{model_file} is a DCGAN, which samples from N(0, I) only: use sampler=auto or normal.")
    if sampler == "gmm" and network.latent_density is None:
        raise UserError(
            f"{model_file} has no fitted latent mixture: use sampler=normal, or train with model.gmm_components > 0."
        )
    if sampler == "flow" and network.latent_flow is None:
        raise UserError(
            f"{model_file} has no fitted latent flow: use sampler=gmm or normal, or train with model.flow.epochs > 0."
        )


def inference_runtime(cfg: DictConfig) -> hardware.Runtime:
    """The precision, layout and threads of a command that only runs the network forward (`runtime.*`)."""
    return hardware.resolve(cfg.runtime.precision, cfg.runtime.channels_last, cfg.runtime.threads)


def storage_settings(cfg: DictConfig) -> storage.StorageSettings:
    """The `storage` group as the settings the DVC code takes."""
    return storage.StorageSettings(**cfg.storage)


def tracking_uri(cfg: DictConfig) -> str | None:
    """The MLflow URI this command logs to, None with tracking.enabled=false; checked before any work."""
    if not cfg.tracking.enabled:
        return None
    return server.tracking_uri(server.TrackingSettings(**cfg.tracking))


def run_params(cfg: DictConfig) -> dict[str, str]:
    """Every resolved config value, the git commit, the data's provenance and library versions: the params
    of a training run."""
    source_dir = cfg.data.get("source_dir") if cfg.data.kind != "synthetic" else None
    data = provenance.data_provenance(cfg.storage.data_dvc, source_dir, cfg.data.prepared_dir, cfg.data.kind)
    return provenance.flat_params(flat_values(cfg), data)


def config_yaml(cfg: DictConfig) -> str:
    """The config as the YAML a run logs."""
    return OmegaConf.to_yaml(cfg)
