"""The `serve` command: a registered face_generator over REST. MLflow's own scoring server (the app `mlflow models
serve` runs), behind limits on body size and JSON nesting that MLflow does not have."""

import logging
import os
import socket

from omegaconf import DictConfig

from face_vae.core.errors import UserError
from face_vae.serving import guard
from face_vae.stages.shared import registry_uri
from face_vae.tracking import registry

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> None:
    """Load `cfg.model_uri`'s model file (cached once downloaded; none of its code runs) and answer on
    http://host:port/invocations with `cfg.workers` processes, each request stopped after `cfg.timeout_s`."""
    import uvicorn
    from mlflow.environment_variables import MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT
    from mlflow.pyfunc import scoring_server

    from face_vae.serving.face_generator import SERVED_FOLDER_VARIABLE, SERVED_URI_VARIABLE, served_model

    _check_port_is_free(cfg.host, cfg.port)
    folder = registry.fetch_model_folder(cfg.model_uri, registry_uri(cfg))
    os.environ[MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT.name] = str(cfg.timeout_s)  # MLflow's own 504 after it
    model = served_model(folder, cfg.model_uri)  # a version that is not face_vae's is refused here, in one sentence
    app: object = guard.BodyGuard(scoring_server.init(model))
    if cfg.workers > 1:  # uvicorn starts workers from an import string: each builds the app from these
        os.environ[SERVED_FOLDER_VARIABLE], os.environ[SERVED_URI_VARIABLE] = str(folder), cfg.model_uri
        app = "face_vae.serving.served_app:app"
        del model
    log.info(
        "Serving %s on http://%s:%d/invocations with %d worker process(es), each request stopped after %d s (bodies "
        "up to %s bytes, JSON up to %d deep); Ctrl-C stops it.",
        cfg.model_uri,
        cfg.host,
        cfg.port,
        cfg.workers,
        cfg.timeout_s,
        f"{guard.MAX_BODY_BYTES:,}",
        guard.MAX_DEPTH,
    )
    uvicorn.run(app, host=cfg.host, port=cfg.port, workers=cfg.workers, log_level="warning")


def _check_port_is_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise UserError(
                f"Cannot listen on {host}:{port} ({error.strerror}): choose another port=, or stop what holds it."
            ) from error
