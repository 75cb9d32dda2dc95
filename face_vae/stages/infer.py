"""The `infer` stage: sample faces from the trained model, optionally steered along attributes, as JPGs."""

import logging
import time
from collections.abc import Mapping
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from torchvision.utils import make_grid

from face_vae import storage
from face_vae.tracking import mlflow_tracking as tracking
from face_vae.models.classifier import AttributeClassifier, load_classifier
from face_vae.models.dcgan import DCGAN
from face_vae.errors import UserError
from face_vae.models.vae import VAE
from face_vae.models.model_file import file_md5, load_model, require_encoder
from face_vae.outputs import write_images

log = logging.getLogger(__name__)
GRID_FILE = "grid.jpg"
ATTRIBUTE_GRID_FILE = "attribute_grid.jpg"
REPLACED = ("face_*.jpg", ATTRIBUTE_GRID_FILE)  # an earlier run's files that must not linger beside the new


def run(cfg: DictConfig) -> None:
    """Load the model (pulling models.dvc when it is missing), write `n` faces and a grid, log to MLflow."""
    if cfg.n <= 0 or cfg.batch_size <= 0:
        raise UserError(f"n and batch_size must be positive numbers (got n={cfg.n}, batch_size={cfg.batch_size}).")
    strengths = attribute_strengths(cfg.attributes)
    uri = tracking.tracking_uri(cfg.tracking) if cfg.tracking.enabled else None
    model_file = Path(cfg.model_file)
    network = pulled_model(cfg.storage, model_file)
    start = time.perf_counter()
    latents = network.sample_latents(cfg.n, torch.Generator().manual_seed(cfg.seed), cfg.sampler)
    if strengths:
        faces, pictures, metrics = steered_faces(cfg, network, model_file, latents, strengths)
    else:
        faces, pictures, metrics = decode_all(network, latents, cfg.batch_size), {}, {}
    files = write_images(Path(cfg.result_dir), face_pictures(faces) | pictures, replaces=REPLACED)
    seconds = time.perf_counter() - start
    log.info("Wrote %d faces of %dx%d to %s (%.1f faces/s).", cfg.n, faces.shape[-1], faces.shape[-2], cfg.result_dir,
             cfg.n / seconds)  # fmt: skip
    if pictures:
        log.info("%s: one row per face and attribute (%s), strengths %s from left to right.",
                 ATTRIBUTE_GRID_FILE, ", ".join(strengths), list(cfg.attribute_sweep))  # fmt: skip
    if uri is not None:
        params = {"model_file": str(model_file), "model_dvc_md5": tracking.dvc_hash(cfg.storage.models_dvc)}
        params |= {"n": cfg.n, "seed": cfg.seed, "sampler": cfg.sampler, "attributes": str(strengths or "none")}
        # Every face while they are few; past that, the grids show them without thousands of files.
        shown = files if cfg.n <= 64 else files[cfg.n :]
        metrics |= {"faces_per_s": cfg.n / seconds, "seconds": seconds}
        tracking.log_stage_run(uri, cfg.tracking.experiment, params, metrics, shown)


def steered_faces(
    cfg: DictConfig, network: VAE | DCGAN, model_file: Path, latents: torch.Tensor, strengths: dict[str, float]
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


def pulled_model(storage_cfg: DictConfig, model_file: Path) -> VAE | DCGAN:
    """The model in `model_file`, pulled through models.dvc first when the file is missing."""
    if not model_file.is_file():
        storage.pull_model(storage_cfg, model_file)
    return load_model(model_file)


def decode_all(network: VAE | DCGAN, latents: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Images (N, 3, H, W) in [0, 1] of all `latents`, decoded `batch_size` at a time, on the CPU."""
    network.eval()
    return torch.cat([network.decode(latents[i : i + batch_size]).cpu() for i in range(0, len(latents), batch_size)])


def sample_faces(network: VAE | DCGAN, count: int, seed: int, batch_size: int, sampler: str = "auto") -> torch.Tensor:
    """`count` faces (N, 3, H, W) in [0, 1] from `sampler`'s latents; the same seed, the same faces."""
    return decode_all(network, network.sample_latents(count, torch.Generator().manual_seed(seed), sampler), batch_size)


def face_pictures(faces: torch.Tensor) -> dict[str, torch.Tensor]:
    """face_0001.jpg ... for each face, then grid.jpg of them all."""
    pictures = {f"face_{index:04d}.jpg": face for index, face in enumerate(faces, start=1)}
    return pictures | {GRID_FILE: make_grid(faces, nrow=max(1, round(len(faces) ** 0.5)))}


def attribute_grid(
    vae: VAE, classifier: AttributeClassifier, latents: torch.Tensor, names: list[str], sweep: list[float]
) -> torch.Tensor:
    """One row per attribute and face: the face moved along the attribute's direction by each strength
    of `sweep` (e.g. -2 .. 2: from clearly without it to clearly with it)."""
    directions = [classifier.shift({name: 1.0}) for name in names]
    rows = [latent + strength * direction for direction in directions for latent in latents for strength in sweep]
    return make_grid(decode_all(vae, torch.stack(rows), batch_size=64), nrow=len(sweep))


def attribute_shares(
    vae: VAE, classifier: AttributeClassifier, faces: torch.Tensor, names: Mapping[str, float], batch_size: int
) -> dict[str, float]:
    """The share of `faces` in which the classifier, reading them back through the encoder, finds each
    attribute: a check that moving the codes changed the pictures."""
    codes = torch.cat([vae.encode(faces[i : i + batch_size]).cpu() for i in range(0, len(faces), batch_size)])
    present = classifier.predict(codes)
    return {name: float(present[:, classifier.attributes.index(name)].float().mean()) for name in names}
