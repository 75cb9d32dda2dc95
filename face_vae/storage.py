"""DVC: pull the data or the model when missing, add and push a newly trained model (Python API)."""

import json
import logging
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from face_vae import credentials
from face_vae.core.errors import UserError, first_line, listed
from face_vae.core.rules import AUTO_OR_BOOL, setting
from face_vae.file_guards import file_md5

log = logging.getLogger(__name__)


@dataclass
class StorageSettings:
    """How data and models move through DVC (data.dvc, models.dvc): the `storage` config group."""

    remote: Optional[str] = setting(None, "null: the default remote in .dvc/config; e.g. storage.remote=local")
    pull: bool = setting(True, "pull data.dvc / models.dvc when the data or the model is missing")
    add: Any = setting(
        False,
        "true: after train, `dvc add models/` (updating models.dvc); auto: only for real data written to models/, "
        "never for data=synthetic; false: a trial run never rewrites the team's model pointer",
        AUTO_OR_BOOL,
    )
    push: bool = setting(False, "after train: dvc add models/ and push the model to the remote")
    data_dvc: str = setting("data.dvc")
    models_dvc: str = setting("models.dvc")


def pull_data(settings: StorageSettings, wanted: Path) -> None:
    """Pull `data.dvc` so that `wanted` (a file of the dataset) exists; a UserError says what to do when it cannot."""
    _pull(settings, settings.data_dvc, wanted, "the dataset")


def pull_model(settings: StorageSettings, model_file: Path) -> None:
    """Pull `models.dvc` so that `model_file` exists; a UserError says what to do when it cannot."""
    _pull(settings, settings.models_dvc, model_file, "the model")


def pull_tracked(settings: StorageSettings, dvc_file: str, replace_cached: bool = False) -> Path:
    """Pull what `dvc_file` tracks (the `pull` command); return where it is. Fails fast as the other pulls do:
    a Google Drive remote without credentials, a local remote whose folder does not exist. Local files that
    differ from what `dvc_file` records are refused (see `_refuse_unsaved_files`); `replace_cached` lets those
    that DVC's cache holds a copy of be replaced."""
    wanted = tracked_path(dvc_file) or Path(dvc_file)
    _pull(settings, dvc_file, wanted, f"the files {dvc_file} tracks", replace_cached)
    return wanted


def dvc_output(dvc_file: str) -> dict:
    """What a .dvc file records of its output (path, md5, size...), or {} without a readable file."""
    try:
        return dict(yaml.safe_load(Path(dvc_file).read_text(encoding="utf-8"))["outs"][0])
    except (OSError, KeyError, IndexError, TypeError, ValueError, yaml.YAMLError):
        return {}


def tracked_path(dvc_file: str) -> Path | None:
    """The output a .dvc file tracks (relative to the working folder), or None without that file."""
    out = dvc_output(dvc_file).get("path")
    return Path(dvc_file).parent / out if out else None


def version_models(settings: StorageSettings, models_dir: Path, throwaway: bool) -> None:
    """`track_model` when asked (`storage.add=true` or `storage.push=true`), or with `storage.add=auto`
    when `models_dir` is where models.dvc points and the run is not a `throwaway` (synthetic data): a
    smoke run or a model written elsewhere is an experiment, not the project's model."""
    tracked = tracked_path(settings.models_dvc)
    into_tracked = tracked is not None and tracked.resolve() == models_dir.resolve()
    if settings.push or settings.add is True or (settings.add == "auto" and into_tracked and not throwaway):
        track_model(settings, models_dir)
    elif into_tracked:
        log.info("%s was left as it is (a throw-away run, or storage.add=false).", settings.models_dvc)


