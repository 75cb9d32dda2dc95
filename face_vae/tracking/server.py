"""Where MLflow runs go: a tracking server that answers, or the local store."""

import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from face_vae.errors import UserError
from face_vae.rules import SECONDS, setting

log = logging.getLogger(__name__)


@dataclass
class TrackingSettings:
    """Where a command logs (the `tracking` config group). Default: a local MLflow store in the project
    folder (no server); team mode: tracking.uri=http://HOST:PORT of an `mlflow server`, checked first."""

    experiment: str = setting("", "the MLflow experiment (each command names its own)")
    enabled: bool = setting(True, "false: log nothing")
    uri: str = setting("sqlite:///mlflow.db", "a local store, or http://HOST:PORT of an `mlflow server`")
    local_uri: str = setting("sqlite:///mlflow.db", "where fallback_local logs")
    fallback_local: bool = setting(False, "when the server does not answer: false stops, true logs to local_uri")
    health_timeout_s: float = setting(5.0, "seconds the server has to answer before the run starts", SECONDS)
    async_logging: bool = setting(False, "true: training's MLflow calls return at once, a thread writes them")
    registered_model: Optional[str] = setting(
        "face_vae", "train registers its face_generator as a new version of this model (models:/NAME/N); null: not"
    )


def tracking_uri(settings: TrackingSettings) -> str:
    """The MLflow URI to log to: a server that answers, or the local store.

    A server that does not answer stops the run with one sentence, unless `fallback_local` is set.
    """
    uri = settings.uri
    if not uri.startswith(("http://", "https://")):
        return _absolute(uri)
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=settings.health_timeout_s):
            return uri
    except (urllib.error.URLError, OSError) as error:
        if settings.fallback_local:
            log.warning("MLflow server %s does not answer (%s); logging to %s instead.", uri, error, settings.local_uri)
            return _absolute(settings.local_uri)
        raise UserError(
            f"The MLflow server {uri} does not answer ({getattr(error, 'reason', error)}): start one with "
            "`mlflow server --host 127.0.0.1 --port 5000`, or log locally with tracking.uri="
            f"{settings.local_uri} (or tracking.fallback_local=true)."
        ) from error


def _absolute(uri: str) -> str:
    """A local store's path made absolute: MLflow caches stores by URI, so `sqlite:///mlflow.db`
    would keep pointing at the first folder a process used it in."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str(Path(uri[len(prefix) :]).resolve())
    return uri
