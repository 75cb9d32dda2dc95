"""The `pull` command: `dvc pull` of data.dvc and models.dvc through DVC's Python API, failing fast."""

import logging

from omegaconf import DictConfig

from face_vae import storage
from face_vae.stages.shared import storage_settings

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> None:
    """Pull each of `cfg.targets` from `storage.remote` (the default remote when null)."""
    settings = storage_settings(cfg)
    settings.pull = True  # pulling is what this command is asked to do
    for dvc_file in cfg.targets:
        log.info("Pulled %s: %s is in place.", dvc_file, storage.pull_tracked(settings, dvc_file, cfg.force))