def track_model(settings: StorageSettings, models_dir: Path) -> None:
    """`dvc add` the models folder (updating models.dvc) and push it when `storage.push` is set."""
    from dvc.exceptions import DvcException

    repo = _open_repo()
    # `dvc add FOLDER` writes FOLDER.dvc beside it: models.dvc only when the folder is the one it tracks
    dvc_file = models_dir.parent / f"{models_dir.name}.dvc"
    before = dvc_file.read_bytes() if dvc_file.is_file() else None
    try:
        with repo:
            with _quiet_dvc():  # DVC's own "To track the changes with git" hint would repeat the line below
                repo.add(str(models_dir))
            ignore = models_dir.parent / ".gitignore"  # DVC adds the folder to it
            to_commit = " ".join([str(dvc_file)] + ([str(ignore)] if ignore.is_file() else []))
            if dvc_file.is_file() and dvc_file.read_bytes() == before:
                log.info("%s already records %s as it is: nothing to commit.", dvc_file, models_dir)
            else:
                log.info(
                    "%s %s: commit it (git add %s) so others get this model.",
                    "Updated" if before is not None else "Wrote",
                    dvc_file,
                    to_commit,
                )
            if settings.push:
                remote = _remote_name(repo, settings.remote)
                _check_gdrive_credentials(repo, remote)
                _check_plugin(repo, remote)
                repo.push(targets=[settings.models_dvc], remote=settings.remote)
                log.info("Pushed %s to the DVC remote '%s'.", models_dir, remote)
    except DvcException as error:
        raise UserError(f"DVC could not add or push {models_dir}: {_first_line(error)}; {_remote_advice()}") from error


def _pull(settings: StorageSettings, dvc_file: str, wanted: Path, what: str, replace_cached: bool = False) -> None:
    from dvc.exceptions import CheckoutError, DvcException

    if not settings.pull:
        raise UserError(f"{wanted} is missing and storage.pull=false: put {what} there or allow pulling.")
    if not Path(dvc_file).is_file():
        raise UserError(f"{wanted} is missing and there is no {dvc_file} to pull it with DVC: put {what} there.")
    repo = _open_repo()
    remote = _remote_name(repo, settings.remote)
    _check_gdrive_credentials(repo, remote)
    _check_plugin(repo, remote)
    _refuse_unsaved_files(repo, dvc_file, replace_cached)
    try:
        with repo, _quiet_dvc():
            log.info("%s is missing: pulling %s from the DVC remote '%s'.", wanted, dvc_file, remote)
            repo.pull(targets=[dvc_file], remote=settings.remote)
    except CheckoutError as error:
        # DVC's own words here are "Checkout failed for following targets:" with an empty list.
        location = _remote_location(repo, remote)
        where = f"{location}, a folder that does not exist" if not _exists_if_local(location) else location
        unreachable = _unreachable(repo, remote)
        if unreachable:
            raise UserError(
                f"The DVC remote '{remote}' ({location}) cannot be reached ({unreachable}): check the network and "
                f"the remote's URL (`dvc remote list`), or choose another remote with storage.remote."
            ) from error
        raise UserError(
            f"The DVC remote '{remote}' ({where}) does not hold the files of {dvc_file} (md5 "
            f"{dvc_output(dvc_file).get('md5', '?')}): push them there from the machine that has them "
            f"(`dvc push {dvc_file} -r {remote}`), or choose another remote with storage.remote."
        ) from error
    except DvcException as error:
        raise UserError(
            f"DVC could not pull {dvc_file} from remote '{remote}': {_first_line(error)}; {_remote_advice()}"
        ) from error
    if not wanted.exists():
        raise UserError(f"Pulling {dvc_file} did not bring {wanted}: point the config at the path {dvc_file} tracks.")


