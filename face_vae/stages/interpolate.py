"""The `interpolate` stage: a straight walk in latent space between two faces, as a strip and a GIF."""

import logging
from pathlib import Path

import torch
from omegaconf import DictConfig

from face_vae.core.errors import UserError
from face_vae.core.infer import sampling_prior
from face_vae.core.models.sampling import decode_all
from face_vae.core.pictures import image_grid
from face_vae.data.photos import load_photos, photo_paths
from face_vae.outputs import write_images
from face_vae.stages.shared import (
    inference_runtime,
    model_path,
    photo_crop,
    pulled_model,
    tracking_uri,
)
from face_vae.tracking import provenance, runs

log = logging.getLogger(__name__)
# The strip wraps into rows of this many faces: one row of 1,000 150 px faces would be wider than a JPEG can be
# (65,535 px), and rows read better than a ribbon.
STRIP_COLUMNS = 16
JPEG_MAX_SIDE = 65_500  # JPEG's limit is 65,535 pixels a side (PIL refuses more)
STRIP_FILE = "interpolation.jpg"
GIF_FILE = "interpolation.gif"


def _check_strip_fits(steps: int, image_size: int) -> None:
    """Refuse, before any face is decoded, a strip taller than a JPEG can be (its rows of STRIP_COLUMNS faces)."""
    height = -(-steps // STRIP_COLUMNS) * (image_size + 2) + 2  # image_grid's rows, 2 px apart
    if height > JPEG_MAX_SIDE:
        most = (JPEG_MAX_SIDE - 2) // (image_size + 2) * STRIP_COLUMNS
        raise UserError(
            f"steps={steps} makes a strip {height:,} px tall, more than a JPEG can hold ({JPEG_MAX_SIDE:,}): "
            f"use at most steps={most} with this {image_size} px model."
        )


def run(cfg: DictConfig) -> None:
    """From `cfg.start` to `cfg.end` (two photos, encoded) or between two sampled faces when both are
    null: `cfg.steps` faces in a strip JPG and an animated GIF (there and back) in `cfg.result_dir`."""
    if cfg.steps < 2:
        raise UserError(f"steps must be at least 2 (the two ends), not {cfg.steps}.")
    if (cfg.start is None) != (cfg.end is None):
        raise UserError("Give both ends as photos (start=a.jpg end=b.jpg), or neither to walk between two samples.")
    uri = tracking_uri(cfg)
    runtime = inference_runtime(cfg)
    model_file = model_path(cfg)
    network = runtime.place(pulled_model(cfg, model_file))
    _check_strip_fits(cfg.steps, network.image_size)
    if cfg.start is None:
        ends = sampling_prior(network, cfg.sampler, model_file).sample(2, cfg.seed)
    else:
        paths = photo_paths(cfg.start, "start") + photo_paths(cfg.end, "end")
        photos, kept = load_photos(paths, photo_crop(cfg, "interpolate", model_file), network.image_size)
        if len(kept) != 2:
            raise UserError(
                f"start and end must be one readable photo each (got {len(paths)} files, {len(kept)} read)."
            )
        ends = network.encode(photos).cpu()
        if torch.equal(ends[0], ends[1]):
            log.warning("start and end are the same face: every step of the walk shows it.")
    weights = torch.linspace(0, 1, cfg.steps)[:, None]
    faces = decode_all(network, (1 - weights) * ends[0] + weights * ends[1], cfg.batch_size)
    frames = list(faces) + list(faces.flip(0))[1:-1]  # there and back: the GIF loops without a jump
    files = write_images(Path(cfg.result_dir), {STRIP_FILE: image_grid(faces, nrow=STRIP_COLUMNS), GIF_FILE: frames})
    log.info("Wrote %s and %s (%d steps) to %s.", STRIP_FILE, GIF_FILE, cfg.steps, cfg.result_dir)
    if uri is not None:
        params = provenance.model_params(cfg.model_file, model_file, cfg.storage.models_dvc)
        params |= {"start": str(cfg.start), "end": str(cfg.end), "steps": cfg.steps, "seed": cfg.seed}
        runs.log_stage_run(uri, cfg.tracking.experiment, params | runtime.params(), {}, files)
