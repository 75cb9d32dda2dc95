"""Credentials in a URL (`http://alice:s3cret@host:5000`): used, never written.

A user name and password in `tracking.uri` move into MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD, the
variables MLflow's client reads for HTTP basic auth, and the URI keeps `***` in their place: that masked form is
what every message, param, config artifact and run_config.yaml holds. The same masking applies to any URL shown
in a message (a DVC remote's, a download mirror's). Another URI's credentials (`tracking.local_uri`) are kept in
this process and handed to MLflow only when that URI is the one logged to (`use_credentials_of`).
"""

import os
from urllib.parse import unquote, urlsplit

from face_vae.core.errors import MASK, URL_USER_PART, UserError, mask_text

USERNAME, PASSWORD = "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"
_KEPT: dict[str, tuple[str, str]] = {}  # masked URI -> (user, password), for URIs other than tracking.uri


def mask(url: str) -> str:
    """`url` with its user name and password replaced by ***."""
    return mask_text(url)


def hide_tracking_credentials(uri: str, key: str = "tracking.uri") -> str:
    """Keep the credentials of a tracking URI for MLflow (in its environment variables for `tracking.uri`, in this
    process for another key); return the URI masked. Characters a URL must percent-encode are refused in one
    sentence that does not show them."""
    text = str(uri)
    if "@" not in text.split("://", 1)[-1] or "://" not in text:
        return text
    masked = mask(text)
    user, password = _user_and_password(text, key)
    if user != MASK:  # already masked: the credentials are kept
        _KEPT[masked] = (user, password)
        if key == "tracking.uri":
            _export(user, password)
    return masked


def _user_and_password(uri: str, key: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    written = URL_USER_PART.match(uri)
    if written is None or parts.netloc.rpartition("@")[0] != written.group(0)[len(written.group(1)) : -1]:
        # urlsplit ended the host early (at a / ? or # inside the password): what it calls the host is not one
        raise UserError(
            f"{key}={mask(uri)}: its user name or password holds a character a URL must percent-encode (/ ? # or "
            "a space): write it encoded (%2F for /, %3F for ?, %23 for #), or leave the URL without them and set "
            f"{USERNAME} and {PASSWORD}."
        )
    return unquote(parts.username or ""), unquote(parts.password or "")


def _export(user: str, password: str) -> None:
    """Hand credentials to MLflow's client. It sends basic auth as latin-1, so a password beyond latin-1 goes as
    its UTF-8 bytes (what servers read, RFC 7617) instead of a UnicodeEncodeError mid-run."""
    os.environ[USERNAME] = user.encode("utf-8").decode("latin-1")
    os.environ[PASSWORD] = password.encode("utf-8").decode("latin-1")


def use_credentials_of(uri: str) -> None:
    """Make `uri`'s own credentials the ones MLflow sends (none when it has none): a fallback store must not
    receive the main server's password, nor the main server the fallback's."""
    if uri in _KEPT:
        _export(*_KEPT[uri])
    else:
        os.environ.pop(USERNAME, None)
        os.environ.pop(PASSWORD, None)


def without_credentials(uri: str) -> str:
    """The URI a client connects to: no user part (MLflow reads the credentials from the environment)."""
    return URL_USER_PART.sub(r"\g<1>", str(uri))


def basic_auth_header() -> dict[str, str]:
    """The Authorization header of the tracking credentials in the environment ({} without them), as MLflow's
    client sends it."""
    import base64

    user = os.environ.get(USERNAME)
    if not user:
        return {}
    pair = f"{user}:{os.environ.get(PASSWORD, '')}"
    token = base64.b64encode(pair.encode("latin-1", errors="replace")).decode("ascii")
    return {"Authorization": f"Basic {token}"}