def _refuse_unsaved_files(repo, dvc_file: str, replace_cached: bool) -> None:
    """Stop before a pull replaces or deletes a local file that `dvc_file` does not record (a model trained
    here, a file of the user's): DVC would replace it without asking when its cache holds a copy (`dvc exp run`
    puts one there) and delete the folder's other files. A file only the cache holds is replaced when asked
    (`replace_cached`); a file nothing else holds, never."""
    output = tracked_path(dvc_file)
    if output is None or not output.exists():
        return
    recorded = _recorded_md5s(repo, dvc_file)
    cache = repo.cache.local
    differ = []
    for file in [output] if output.is_file() else sorted(path for path in output.rglob("*") if path.is_file()):
        md5 = file_md5(file)
        if recorded.get(file.relative_to(output).as_posix() if output.is_dir() else "") != md5:
            differ.append((file, Path(cache.oid_to_path(md5)) if Path(cache.oid_to_path(md5)).is_file() else None))
    unsaved = [file for file, copy in differ if copy is None]
    if unsaved:
        shown = listed(unsaved)
        raise UserError(
            f"{shown} {'is' if len(unsaved) == 1 else 'are'} not what {dvc_file} records and nothing else holds a "
            f"copy, so pulling {dvc_file} would lose {'it' if len(unsaved) == 1 else 'them'}: keep "
            f"{'it' if len(unsaved) == 1 else 'them'} with `dvc add {output}` (then commit {dvc_file}), or move "
            f"{'it' if len(unsaved) == 1 else 'them'} out of {output}, and pull again. Nothing was pulled."
        )
    if differ and not replace_cached:
        shown = listed([file for file, _ in differ])
        raise UserError(
            f"{shown} differ{'s' if len(differ) == 1 else ''} from what {dvc_file} records (DVC's cache holds a copy): "
            f"move {'it' if len(differ) == 1 else 'them'} away to keep {'it' if len(differ) == 1 else 'them'} where "
            "it is, or replace it with `python commands.py pull force=true`. Nothing was pulled."
        )
    for file, copy in differ:
        log.warning("Replacing %s; its copy stays in DVC's cache: %s.", file, copy)


def _recorded_md5s(repo, dvc_file: str) -> dict[str, str]:
    """{path inside the output ('' for a file output): md5} as `dvc_file` records them; a folder's list comes
    from the cache, so it is empty before the folder was first pulled."""
    md5 = str(dvc_output(dvc_file).get("md5", ""))
    if not md5.endswith(".dir"):
        return {"": md5}
    listing = Path(repo.cache.local.oid_to_path(md5))
    try:
        return {entry["relpath"]: entry["md5"] for entry in json.loads(listing.read_text(encoding="utf-8"))}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _check_plugin(repo, remote: str) -> None:
    """A remote whose DVC plugin is missing (ssh:// without dvc-ssh, s3:// without dvc-s3): one sentence naming the
    package, before any work."""
    try:
        repo.cloud.get_remote(remote)
    except ImportError as error:
        package = re.search(r"requires '([^']+)'", str(error))
        raise UserError(
            f"The DVC remote '{remote}' ({_remote_location(repo, remote)}) needs a DVC plugin that is not installed: "
            f"`pip install {package.group(1) if package else 'dvc[all]'}`, or choose another remote with "
            "storage.remote."
        ) from error


def _unreachable(repo, remote: str) -> str | None:
    """Why a remote cannot be reached (its host unknown, refusing, silent), or None when it answers or is local.
    DVC reports a remote it cannot reach as one that lacks the files."""
    url = str(repo.config["remote"][remote]["url"])
    if url.startswith(("http://", "https://")):  # DVC's HTTP filesystem calls every failure "not found"
        try:
            request = urllib.request.Request(credentials.without_credentials(url), method="HEAD")
            with urllib.request.urlopen(request, timeout=10):
                return None
        except urllib.error.HTTPError:  # it answered
            return None
        except (urllib.error.URLError, OSError) as error:
            return credentials.mask_text(first_line(getattr(error, "reason", error)))
    if "://" not in url:
        return None
    try:
        odb = repo.cloud.get_remote(remote)
        odb.fs.exists(odb.path)
    except Exception as error:  # pylint: disable=broad-exception-caught  # each filesystem raises its own kinds
        return _first_line(error)
    return None


