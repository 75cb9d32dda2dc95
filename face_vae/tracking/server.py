"""Where MLflow runs go: a tracking server that answers, or the local store."""

import logging
import urllib.error
import urllib.request
from pathlib import Path

from omegaconf import DictConfig

from face_vae.errors import UserError

log = logging.getLogger(__name__)


def tracking_uri(tracking_cfg: DictConfig) -> str:
    """The MLflow URI to log to: a server that answers, or the local store.

    A server that does not answer stops the run with one sentence, unless `fallback_local` is set.
    """
    uri = tracking_cfg.uri
    if not uri.startswith(("http://", "https://")):
        return _absolute(uri)
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=tracking_cfg.health_timeout_s):
            return uri
    except (urllib.error.URLError, OSError) as error:
        if tracking_cfg.fallback_local:
            log.warning(
                "MLflow server %s does not answer (%s); logging to %s instead.", uri, error, tracking_cfg.local_uri
            )
            return _absolute(tracking_cfg.local_uri)
        raise UserError(
            f"The MLflow server {uri} does not answer ({getattr(error, 'reason', error)}): start one with "
            "`mlflow server --host 127.0.0.1 --port 5000`, or log locally with tracking.uri="
            f"{tracking_cfg.local_uri} (or tracking.fallback_local=true)."
        ) from error


def _absolute(uri: str) -> str:
    """A local store's path made absolute: MLflow caches stores by URI, so `sqlite:///mlflow.db`
    would keep pointing at the first folder a process used it in."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str(Path(uri[len(prefix) :]).resolve())
    return uri
