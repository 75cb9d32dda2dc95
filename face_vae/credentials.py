"""Credentials in a URL (`http://alice:s3cret@host:5000`): used, never written.

A user name and password in `tracking.uri` move into MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD, the
variables MLflow's client reads for HTTP basic auth, and the URI keeps `***` in their place: that masked form is
what every message, param, config artifact and run_config.yaml holds. The same masking applies to any URL shown
in a message (a DVC remote's).
"""

import os
import re
from urllib.parse import unquote, urlsplit, urlunsplit

MASK = "***"
USERNAME, PASSWORD = "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"


def mask(url: str) -> str:
    """`url` with its user name and password replaced by ***."""
    parts = urlsplit(str(url))
    if "@" not in parts.netloc:
        return str(url)
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{MASK}@{host}"))


def mask_text(text: str) -> str:
    """`text` with the credentials of every URL in it replaced by *** (a library's error message may quote one)."""
    return re.sub(r"(\b[a-zA-Z][\w+.-]*://)[^/@\s]+@", rf"\g<1>{MASK}@", str(text))


def hide_tracking_credentials(uri: str) -> str:
    """Move the credentials of a tracking URI into MLflow's environment variables; return it masked."""
    parts = urlsplit(str(uri))
    if "@" not in parts.netloc:
        return str(uri)
    if parts.username != MASK:  # already masked: the variables hold them
        os.environ[USERNAME] = unquote(parts.username or "")
        os.environ[PASSWORD] = unquote(parts.password or "")
    return mask(uri)


def without_credentials(uri: str) -> str:
    """The URI a client connects to: no user part (MLflow reads the credentials from the environment)."""
    parts = urlsplit(str(uri))
    if "@" not in parts.netloc:
        return str(uri)
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def basic_auth_header() -> dict[str, str]:
    """The Authorization header of the tracking credentials in the environment ({} without them)."""
    import base64

    user = os.environ.get(USERNAME)
    if not user:
        return {}
    token = base64.b64encode(f"{user}:{os.environ.get(PASSWORD, '')}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}
