"""The `serve` command: a registered face_generator over REST. MLflow's own scoring server (the app `mlflow models
serve` runs), behind limits on body size and JSON nesting that MLflow does not have."""

import logging
import socket

from omegaconf import DictConfig

from face_vae.core.errors import UserError
from face_vae.serving import guard
from face_vae.stages.shared import registry_uri
from face_vae.tracking import registry

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> None:
    """Load `cfg.model_uri`'s model file (cached once downloaded; none of its code runs) and answer on
    http://host:port/invocations."""
    import uvicorn
    from mlflow.pyfunc import scoring_server

    from face_vae.serving.face_generator import served_model

    _check_port_is_free(cfg.host, cfg.port)
    folder = registry.fetch_model_folder(cfg.model_uri, registry_uri(cfg))
    app = guard.BodyGuard(scoring_server.init(served_model(folder, cfg.model_uri)))
    log.info(
        "Serving %s on http://%s:%d/invocations (bodies up to %s bytes, JSON up to %d deep); Ctrl-C stops it.",
        cfg.model_uri,
        cfg.host,
        cfg.port,
        f"{guard.MAX_BODY_BYTES:,}",
        guard.MAX_DEPTH,
    )
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="warning")


def _check_port_is_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise UserError(
                f"Cannot listen on {host}:{port} ({error.strerror}): choose another port=, or stop what holds it."
            ) from error
