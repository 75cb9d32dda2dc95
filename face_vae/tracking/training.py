"""MLflow in a Lightning training run: the logger with every param, and the trained model at the end."""

import logging
from importlib.metadata import version
from pathlib import Path

import mlflow
import torch
from lightning.pytorch.loggers import MLFlowLogger
from mlflow.models import infer_signature

from face_vae.tracking.provenance import git_state

log = logging.getLogger(__name__)


def training_logger(  # pylint: disable=too-many-arguments  # the run's identity, then what it logs first
    experiment: str,
    uri: str,
    params: dict[str, str],
    config_yaml: str,
    run_id: str | None = None,
    asynchronous: bool = False,
) -> MLFlowLogger:
    """A Lightning MLFlowLogger at `uri` for `experiment`, with `params` and the config (`config_yaml`)
    logged; `run_id` continues an earlier run (resume), which keeps its first params. `asynchronous`:
    metric calls return at once (MLflow's own background logging), so a fast GPU step never waits on them."""
    mlflow.set_tracking_uri(uri)
    logger = MLFlowLogger(experiment_name=experiment, tracking_uri=uri, run_id=run_id, synchronous=not asynchronous)
    if run_id is None:
        logger.log_hyperparams(params)
        commit, _ = git_state()
        logger.experiment.set_tag(logger.run_id, "mlflow.source.git.commit", commit)
        logger.experiment.log_text(logger.run_id, config_yaml, "config.yaml")
    log.info("MLflow: experiment %s, run %s at %s.", experiment, logger.run_id, uri)
    return logger


def log_trained_model(logger: MLFlowLogger, vae: torch.nn.Module, files: list[Path]) -> None:
    """Log the generator (decoder, latent -> image) as an MLflow PyTorch model with a signature,
    and `files` (the saved model and checkpoints) as artifacts."""
    decoder = vae.decoder.cpu().eval()
    latents = torch.randn(2, vae.latent_dim)
    with torch.inference_mode():
        images = decoder(latents)
    signature = infer_signature(latents.numpy(), images.numpy())
    mlflow.set_experiment(experiment_id=logger.experiment_id)  # the fluent API checks they match
    with mlflow.start_run(run_id=logger.run_id):
        # Explicit requirements: MLflow would otherwise import the model in a subprocess to guess them.
        mlflow.pytorch.log_model(
            decoder,
            name="model",
            signature=signature,
            input_example=latents.numpy(),
            pip_requirements=[f"torch=={version('torch')}"],
        )
        for path in files:
            mlflow.log_artifact(str(path), artifact_path="files")