def _remote_location(repo, remote: str) -> str:
    """The remote's URL; a local folder's made absolute (DVC reads it relative to .dvc/)."""
    url = repo.config["remote"][remote]["url"]
    if "://" in url:
        return credentials.mask(url)
    return str((Path(repo.dvc_dir) / url).resolve())


def _exists_if_local(location: str) -> bool:
    return "://" in location or Path(location).is_dir()


@contextmanager
def _quiet_dvc() -> Iterator[None]:
    """DVC logs its own warnings and errors; ours say the same in one sentence, so its are held back."""
    loggers = [logging.getLogger(name) for name in ("dvc", "dvc_data")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _open_repo():
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    try:
        return Repo(os.getcwd())
    except NotDvcRepoError as error:
        raise UserError(
            "This folder is not inside a DVC repository: run the commands from the project root."
        ) from error


def _remote_name(repo, remote: str | None) -> str:
    """The remote DVC will use: the one asked for, else the default; a UserError when neither exists."""
    name = remote or repo.config["core"].get("remote")
    if not name:
        raise UserError("No DVC remote is configured: add one with `dvc remote add -d NAME URL` or set storage.remote.")
    if name not in repo.config["remote"]:
        known = ", ".join(repo.config["remote"]) or "none"
        raise UserError(
            f"There is no DVC remote named '{name}' (configured: {known}): set storage.remote to one of them."
        )
    return name


def _check_gdrive_credentials(repo, remote: str) -> None:
    """Stop before DVC would wait forever for a browser sign-in to Google Drive.

    With no service account, no GDRIVE_CREDENTIALS_DATA and no cached token, dvc-gdrive opens an
    OAuth flow that blocks a non-interactive run; an interactive terminal may go through it.
    """
    settings = repo.config["remote"][remote]
    if not settings["url"].startswith("gdrive://") or os.getenv("GDRIVE_CREDENTIALS_DATA"):
        return
    if settings.get("gdrive_use_service_account"):
        if settings.get("gdrive_service_account_json_file_path"):
            return
        raise UserError(
            f"DVC remote '{remote}' uses a service account but has no key file: set it with `dvc remote modify "
            f"--local {remote} gdrive_service_account_json_file_path KEY.json` or export GDRIVE_CREDENTIALS_DATA."
        )
    if not settings.get("gdrive_client_id"):
        raise UserError(
            f"DVC remote '{remote}' (Google Drive) has no OAuth client, and Google blocks DVC's built-in one: "
            f"set gdrive_client_id and gdrive_client_secret with `dvc remote modify --local {remote} ...` (see "
            "docs/DVC.md), use a service account, or choose another remote with storage.remote=local."
        )
    token = _cached_gdrive_token(settings)
    if not token.is_file() and not sys.stdin.isatty():
        raise UserError(
            f"DVC remote '{remote}' (Google Drive) needs a sign-in in a browser, which this non-interactive run "
            f"cannot do: run `dvc pull` once in a terminal to cache a token ({token}), export "
            "GDRIVE_CREDENTIALS_DATA, or choose another remote with storage.remote=local."
        )


def _cached_gdrive_token(settings) -> Path:
    """Where pydrive2 caches the user's OAuth token for this remote (see pydrive2.fs.spec)."""
    if settings.get("gdrive_user_credentials_file"):
        return Path(settings["gdrive_user_credentials_file"])
    import appdirs

    profile = settings.get("profile") or "default"
    return (
        Path(appdirs.user_cache_dir("pydrive2fs", appauthor=False)) / settings["gdrive_client_id"] / f"{profile}.json"
    )


def _remote_advice() -> str:
    return (
        "check that the remote is reachable and holds the data (`dvc status -c`), or pick another with storage.remote"
    )


def _first_line(error: Exception) -> str:
    return credentials.mask_text(first_line(error))
