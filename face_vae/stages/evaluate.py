"""The `evaluate` stage: how good are the faces? FID, KID, face-detection rate, reconstruction error."""

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from face_vae import file_guards
from face_vae.core import atomic
from face_vae.core.data.face_crops import FaceCrops, as_floats, read_meta
from face_vae.core.errors import UserError
from face_vae.core.infer import sampling_prior
from face_vae.core.models.sampling import decoded_batches, latent_batches
from face_vae.core.prepare import prepared_data
from face_vae.core.progress import progress
from face_vae.evaluation import metrics
from face_vae.model_records import training_data, training_run
from face_vae.stages.shared import (
    check_model_data,
    data_from_model,
    inference_runtime,
    model_path,
    pulled_model,
    registry_uri,
    tracking_uri,
)
from face_vae.tracking import provenance, registry, runs

log = logging.getLogger(__name__)


def _is_metrics(path: Path) -> bool:
    """Whether `path` holds scores evaluate wrote (a JSON object of numbers with a FID among them)."""
    scores = file_guards.json_file(path)
    return (
        isinstance(scores, dict)
        and any(key.startswith("fid_") for key in scores)
        and all(isinstance(value, (int, float)) for value in scores.values())
    )


def run(cfg: DictConfig) -> None:
    """Evaluate `cfg.model_file` against the `cfg.split` images; print a table and log it to MLflow."""
    if cfg.promote and (not registry.is_registry_uri(cfg.model_file) or registry.is_logged_model(cfg.model_file)):
        raise UserError(
            f"promote=true moves the champion alias between registered versions: evaluate model_file=models:/NAME/N "
            f"(a version `train` registered), not {cfg.model_file}."
        )
    if cfg.metrics_file:
        file_guards.refuse_foreign_file(cfg.metrics_file, "metrics_file", "scores", _is_metrics)
    metrics.require_extras()
    uri = tracking_uri(cfg)
    runtime = inference_runtime(cfg)
    model_file = model_path(cfg)
    if cfg.promote and training_data(model_file) == "synthetic":
        raise UserError(
            f"{cfg.model_file} was trained on drawn faces (data=synthetic): a smoke model is never made the champion; "
            "evaluate a version trained on real faces with promote=true."
        )
    vae = pulled_model(cfg, model_file)
    prior = sampling_prior(vae, cfg.sampler, model_file)
    cfg = data_from_model(cfg, "evaluate", vae, model_file)
    check_model_data(cfg, vae, model_file)
    vae = runtime.place(vae)
    prepared_dir = prepared_data(cfg, force=cfg.force)
    crops = FaceCrops(prepared_dir, cfg.split)
    compared = min(cfg.n, len(crops))
    reconstructed = min(cfg.n_reconstruct, len(crops))
    # Only sizes the model makes: a 64 px model's faces scored at 150 px would be its upsampling, not its faces.
    sizes = [size for size in cfg.fid_sizes if size <= vae.image_size] or [vae.image_size]
    # Every pass goes a batch at a time: memory stays flat however large n (FID-50k included).
    batches = _real_batches(crops, reconstructed, cfg.batch_size, "reconstruct")
    results = reconstruction_scores(vae, batches) if reconstructed else {}
    fingerprint = read_meta(prepared_dir)["files"][cfg.split]["md5"][:8]  # new bytes, new cache
    cache = Path(cfg.stats_dir or prepared_dir) / f"inception_{cfg.split}_{{size}}px_{compared}_{fingerprint}.npz"
    results |= sample_scores(cfg, vae, prior, crops, sizes, runtime.machine.device, str(cache))
    _print_table(results, cfg, compared, reconstructed)
    if cfg.metrics_file:
        atomic.write_text(
            Path(cfg.metrics_file), json.dumps({key: float(value) for key, value in results.items()}, indent=1)
        )
    if uri is not None:
        _log_run(cfg, uri, model_file, runtime.params(), results)
    if cfg.promote:  # scores compare only at the same size, split and count
        score_name = f"fid_{sizes[0]}_{cfg.split}_n{cfg.n}"
        registry.promote(cfg.model_file, registry_uri(cfg), score_name, results[f"fid_{sizes[0]}"])


def _log_run(cfg: DictConfig, uri: str, model_file: Path, runtime_params: dict, results: dict[str, float]) -> None:
    """The evaluation's MLflow run; its scores shown on the registered model and on the model's training run too."""
    params = provenance.model_params(cfg.model_file, model_file, cfg.storage.models_dvc)
    params |= {"split": cfg.split, "n": cfg.n, "sampler": cfg.sampler, "seed": cfg.seed} | runtime_params
    model_id = registry.fetched_from(model_file).get("model_id", "")
    trained_by = (training_run(model_file), f"eval_{cfg.split}_")
    runs.log_stage_run(uri, cfg.tracking.experiment, params, results, model_id=model_id, training_run=trained_by)


