"""The `evaluate` stage: how good are the faces? FID, KID, face-detection rate, reconstruction error."""

import logging
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from face_vae.data.face_crops import FaceCrops, as_floats
from face_vae.errors import UserError
from face_vae.evaluation import metrics
from face_vae.models.sampling import sample_faces
from face_vae.models.vae import VAE
from face_vae.progress import progress
from face_vae.stages.shared import (
    check_image_size,
    inference_runtime,
    model_path,
    prepared_data,
    pulled_model,
    registry_uri,
    sampling_prior,
    tracking_uri,
)
from face_vae.tracking import provenance, registry, runs

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> None:
    """Evaluate `cfg.model_file` against the `cfg.split` images; print a table and log it to MLflow."""
    if cfg.promote and not registry.is_registry_uri(cfg.model_file):
        raise UserError(
            f"promote=true moves the champion alias between registered versions: evaluate model_file=models:/NAME/N "
            f"(a version `train` registered), not {cfg.model_file}."
        )
    uri = tracking_uri(cfg)
    runtime = inference_runtime(cfg)
    model_file = model_path(cfg)
    vae = pulled_model(cfg, model_file)
    prior = sampling_prior(vae, cfg.sampler, model_file)
    check_image_size(vae, cfg.data.image_size)
    vae = runtime.place(vae)
    prepared_dir = prepared_data(cfg, force=cfg.force)
    real = _first_images(FaceCrops(prepared_dir, cfg.split), max(cfg.n, cfg.n_reconstruct))
    fake = sample_faces(vae, prior, cfg.n, cfg.seed, cfg.batch_size)
    # A DCGAN has no encoder: it is scored on its samples only.
    results = reconstruction_scores(vae, real[: cfg.n_reconstruct], cfg.batch_size) if isinstance(vae, VAE) else {}
    device = runtime.machine.device  # Inception and MTCNN run where the model does
    inception = metrics.load_inception(device)
    # Only sizes the model makes: a 64 px model's faces scored at 150 px would be its upsampling, not its faces.
    sizes = [size for size in cfg.fid_sizes if size <= vae.image_size] or [vae.image_size]
    for size in sizes:
        real_features = _cached_features(
            inception, real[: cfg.n], size, prepared_dir / f"inception_{cfg.split}_{size}px_{cfg.n}.npy"
        )
        fake_features = metrics.inception_features(inception, fake, size)
        results[f"fid_{size}"] = metrics.fid(real_features, fake_features)
        results[f"kid_{size}"] = metrics.kid(real_features, fake_features)
    results["face_rate"], results["face_probability"] = metrics.face_detection(fake, device=device)
    results["nyquist_share"] = metrics.nyquist_share(fake)  # stripes: compare with real_nyquist_share
    results["real_nyquist_share"] = metrics.nyquist_share(real[: cfg.n])
    _print_table(results, cfg, min(cfg.n, len(real)), min(cfg.n_reconstruct, len(real)) if isinstance(vae, VAE) else 0)
    if uri is not None:
        params = {"model_file": cfg.model_file, "model_dvc_md5": provenance.dvc_hash(cfg.storage.models_dvc)}
        params |= {"split": cfg.split, "n": cfg.n, "sampler": cfg.sampler, "seed": cfg.seed}
        runs.log_stage_run(uri, cfg.tracking.experiment, params | runtime.params(), results)
    if cfg.promote:  # scores compare only at the same size, split and count
        score_name = f"fid_{sizes[0]}_{cfg.split}_n{cfg.n}"
        registry.promote(cfg.model_file, registry_uri(cfg), score_name, results[f"fid_{sizes[0]}"])


def reconstruction_scores(vae: VAE, images: torch.Tensor, batch_size: int) -> dict[str, float]:
    """Mean and median over images of the per-image errors of mean-code reconstructions."""
    errors: dict[str, list[np.ndarray]] = {}
    starts = range(0, len(images), batch_size)
    for start in progress(starts, len(starts), "reconstruct"):
        batch = images[start : start + batch_size]
        reconstructions = vae.decode(vae.encode(batch)).cpu()  # the model may sit on a GPU; the images do not
        for name, values in metrics.reconstruction_errors(batch, reconstructions).items():
            errors.setdefault(name, []).append(values)
    scores = {}
    for name, chunks in errors.items():
        values = np.concatenate(chunks)
        scores[f"{name}_mean"], scores[f"{name}_median"] = float(values.mean()), float(np.median(values))
    return scores


def _first_images(crops: FaceCrops, count: int) -> torch.Tensor:
    return as_floats(crops.first(count))


def _cached_features(inception, images: torch.Tensor, size: int, cache: Path) -> np.ndarray:
    """Real images' Inception features, computed once per split, size and count."""
    if cache.is_file():
        return np.load(cache)
    features = metrics.inception_features(inception, images, size)
    np.save(cache, features)
    return features


def _print_table(results: dict[str, float], cfg: DictConfig, compared: int, reconstructed: int) -> None:
    """The results as a Markdown table, under a header that says what was compared with what."""
    header = f"\n{cfg.model_file}: {cfg.n} generated ({cfg.sampler}) vs {compared} {cfg.split} images (FID, KID)"
    print(header + (f"; {reconstructed} {cfg.split} images reconstructed" if reconstructed else ""))
    print("| metric | value |")
    print("| --- | ---: |")
    for name, value in results.items():
        print(f"| {name} | {value:.4g} |")
