"""MLflow in a Lightning training run: the logger with every param, and the trained model at the end."""

import logging
from pathlib import Path

import mlflow
from lightning.pytorch.loggers import MLFlowLogger

from face_vae.serving.face_generator import log_face_generator
from face_vae.tracking import registry
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


def log_trained_model(
    logger: MLFlowLogger, model_file: Path, files: list[Path], classifier_file: Path | None = None
) -> str:
    """Log the trained model as the pyfunc `face_generator` (its model file: decoder, prior and sizes, and the
    attribute classifier of its codes when given; served with `mlflow models serve`), and `files` (the saved
    model and checkpoints) as artifacts; return the logged model's URI."""
    mlflow.set_experiment(experiment_id=logger.experiment_id)  # the fluent API checks they match
    with mlflow.start_run(run_id=logger.run_id):
        model_uri = log_face_generator(model_file, classifier_file)
        for path in files:
            mlflow.log_artifact(str(path), artifact_path="files")
    return model_uri


def register_trained_model(logger: MLFlowLogger, model_uri: str, tracking_uri: str, name: str) -> str | None:
    """Register the logged face_generator `model_uri` as a new version of `name`, tagged with the commit and the
    data's hashes the run logged; its number (None when the registry refused: the warning says how to retry)."""
    params = logger.experiment.get_run(logger.run_id).data.params
    tags = {key: params[key] for key in ("git_commit", "prepared_data_md5", "data_dvc_md5") if key in params}
    return registry.register(tracking_uri, model_uri, name, tags | {"mlflow_run_id": logger.run_id})
