"""The MLflow Model Registry: trained models registered as versions, `models:/` URIs fetched as model files,
and the `champion` alias moved to the version with the best FID."""

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from face_vae.core.errors import UserError, first_line

log = logging.getLogger(__name__)
SCHEME = "models:/"
CHAMPION = "champion"
VERSION_FILE = "face_vae_version.json"  # in a cached version's folder: the URI asked for and the version it named


def is_registry_uri(model_file: str) -> bool:
    """Whether `model_file` names a registered model (`models:/NAME/VERSION` or `models:/NAME@ALIAS`)."""
    return str(model_file).startswith(SCHEME)


def is_logged_model(model_file: str) -> bool:
    """Whether `model_file` names MLflow 3's logged model (`models:/m-ID`) rather than a registered version."""
    return str(model_file).startswith(f"{SCHEME}m-")


@dataclass
class Version:
    """One registered model version (or MLflow 3's logged model, models:/m-ID), as a registry URI names it."""

    name: str
    version: str
    uri: str  # as the user wrote it
    identity: str = ""  # what makes this version unique across stores recreated under the same URI
    model_id: str = ""  # MLflow 3's logged model: scores logged with it show on the model's page

    @property
    def cache_key(self) -> str:
        """The cache folder's name: the number and a hash of the version's run, source and creation time, so that a
        store recreated with other models under the same numbers never gets an earlier store's file."""
        return f"{self.version}-{hashlib.sha1(self.identity.encode()).hexdigest()[:10]}"

    @property
    def pinned_uri(self) -> str:
        """The URI of this very version (an alias resolved); a logged model's own URI."""
        return f"{SCHEME}{self.model_id}" if self.version == self.model_id else f"{SCHEME}{self.name}/{self.version}"


