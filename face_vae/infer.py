"""The `infer` stage: sample faces from the trained VAE and write them as JPGs."""

import logging
import shutil
import tempfile
import time
from pathlib import Path

import torch
from omegaconf import DictConfig
from torchvision.transforms.functional import to_pil_image
from torchvision.utils import make_grid

from face_vae import storage, tracking
from face_vae.errors import UserError
from face_vae.model import VAE, load_model

log = logging.getLogger(__name__)
GRID_FILE = "grid.jpg"
JPEG_QUALITY = 95  # PIL's default of 75 leaves visible blocks on smooth skin


def run(cfg: DictConfig) -> None:
    """Load the model (pulling models.dvc when it is missing), write `n` faces and a grid, log to MLflow."""
    if cfg.n <= 0 or cfg.batch_size <= 0:
        raise UserError(f"n and batch_size must be positive numbers (got n={cfg.n}, batch_size={cfg.batch_size}).")
    uri = tracking.tracking_uri(cfg.tracking) if cfg.tracking.enabled else None
    model_file = Path(cfg.model_file)
    vae = pulled_model(cfg.storage, model_file)
    start = time.perf_counter()
    faces = sample_faces(vae, cfg.n, cfg.seed, cfg.batch_size, cfg.sampler)
    files = write_faces(faces, Path(cfg.result_dir))
    seconds = time.perf_counter() - start
    log.info(
        "Wrote %d faces of %dx%d to %s (%.1f faces/s).",
        cfg.n,
        faces.shape[-1],
        faces.shape[-2],
        cfg.result_dir,
        cfg.n / seconds,
    )
    if uri is not None:
        params = {"model_file": str(model_file), "model_dvc_md5": tracking.dvc_hash(cfg.storage.models_dvc)}
        params |= {"n": cfg.n, "seed": cfg.seed, "sampler": cfg.sampler}
        # Every face while they are few; past that, the grid shows them without thousands of files.
        shown = files if cfg.n <= 64 else files[-1:]
        tracking.log_stage_run(
            uri, cfg.tracking.experiment, params, {"faces_per_s": cfg.n / seconds, "seconds": seconds}, shown
        )


def pulled_model(storage_cfg: DictConfig, model_file: Path) -> VAE:
    """The model in `model_file`, pulled through models.dvc first when the file is missing."""
    if not model_file.is_file():
        storage.pull_model(storage_cfg, model_file)
    return load_model(model_file)


def sample_faces(vae: VAE, count: int, seed: int, batch_size: int, sampler: str = "normal") -> torch.Tensor:
    """`count` faces (N, 3, H, W) in [0, 1] from `sampler`'s latents; the same seed, the same faces."""
    generator = torch.Generator().manual_seed(seed)
    vae.eval()
    batches = [vae.sample(min(batch_size, count - start), generator, sampler) for start in range(0, count, batch_size)]
    return torch.cat(batches)


def write_faces(faces: torch.Tensor, result_dir: Path) -> list[Path]:
    """Write face_0001.jpg ... and grid.jpg into `result_dir`, all or nothing.

    The files are written in a temporary folder first; earlier faces in `result_dir` are replaced
    only once every new file is complete.
    """
    try:
        result_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=result_dir.parent, prefix=f".{result_dir.name}-") as tmp:
            names = [f"face_{index:04d}.jpg" for index in range(1, len(faces) + 1)]
            for name, face in zip(names, faces):
                to_pil_image(face).save(Path(tmp) / name, quality=JPEG_QUALITY)
            grid = make_grid(faces, nrow=max(1, round(len(faces) ** 0.5)))
            to_pil_image(grid).save(Path(tmp) / GRID_FILE, quality=JPEG_QUALITY)
            for old in result_dir.glob("face_*.jpg"):
                old.unlink()
            for name in [*names, GRID_FILE]:
                shutil.move(Path(tmp) / name, result_dir / name)
    except OSError as error:
        raise UserError(
            f"Cannot write the faces to {result_dir} ({error.strerror or error}): free some disk space or "
            "set result_dir to a writable folder."
        ) from error
    return [result_dir / name for name in names] + [result_dir / GRID_FILE]
