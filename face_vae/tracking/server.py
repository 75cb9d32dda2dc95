"""Where MLflow runs go: a tracking server that answers, or the local store."""

import logging
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from face_vae import credentials, locks
from face_vae.core.errors import UserError, first_line
from face_vae.core.rules import SECONDS, setting

log = logging.getLogger(__name__)


@dataclass
class TrackingSettings:
    """Where a command logs (the `tracking` config group). Default: a local MLflow store in the project
    folder (no server); team mode: tracking.uri=http://HOST:PORT of an `mlflow server`, checked first."""

    experiment: str = setting(
        "",
        "the MLflow experiment (each command names its own)",
        (lambda value: len(str(value)) <= 500, "a name of at most 500 characters (MLflow's limit)"),
    )
    enabled: bool = setting(True, "false: log nothing")
    uri: str = setting("sqlite:///mlflow.db", "a local store, or http://HOST:PORT of an `mlflow server`")
    local_uri: str = setting("sqlite:///mlflow.db", "where fallback_local logs")
    fallback_local: bool = setting(False, "when the server does not answer: false stops, true logs to local_uri")
    health_timeout_s: float = setting(5.0, "seconds the server has to answer before the run starts", SECONDS)
    async_logging: bool = setting(False, "true: training's MLflow calls return at once, a thread writes them")
    request_timeout_s: float = setting(
        10.0, "seconds a call to the server may take (MLflow's own default retries for minutes)", SECONDS
    )
    parent_run_id: Optional[str] = setting(None, "set by `train -m`: the sweep's parent MLflow run")
    registered_model: Optional[str] = setting(
        "face_vae", "train registers its face_generator as a new version of this model (models:/NAME/N); null: not"
    )


def tracking_uri(settings: TrackingSettings) -> str:
    """The MLflow URI to log to: a server that answers, or the local store.

    A server that does not answer stops the run with one sentence, unless `fallback_local` is set.
    """
    shown = settings.uri  # credentials masked (face_vae.credentials): what messages say
    _check_scheme(shown, "tracking.uri")
    uri = credentials.without_credentials(shown)
    if uri.split(":", 1)[0].split("+", 1)[0].lower() in ("postgresql", "mysql", "mssql"):
        _check_driver(shown, shown)
    if not uri.startswith(("http://", "https://")):
        return _absolute(uri, settings.experiment)
    # A server that stops answering mid-run costs seconds, not minutes (a variable the user set wins).
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(max(1, round(settings.request_timeout_s))))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    health = urllib.request.Request(f"{uri.rstrip('/')}/health", headers=credentials.basic_auth_header())
    try:
        with urllib.request.urlopen(health, timeout=settings.health_timeout_s):
            pass
        _check_api(uri, shown, settings.health_timeout_s)
        return uri
    except urllib.error.HTTPError as error:
        if error.code not in (401, 403):
            raise UserError(
                f"The MLflow server {shown} answered /health with {error.code} {error.reason}: check "
                "that tracking.uri is an `mlflow server`."
            ) from error
        raise UserError(
            f"The MLflow server {shown} refused the credentials ({error.code} {error.reason}): give them in "
            "tracking.uri (http://USER:PASSWORD@HOST:PORT) or in MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD."
        ) from error
    except (urllib.error.URLError, OSError) as error:
        if settings.fallback_local:
            log.warning(
                "MLflow server %s does not answer (%s); logging to %s instead.", shown, error, settings.local_uri
            )
            credentials.use_credentials_of(settings.local_uri)  # not the server's password
            return _absolute(credentials.without_credentials(settings.local_uri), settings.experiment)
        raise UserError(
            f"The MLflow server {shown} does not answer ({getattr(error, 'reason', error)}): start one with "
            "`mlflow server --host 127.0.0.1 --port 5000`, or log locally with tracking.uri="
            f"{settings.local_uri} (or tracking.fallback_local=true)."
        ) from error


def _check_api(uri: str, shown: str, timeout: float) -> None:
    """A server whose /health answers can still fail every API call (its database gone, a proxy in front): one
    cheap call of the tracking API first, so that such a server stops the run before any work, in one sentence."""
    probe = urllib.request.Request(
        f"{uri.rstrip('/')}/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default",
        headers=credentials.basic_auth_header(),
    )
    try:
        with urllib.request.urlopen(probe, timeout=timeout):
            return
    except urllib.error.HTTPError as error:
        if error.code < 500:  # 404: no such experiment yet, the API answers
            return
        raise UserError(
            f"The MLflow server {shown} answers /health but its tracking API answered {error.code} {error.reason}: "
            "look at the server's log (its database may be unreachable), or log locally with "
            "tracking.uri=sqlite:///mlflow.db."
        ) from error


