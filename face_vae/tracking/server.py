"""Where MLflow runs go: a tracking server that answers, or the local store."""

import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from face_vae.errors import UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackingSettings:
    """Where a command logs (the `tracking` config group)."""

    experiment: str
    enabled: bool = True
    uri: str = "sqlite:///mlflow.db"
    local_uri: str = "sqlite:///mlflow.db"
    fallback_local: bool = False  # when the server does not answer: False stops, True logs to local_uri
    health_timeout_s: float = 5


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
