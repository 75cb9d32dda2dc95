"""The `infer` stage: sample faces from the trained model, optionally steered along attributes, as JPGs."""

import logging
import time
from collections.abc import Iterator, Mapping
from itertools import chain
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from face_vae.errors import UserError
from face_vae.models.classifier import AttributeClassifier, load_classifier
from face_vae.models.model_file import file_md5, require_encoder
from face_vae.models.sampling import decode_all, decoded_batches, latent_batches
from face_vae.models.vae import VAE, LatentImageModel
from face_vae.outputs import face_pictures, image_grid, write_images
from face_vae.stages.shared import inference_runtime, model_path, pulled_model, sampling_prior, tracking_uri
from face_vae.tracking import provenance, runs

log = logging.getLogger(__name__)
ATTRIBUTE_GRID_FILE = "attribute_grid.jpg"
REPLACED = ("face_*.jpg", ATTRIBUTE_GRID_FILE)  # an earlier run's files that must not linger beside the new


def run(cfg: DictConfig) -> None:
    """Load the model (pulling models.dvc when it is missing), write `n` faces and a grid, log to MLflow."""
    strengths = attribute_strengths(cfg.attributes)
    uri = tracking_uri(cfg)
    runtime = inference_runtime(cfg)
    model_file = model_path(cfg)
    network = runtime.place(pulled_model(cfg, model_file))
    prior = sampling_prior(network, cfg.sampler, model_file)
    start = time.perf_counter()
    latents = latent_batches(prior, cfg.n, cfg.batch_size, cfg.seed)
    if strengths:
        faces, pictures, metrics = steered_faces(cfg, network, model_file, torch.cat(list(latents)), strengths)
        batches: Iterator[torch.Tensor] = iter([faces])
    else:
        batches, pictures, metrics = decoded_batches(network, latents), {}, {}
    files = write_images(
        Path(cfg.result_dir), chain(face_pictures(batches), pictures.items()), replaces=REPLACED, total=cfg.n + 1
    )
    seconds = time.perf_counter() - start
    log.info("Wrote %d faces of %dx%d to %s (%.1f faces/s).", cfg.n, network.image_size, network.image_size,
             cfg.result_dir, cfg.n / seconds)  # fmt: skip
    if pictures:
        log.info("%s: one row per face and attribute (%s), strengths %s from left to right.",
                 ATTRIBUTE_GRID_FILE, ", ".join(strengths), list(cfg.attribute_sweep))  # fmt: skip
    if uri is not None:
        params = {"model_file": cfg.model_file, "model_dvc_md5": provenance.dvc_hash(cfg.storage.models_dvc)}
        params |= {"n": cfg.n, "seed": cfg.seed, "sampler": cfg.sampler, "attributes": str(strengths or "none")}
        # Every face while they are few; past that, the grids show them without thousands of files.
        shown = files if cfg.n <= 64 else files[cfg.n :]
        metrics |= {"faces_per_s": cfg.n / seconds, "seconds": seconds}
        runs.log_stage_run(uri, cfg.tracking.experiment, params | runtime.params(), metrics, shown)


def steered_faces(
    cfg: DictConfig, network: LatentImageModel, model_file: Path, latents: torch.Tensor, strengths: dict[str, float]
) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, float]]:
    """The faces of `latents` moved along the attributes' directions, the attribute grid, and the share
    of faces in which the classifier finds each attribute before and after the move."""
    vae = require_encoder(network, model_file, "move faces along attributes")
    classifier = load_classifier(Path(cfg.classifier_file), file_md5(model_file))
    shift = classifier.shift(strengths)  # checks the names before any work
    grid = attribute_grid(vae, classifier, latents[: cfg.grid_faces], list(strengths), cfg.attribute_sweep)
    before = attribute_shares(vae, classifier, decode_all(vae, latents, cfg.batch_size), strengths, cfg.batch_size)
    faces = decode_all(vae, latents + shift, cfg.batch_size)
    after = attribute_shares(vae, classifier, faces, strengths, cfg.batch_size)
    metrics = {}
    for name in strengths:
        log.info("%s: the classifier finds it in %.0f%% of the faces before the move, %.0f%% after.",
                 name, 100 * before[name], 100 * after[name])  # fmt: skip
        metrics |= {f"share_{name}_before": before[name], f"share_{name}_after": after[name]}
    return faces, {ATTRIBUTE_GRID_FILE: grid}, metrics


def attribute_strengths(attributes: object) -> dict[str, float]:
    """The `attributes` override as {name: strength}; a UserError shows the syntax when it is not that."""
    if attributes is None:
        return {}
    values = OmegaConf.to_container(attributes) if OmegaConf.is_config(attributes) else attributes
    if not isinstance(values, Mapping) or not all(
        isinstance(value, (int, float)) and not isinstance(value, bool) for value in values.values()
    ):
        raise UserError(
            f'attributes must map attribute names to numbers, e.g. attributes="{{Smiling: 1.5, Eyeglasses: 1}}", '
            f"not {attributes!r}."
        )
    return {str(name): float(value) for name, value in values.items()}


def attribute_grid(
    vae: VAE, classifier: AttributeClassifier, latents: torch.Tensor, names: list[str], sweep: list[float]
) -> torch.Tensor:
    """One row per attribute and face: the face moved along the attribute's direction by each strength
    of `sweep` (e.g. -2 .. 2: from clearly without it to clearly with it)."""
    directions = [classifier.shift({name: 1.0}) for name in names]
    rows = [latent + strength * direction for direction in directions for latent in latents for strength in sweep]
    return image_grid(decode_all(vae, torch.stack(rows), batch_size=64), nrow=len(sweep))


def attribute_shares(
    vae: VAE, classifier: AttributeClassifier, faces: torch.Tensor, names: Mapping[str, float], batch_size: int
) -> dict[str, float]:
    """The share of `faces` in which the classifier, reading them back through the encoder, finds each
    attribute: a check that moving the codes changed the pictures."""
    codes = torch.cat([vae.encode(faces[i : i + batch_size]).cpu() for i in range(0, len(faces), batch_size)])
    present = classifier.predict(codes)
    return {name: float(present[:, classifier.attributes.index(name)].float().mean()) for name in names}