# The stores MLflow's tracking client opens: a server, a database, a folder (MLflow's file store), Databricks.
SCHEMES = ("http", "https", "sqlite", "postgresql", "mysql", "mssql", "file", "databricks")


def _check_scheme(uri: str, key: str) -> None:
    scheme = uri.split("://", 1)[0].split("+", 1)[0].lower() if "://" in uri else ""
    if scheme not in SCHEMES:
        raise UserError(
            f"{key}={uri} is not an MLflow store MLflow knows (scheme {scheme or 'missing'!r}): use http://HOST:PORT "
            "of an `mlflow server`, sqlite:///mlflow.db, or another of " + ", ".join(SCHEMES) + "."
        )


def _absolute(uri: str, experiment: str = "") -> str:
    """A local store's path made absolute (MLflow caches stores by URI, so `sqlite:///mlflow.db` would keep
    pointing at the first folder a process used it in), its tables created once. In a DVC experiment's temporary
    copy of the project, a relative path lies in the project itself: DVC deletes the copy afterwards."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return uri
    relative, project = Path(uri[len(prefix) :]), dvc_experiment_project()
    path = (project / relative if project and not relative.is_absolute() else relative).resolve()
    _check_writable(path, (project or Path.cwd()) / "mlruns")
    uri = prefix + str(path)
    # Two commands started together on a new store would both create its tables (an alembic traceback):
    # the first creates them while the second waits.
    with locks.waiting(path):
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=uri)
        client.search_experiments(max_results=1)
        if project and experiment and client.get_experiment_by_name(experiment) is None:
            # A new experiment's artifacts would go to ./mlruns of the copy: into the project's instead.
            client.create_experiment(experiment, artifact_location=str(project / "mlruns" / experiment))
    if project:
        log.info("A DVC experiment in a temporary copy of the project: logging to %s, which outlives the copy.", uri)
    return uri


def _check_writable(database: Path, artifacts: Path) -> None:
    """A local store on a read-only or full disk stops the command before any work, in one sentence: MLflow would
    fail at its first write, mid-run. Reading it (what opening it does) proves nothing, so a byte is written."""
    for folder in (database.parent, artifacts if artifacts.is_dir() else artifacts.parent):
        try:
            folder.mkdir(parents=True, exist_ok=True)  # sqlite:///runs/mlflow.db: the folder is made, as a file is
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".face_vae-write-check-") as probe:
                probe.write(b"0")
                probe.flush()
                os.fsync(probe.fileno())
        except OSError as error:
            raise UserError(
                f"The MLflow store sqlite:///{database} cannot be written ({folder}: {error.strerror}): free some "
                "space or make that folder writable, or log elsewhere (tracking.uri=sqlite:///OTHER/mlflow.db, or "
                "tracking.enabled=false)."
            ) from error
    if database.is_file() and not os.access(database, os.W_OK):
        raise UserError(
            f"The MLflow store sqlite:///{database} is a read-only file: make it writable, or log elsewhere "
            "(tracking.uri=sqlite:///OTHER/mlflow.db, or tracking.enabled=false)."
        )


def _check_driver(uri: str, shown: str) -> None:
    """A database store whose driver is not installed (postgresql:// without psycopg2): one sentence before any
    work, not a traceback once the faces are written. SQLAlchemy names the driver each URI needs."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        make_url(uri).get_dialect().import_dbapi()
    except ImportError as error:
        driver = error.name or first_line(error)
        raise UserError(
            f"tracking.uri={shown} needs the database driver {driver!r}, which is not installed: `pip install "
            f"{DRIVER_PACKAGES.get(driver, driver)}`, or log to sqlite:///mlflow.db."
        ) from error
    except (ArgumentError, NoSuchModuleError) as error:
        raise UserError(
            f"tracking.uri={shown} is not a database URI SQLAlchemy reads ({first_line(error)})."
        ) from error


DRIVER_PACKAGES = {
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary",
    "MySQLdb": "mysqlclient",
    "pyodbc": "pyodbc",
    "pymysql": "pymysql",
}


def dvc_experiment_project() -> Path | None:
    """The project a DVC experiment runs for when it runs in a temporary copy of it (`dvc exp run --temp` or
    `--queue`, in .dvc/tmp/exps/): DVC names the project in DVC_ROOT. None anywhere else."""
    root = os.environ.get("DVC_ROOT")
    if not root:
        return None
    project, here = Path(root).resolve(), Path.cwd().resolve()
    return project if here != project and here.is_relative_to(project / ".dvc") else None
