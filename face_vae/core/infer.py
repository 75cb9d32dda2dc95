"""`infer`: the model file -> its network and prior -> `n` codes of the seed's random stream -> faces written as JPGs
and a grid. What else a run does (a registered or DVC-tracked model file fetched, the precision for this machine,
faces steered along attributes, the run logged to MLflow, a result folder that never loses a file of the user's) the
extras add at the points face_vae/core/hooks.py names."""

import logging
import time
from itertools import chain
from pathlib import Path

from omegaconf import DictConfig
from torch import nn

from face_vae.core import hooks
from face_vae.core.errors import UserError
from face_vae.core.models.model_file import load_model
from face_vae.core.models.priors import GaussianMixture, Prior, StandardNormal
from face_vae.core.models.sampling import decoded_batches, latent_batches
from face_vae.core.pictures import face_pictures, save_pictures

log = logging.getLogger(__name__)
REPLACED = ("face_*.jpg",)  # an earlier run's faces must not linger beside the new ones


def run(cfg: DictConfig) -> None:
    """Write `cfg.n` faces drawn from the model's prior, and a grid of them, to `cfg.result_dir`; the extras' hooks
    run at each step."""
    extras = hooks.inference_hooks(cfg)
    hooks.refuse_problems(extras)
    model_file = next((path for extra in extras if (path := extra.model_file())), None) or Path(cfg.model_file)
    network = load_model(model_file)
    for extra in extras:
        network = extra.place(network)
    start = time.perf_counter()
    latents = latent_batches(sampling_prior(network, cfg.sampler, model_file), cfg.n, cfg.batch_size, cfg.seed)
    batches, pictures = next(
        (steered for extra in extras if (steered := extra.steer(network, model_file, latents))),
        (decoded_batches(network, latents), {}),
    )
    write = next(reversed(hooks.functions("write_pictures")), save_pictures)
    files = write(
        Path(cfg.result_dir), chain(face_pictures(batches), pictures.items()), replaces=REPLACED, total=cfg.n + 1
    )
    seconds = time.perf_counter() - start
    log.info("Wrote %d faces of %dx%d to %s (%.1f faces/s).", cfg.n, network.image_size, network.image_size,
             cfg.result_dir, cfg.n / seconds)  # fmt: skip
    params, metrics = _logged(cfg, extras, seconds)
    for extra in extras:
        extra.after_write(model_file, files, params, metrics)


def _logged(cfg: DictConfig, extras: list[hooks.InferenceHooks], seconds: float) -> tuple[dict, dict]:
    """The run's params and metrics, with every extra's."""
    params, metrics = {"n": cfg.n, "seed": cfg.seed, "sampler": cfg.sampler}, {"faces_per_s": cfg.n / seconds}
    metrics["seconds"] = seconds
    for extra in extras:
        extra_params, extra_metrics = extra.logged()
        params, metrics = params | extra_params, metrics | extra_metrics
    return params, metrics


def sampling_prior(network: nn.Module, sampler: str, model_file: Path) -> Prior:
    """The prior `sampler` names for the model in `model_file`: its own (auto), N(0, I) (normal), or its
    Gaussian mixture (gmm: refused in the user's words when it has none)."""
    if sampler == "normal":
        return StandardNormal(network.latent_dim)
    if sampler == "gmm" and not isinstance(network.prior, GaussianMixture):
        raise UserError(
            f"{model_file} samples from {network.prior.describe()}, not a fitted Gaussian mixture: use sampler=auto "
            "or normal, or train a VAE with its default model.prior."
        )
    return network.prior
