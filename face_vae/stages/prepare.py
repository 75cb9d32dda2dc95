"""The `prepare` stage: the dataset decoded and cropped once into its training-ready form."""

from omegaconf import DictConfig

from face_vae.stages.shared import prepared_data


def run(cfg: DictConfig) -> None:
    """Build the prepared form of `cfg.data` (again when `force=true`)."""
    prepared_data(cfg, force=cfg.force)
