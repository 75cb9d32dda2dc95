"""The `fit_prior` command: the prior of a trained VAE fitted again to its training codes, without retraining it
(pythae's samplers fit on any trained model the same way). The result is a new model file (the weights unchanged,
so an attribute classifier of the old one still reads its codes) and, with tracking on, a new registered version."""

import logging
from pathlib import Path

from omegaconf import DictConfig

from face_vae import locks
from face_vae.core.config import build
from face_vae.core.errors import UserError
from face_vae.core.models.model_file import save_model
from face_vae.core.prepare import prepared_data
from face_vae.core.train import fit_to_training_codes
from face_vae.file_guards import refuse_foreign_file
from face_vae.model_records import is_model_file, training_data, training_recipe
from face_vae.stages.shared import (
    config_yaml,
    data_from_model,
    inference_runtime,
    model_path,
    pulled_model,
    run_params,
    tracking_uri,
)
from face_vae.tracking import provenance, registry

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> None:
    """Encode the train split with the model's encoder, fit `cfg.model.prior` to the codes, save the model with it
    in `output_file` (a new file unless `replace=true`), log and register it."""
    output = output_file(cfg)
    refuse_foreign_file(output, "output_file", "a face_vae model", is_model_file)
    uri = tracking_uri(cfg)
    runtime = inference_runtime(cfg)
    model_file = model_path(cfg)
    with locks.holding({"model_file": model_file, "output_file": output}):
        network = pulled_model(cfg, model_file)
        cfg = data_from_model(cfg, "fit_prior", network, model_file)
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
        network.prior = fit_to_training_codes(
            prior, network, prepared_dir, cfg.data.train_split, cfg.seed, runtime.machine.device, runtime.autocast()
        )
        save_model(network, output, trained_on=trained_on, data=recipe)
    log.info(
        "Saved %s with %s (%s sampled from %s); `dvc add %s` versions it.",
        output,
        network.prior.describe(),
        cfg.model_file,
        before,
        output.parent,
    )
    if uri is not None:
        _log_and_register(cfg, uri, model_file, output)


def output_file(cfg: DictConfig) -> Path:
    """Where the refitted model goes: `output_file`, `model_file` itself with `replace=true`, else a new file beside
    it named after the prior (models/vae.pt -> models/vae_gaussian_mixture.pt)."""
    if cfg.replace and cfg.output_file is not None:
        raise UserError("replace=true saves over model_file, and output_file names another file: give one of them.")
    if cfg.replace and registry.is_registry_uri(cfg.model_file):
        raise UserError(
            f"replace=true saves over model_file, and {cfg.model_file} is a registered version: leave replace=false "
            "(a new file and a new version are written)."
        )
    if cfg.replace:
        return Path(cfg.model_file)
    if cfg.output_file is not None:
        return Path(cfg.output_file)
    prior_name = cfg.model.prior["_target_"].rsplit(".", 1)[-1]
    stem = "model" if registry.is_registry_uri(cfg.model_file) else Path(cfg.model_file).stem
    folder = Path("models") if registry.is_registry_uri(cfg.model_file) else Path(cfg.model_file).parent
    return folder / f"{stem}_{_snake(prior_name)}.pt"


def _snake(name: str) -> str:
    return "".join(f"_{letter.lower()}" if letter.isupper() else letter for letter in name).lstrip("_")


def _log_and_register(cfg: DictConfig, uri: str, model_file: Path, output: Path) -> None:
    """A run of the fit (what was read, the prior's settings) holding the new model, registered as a new version."""
    from face_vae.tracking import training  # pylint: disable=import-outside-toplevel  # MLflow loads only here

    params = run_params(cfg) | provenance.model_params(cfg.model_file, model_file, cfg.storage.models_dvc)
    logger = training.training_logger(
        cfg.tracking.experiment, uri, params, config_yaml(cfg), Path("unsent_fit_prior_metrics.jsonl")
    )

    def log_and_register() -> None:
        model_uri = training.log_trained_model(logger, output, [])
        if cfg.tracking.registered_model:
            training.register_trained_model(logger, model_uri, uri, cfg.tracking.registered_model)

    if not logger.guarded(log_and_register, "the refitted model"):
        log.warning(
            "The run at %s lacks the refitted model (the server did not answer); it is saved in %s.", uri, output
        )
    logger.end("success")
