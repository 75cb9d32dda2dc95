"""The `download` stage: CelebA's official files into data.source_dir, resumable, each checked by its MD5."""

import logging
from pathlib import Path

from omegaconf import DictConfig

from face_vae.data.download import FileSource, fetch

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> None:
    """Fetch every file of `cfg.download.files` that is not already in `cfg.data.source_dir` with its MD5."""
    target_dir = Path(cfg.data.source_dir)
    for source in cfg.download.files.values():
        mirror = cfg.download.mirror
        url = f"{mirror.rstrip('/')}/{source.name}" if mirror else f"{cfg.download.drive_url}{source.id}"
        fetch(
            FileSource(name=source.name, url=url, md5=source.md5),
            target_dir,
            timeout_s=cfg.download.timeout_s,
            retries=cfg.download.retries,
            manual_page=cfg.download.manual_page,
            every_file=[file.name for file in cfg.download.files.values()],
        )
    log.info("CelebA is in %s: `python commands.py prepare` (or `train`) reads it from there.", target_dir)