def sample_scores(  # pylint: disable=too-many-arguments  # the run's settings, then what it compares
    cfg: DictConfig, vae, prior, crops: FaceCrops, sizes: list[int], device: str, cache: str
) -> dict[str, float]:
    """FID and KID per size, face-detection rate and the Nyquist shares of `cfg.n` samples against the first
    `cfg.n` images of `crops` (their Inception statistics cached in `cache`, formatted with the size)."""
    compared = min(cfg.n, len(crops))
    inception = metrics.load_inception(device)  # Inception and MTCNN run where the model does
    real = {size: _real_stats(inception, crops, compared, size, Path(cache.format(size=size))) for size in sizes}
    fake, face_rate, face_probability, fake_nyquist = _generated_scores(vae, prior, inception, sizes, cfg, device)
    results = {}
    for size in sizes:
        results[f"fid_{size}"] = metrics.fid(real[size], fake[size])
        results[f"kid_{size}"] = metrics.kid(real[size], fake[size])
    results["face_rate"], results["face_probability"] = face_rate, face_probability
    results["nyquist_share"] = fake_nyquist  # stripes: compare with real_nyquist_share
    real_energy = [metrics.nyquist_energy(batch) for batch in _real_batches(crops, compared, cfg.batch_size)]
    results["real_nyquist_share"] = sum(part for part, _ in real_energy) / sum(total for _, total in real_energy)
    return results


def _generated_scores(vae, prior, inception, sizes: list[int], cfg: DictConfig, device: str):
    """Inception statistics per size, face-detection rate and mean probability, and the Nyquist share of `cfg.n`
    generated faces, decoded and scored a batch at a time."""
    stats = {size: metrics.FeatureStats() for size in sizes}
    detect = metrics.face_detector(device=device)
    probabilities, nyquist, energy = [], 0.0, 0.0
    batches = decoded_batches(vae, latent_batches(prior, cfg.n, cfg.batch_size, cfg.seed))
    for faces in progress(batches, -(-cfg.n // cfg.batch_size), "generated faces: Inception, face detection"):
        for size in sizes:
            stats[size].add(metrics.inception_features(inception, faces, size, show=False))
        probabilities.append(detect(faces))
        part, total = metrics.nyquist_energy(faces)
        nyquist, energy = nyquist + part, energy + total
    found = np.concatenate(probabilities)
    return stats, float((found > 0).mean()), float(found.mean()), nyquist / energy


def reconstruction_scores(vae: torch.nn.Module, batches: Iterator[torch.Tensor]) -> dict[str, float]:
    """Mean and median over images of the per-image errors of mean-code reconstructions."""
    errors: dict[str, list[np.ndarray]] = {}
    for batch in batches:
        reconstructions = vae.decode(vae.encode(batch)).cpu()  # the model may sit on a GPU; the images do not
        for name, values in metrics.reconstruction_errors(batch, reconstructions).items():
            errors.setdefault(name, []).append(values)
    scores = {}
    for name, chunks in errors.items():
        values = np.concatenate(chunks)
        scores[f"{name}_mean"], scores[f"{name}_median"] = float(values.mean()), float(np.median(values))
    return scores


def _real_batches(crops: FaceCrops, count: int, batch_size: int, desc: str = "") -> Iterator[torch.Tensor]:
    """The first `count` images of `crops` as float batches (a progress line each tenth when `desc`)."""
    starts = range(0, count, batch_size)
    shown = progress(starts, len(starts), desc) if desc else starts
    for start in shown:
        yield as_floats(crops.__getitems__(list(range(start, min(start + batch_size, count)))))


def _real_stats(inception, crops: FaceCrops, count: int, size: int, cache: Path) -> metrics.FeatureStats:
    """The Inception statistics of the first `count` real images at `size`, computed once per split, size, count
    and prepared bytes (`cache`, written atomically; an unreadable one is computed again)."""
    if cache.is_file():
        try:
            return metrics.FeatureStats.load(cache)
        except (OSError, ValueError, KeyError) as error:
            log.warning("%s is unreadable (%s): computing it again.", cache, error)
    stats = metrics.FeatureStats()
    for batch in _real_batches(crops, count, 50, f"Inception features of {count} real images at {size} px"):
        stats.add(metrics.inception_features(inception, batch, size, show=False))
    with atomic.atomic_path(cache) as tmp_path, open(tmp_path, "wb") as file:
        stats.save(file)
    return stats


def _print_table(results: dict[str, float], cfg: DictConfig, compared: int, reconstructed: int) -> None:
    """The results as a Markdown table, under a header that says what was compared with what."""
    header = f"\n{cfg.model_file}: {cfg.n} generated ({cfg.sampler}) vs {compared} {cfg.split} images (FID, KID)"
    print(header + (f"; {reconstructed} {cfg.split} images reconstructed" if reconstructed else ""))
    print("| metric | value |")
    print("| --- | ---: |")
    for name, value in results.items():
        print(f"| {name} | {value:.4g} |")
