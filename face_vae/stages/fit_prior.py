"""The `fit_prior` command: the prior of a trained VAE fitted again to its training codes, without retraining it
(pythae's samplers fit on any trained model the same way)."""

import logging
from pathlib import Path

from omegaconf import DictConfig

from face_vae import locks
from face_vae.config import build
from face_vae.errors import UserError
from face_vae.models.model_file import save_model, training_data, training_recipe
from face_vae.stages.shared import (
    fit_to_training_codes,
    inference_runtime,
    model_file_path,
    prepared_data,
    pulled_model,
    tracking_uri,
)
from face_vae.tracking import provenance, registry, runs

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> None:
    """Encode the train split with the model's encoder, fit `cfg.model.prior` to the codes, save it into the model
    file."""
    if registry.is_registry_uri(cfg.model_file):
        raise UserError(
            f"fit_prior saves the model file it fits, and {cfg.model_file} is a registered version: "
            "give a local model_file (train logs and registers the model again)."
        )
    uri = tracking_uri(cfg)
    runtime = inference_runtime(cfg)
    model_file = model_file_path(cfg.model_file)
    with locks.holding({"model_file": model_file}):
        network = pulled_model(cfg, model_file)
        trained_on, recipe = training_data(model_file), training_recipe(model_file)
        if trained_on != cfg.data.kind:
            raise UserError(
                f"{model_file} was trained on {trained_on} faces, and its prior would be fitted to "
                f"{cfg.data.kind} ones: use data={trained_on}. Nothing was changed."
            )
        before = network.prior.describe()
        cfg.data.image_size = network.image_size  # the crops the encoder reads, whatever data.image_size says
        prior = build(cfg.model.prior)
        prepared_dir = prepared_data(cfg)
        network.prior = fit_to_training_codes(prior, network, prepared_dir, cfg.data.train_split, runtime, cfg.seed)
        save_model(network, model_file, trained_on=trained_on, data=recipe)
    log.info(
        "Saved %s with %s (it sampled from %s); `dvc add %s` versions it.",
        model_file,
        network.prior.describe(),
        before,
        Path(model_file).parent,
    )
    if uri is not None:
        params = provenance.model_params(cfg.model_file, model_file, cfg.storage.models_dvc)
        prior_params = {f"model.prior.{key}": value for key, value in cfg.model.prior.items() if key != "_target_"}
        runs.log_stage_run(
            uri, cfg.tracking.experiment, params | prior_params | {"prior": network.prior.describe()}, {}
        )