def _client(tracking_uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def resolve(uri: str, tracking_uri: str) -> Version:
    """The version `uri` names (an alias or `latest` resolved now, by MLflow's own reading of `models:/` URIs); a
    UserError naming the URI when there is none."""
    from mlflow.exceptions import MlflowException
    from mlflow.store.artifact.utils.models import get_model_name_and_version

    path = uri[len(SCHEME) :]
    name, alias = path.split("@", 1) if "@" in path else (path.split("/", 1)[0], None)
    client = _client(tracking_uri)
    try:
        named = get_model_name_and_version(client, uri)
        if len(named) == 1 and is_logged_model(uri):  # models:/m-ID: a logged model (MLflow 3)
            logged = client.get_logged_model(named[0])
            identity = f"{logged.source_run_id}|{logged.artifact_location}|{logged.creation_timestamp}"
            return Version(logged.name or "logged", logged.model_id, uri, identity, logged.model_id)
        if len(named) == 1:  # a name without a version
            raise UserError(
                f"{uri} is not a registered version: write models:/NAME/VERSION, models:/NAME/latest, "
                "models:/NAME@ALIAS or a logged model's models:/m-ID."
            )
        found = client.get_model_version(*named)
    except MlflowException as error:
        fix = (
            f"set it with `python commands.py evaluate model_file={SCHEME}{name}/N promote=true`"
            if alias == CHAMPION
            else f"train one with tracking.registered_model={name}"
        )
        raise UserError(
            f"There is no {uri} in the model registry at {tracking_uri} ({first_line(error)}): see the versions "
            f"with `poetry run mlflow ui` (Models tab), or {fix}."
        ) from error
    identity = f"{found.run_id}|{found.source}|{found.creation_timestamp}"
    # MLflow 3 names the logged model in the version's source (models:/m-ID); some stores leave model_id empty.
    source = str(found.source or "")
    model_id = getattr(found, "model_id", None) or (source[len(SCHEME) :] if source.startswith(f"{SCHEME}m-") else "")
    return Version(name, str(found.version), uri, identity, str(model_id))


def fetch_model_file(uri: str, tracking_uri: str) -> Path:
    """The model file of the registered version `uri`, downloaded once into the cache and reused after."""
    return _model_file_in(fetch_model_folder(uri, tracking_uri), uri)


def fetch_model_folder(uri: str, tracking_uri: str) -> Path:
    """The folder of the registered version `uri` (a face_generator: MLmodel, code, artifacts), downloaded once into
    the cache and reused after."""
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    version = resolve(uri, tracking_uri)
    # Per store: face_vae/1 of a local store and of the team's server are different models.
    store = hashlib.sha1(tracking_uri.encode()).hexdigest()[:8]
    folder = cache_dir() / store / version.name / version.cache_key
    if (folder / "MLmodel").is_file() and (folder / VERSION_FILE).is_file():
        log.info("%s is version %s (cached in %s).", uri, version.version, folder)
        return folder
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(
            f"Cannot write the registry cache {cache_dir()} ({error.strerror}): set XDG_CACHE_HOME to a "
            "writable folder."
        ) from error
    tmp = folder.with_name(f".{version.version}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        download_artifacts(artifact_uri=version.pinned_uri, dst_path=str(tmp), tracking_uri=tracking_uri)
        _model_file_in(tmp, uri)  # refuse a version that holds no face_vae model before caching it
        (tmp / VERSION_FILE).write_text(
            json.dumps({"uri": uri, "version": version.pinned_uri, "model_id": version.model_id}), encoding="utf-8"
        )
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    except (MlflowException, OSError) as error:
        raise UserError(
            f"Cannot download {uri} (version {version.version}) from {tracking_uri} ({first_line(error)}): its "
            "artifacts may have been deleted; use another version."
        ) from error
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("Downloaded %s (version %s) to %s.", uri, version.version, folder)
    return folder


def pinned_version(model_file: Path) -> str | None:
    """The `models:/NAME/VERSION` a model file fetched from the registry came from (None for any other file)."""
    return fetched_from(model_file).get("version")


def fetched_from(model_file: Path) -> dict[str, str]:
    """What the registry cache recorded of the version a model file came from ({} for any other file)."""
    for folder in Path(model_file).parents:
        if (folder / VERSION_FILE).is_file():
            try:
                return {key: str(value) for key, value in json.loads((folder / VERSION_FILE).read_text()).items()}
            except (OSError, ValueError, AttributeError):
                return {}
    return {}


def _model_file_in(folder: Path, uri: str) -> Path:
    """The face_vae model file inside a downloaded face_generator (its MLmodel names the artifact)."""
    import yaml

    from face_vae.serving.face_generator import MODEL_ARTIFACT

    try:
        flavor = yaml.safe_load((folder / "MLmodel").read_text())["flavors"]["python_function"]
        path = folder / flavor["artifacts"][MODEL_ARTIFACT]["path"]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as error:
        raise UserError(
            f"{uri} is not a face_generator logged by face_vae train (it holds no face_vae model file): use a version "
            "that train registered."
        ) from error
    if not path.is_file():
        raise UserError(
            f"{uri} lacks its model file {path.name}: its artifacts may have been deleted; use another version."
        )
    return path


def cache_dir() -> Path:
    """Where registered models are kept once downloaded: $XDG_CACHE_HOME/face_vae/registry (~/.cache/...), a
    folder per tracking store, then NAME/VERSION."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "face_vae" / "registry"


def register(tracking_uri: str, source: str, name: str, tags: dict[str, str]) -> str | None:
    """Register the logged model `source` as a new version of `name` with `tags`; its number, or None with a
    warning saying how to register it later when the registry refuses (the model file is saved already)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        mlflow.set_registry_uri(tracking_uri)
        version = mlflow.register_model(source, name, tags=tags).version
    except MlflowException as error:
        log.warning(
            "Could not register the model in %s (%s); the model file and the run are kept. Register it later with "
            "`poetry run python -c \"import mlflow; mlflow.set_tracking_uri('%s'); "
            "mlflow.register_model('%s', '%s')\"`.",
            tracking_uri,
            first_line(error),
            tracking_uri,
            source,
            name,
        )
        return None
    log.info("Registered the model as %s%s/%s.", SCHEME, name, version)
    return str(version)


def promote(uri: str, tracking_uri: str, score_name: str, score: float) -> None:
    """Record `score` (an FID: lower is better) on the version `uri` names, and move the `champion` alias to it
    when it beats the current champion's same score; say what was done."""
    version = resolve(uri, tracking_uri)
    client = _client(tracking_uri)
    client.set_model_version_tag(version.name, version.version, score_name, f"{score:.4f}")
    try:
        champion = client.get_model_version_by_alias(version.name, CHAMPION)
    except Exception:  # pylint: disable=broad-exception-caught  # MLflow raises its own type per store: no alias yet
        champion = None
    recorded = champion.tags.get(score_name) if champion is not None else None
    ours, target = f"version {version.version} has {score_name} {score:.2f}", f"{SCHEME}{version.name}@{CHAMPION}"
    if champion is not None and str(champion.version) == version.version:
        log.info("Version %s is already the %s (%s %.2f).", version.version, CHAMPION, score_name, score)
    elif champion is not None and recorded is None:
        log.warning(
            "Not promoted: the %s (version %s) has no %s to compare with; evaluate it with the same values and "
            "promote=true (model_file=%s) first.",
            CHAMPION,
            champion.version,
            score_name,
            target,
        )
    elif champion is not None and float(recorded) <= score:
        log.info("Not promoted: %s, the %s (version %s) %.2f.", ours, CHAMPION, champion.version, float(recorded))
    else:
        client.set_registered_model_alias(version.name, CHAMPION, version.version)
        before = f" (was version {champion.version})" if champion is not None else ""
        log.info("Promoted version %s to %s with %s %.2f%s.", version.version, target, score_name, score, before)
