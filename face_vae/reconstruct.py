"""The `reconstruct` stage: real photos through the VAE, written side by side with what comes back."""

import logging
from pathlib import Path

import torch
from omegaconf import DictConfig
from torchvision.utils import make_grid

from face_vae import tracking
from face_vae.infer import decode_all, pulled_model
from face_vae.model_file import require_encoder
from face_vae.outputs import write_images
from face_vae.photos import load_photos, photo_paths

log = logging.getLogger(__name__)
GRID_FILE = "reconstructions.jpg"


def run(cfg: DictConfig) -> None:
    """Encode each photo of `cfg.input` to its mean code, decode it, write `<name>_reconstruction.jpg`
    (original | reconstruction) and a grid of them all into `cfg.result_dir`; log to MLflow."""
    paths = photo_paths(cfg.input)
    uri = tracking.tracking_uri(cfg.tracking) if cfg.tracking.enabled else None
    model_file = Path(cfg.model_file)
    vae = require_encoder(pulled_model(cfg.storage, model_file), model_file, "reconstruct photos")
    photos, paths = load_photos(paths, cfg.data.crop, vae.image_size)
    codes = torch.cat([vae.encode(photos[i : i + cfg.batch_size]).cpu() for i in range(0, len(photos), cfg.batch_size)])
    reconstructions = decode_all(vae, codes, cfg.batch_size)
    pairs = torch.cat([photos, reconstructions], dim=3)  # side by side: width doubles
    names = _unique_names(paths)
    pictures = dict(zip(names, pairs)) | {GRID_FILE: make_grid(pairs, nrow=max(1, round((len(pairs) / 2) ** 0.5)))}
    files = write_images(Path(cfg.result_dir), pictures, replaces=("*_reconstruction.jpg", GRID_FILE))
    squared_error = (photos - reconstructions).square().flatten(1).sum(1)
    log.info("Wrote %d reconstructions to %s (squared error per photo: mean %.1f).", len(photos), cfg.result_dir,
             float(squared_error.mean()))  # fmt: skip
    if uri is not None:
        params = {"model_file": str(model_file), "model_dvc_md5": tracking.dvc_hash(cfg.storage.models_dvc)}
        params |= {"input": str(cfg.input), "photos": len(photos)}
        metrics = {"squared_error_mean": float(squared_error.mean())}
        tracking.log_stage_run(uri, cfg.tracking.experiment, params, metrics, files if len(files) <= 65 else files[-1:])


def _unique_names(paths: list[Path]) -> list[str]:
    """`<stem>_reconstruction.jpg` per photo; photos of the same name in two folders get a number."""
    names, seen = [], set()
    for path in paths:
        name, number = f"{path.stem}_reconstruction.jpg", 2
        while name in seen:
            name, number = f"{path.stem}_{number}_reconstruction.jpg", number + 1
        seen.add(name)
        names.append(name)
    return names
