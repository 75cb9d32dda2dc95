"""What describes a run: the resolved config, the git commit, the DVC hash of the data, library versions."""

import hashlib
import subprocess
from importlib.metadata import version
from pathlib import Path

from face_vae import file_guards, storage
from face_vae.core.data.face_crops import META_FILE
from face_vae.tracking import registry

LIBRARIES = ("torch", "torchvision", "lightning", "hydra-core", "mlflow", "dvc")


def flat_params(values: dict[str, object], data: dict[str, str]) -> dict[str, str]:
    """The resolved config values ({'dotted.key': value}) as strings, plus the git commit, the data's
    provenance (`data_provenance`) and library versions. A null value is left out: MLflow would show the
    string "None", which reads like a value."""
    params = {key: str(value) for key, value in values.items() if value is not None}
    commit, dirty = git_state()
    params.update(git_commit=commit, git_dirty=str(dirty), **data)
    params.update({f"version.{name}": version(name) for name in LIBRARIES})
    return params


def data_provenance(data_dvc: str, source_dir: str | None, prepared_dir: str, kind: str) -> dict[str, str]:
    """`data_dvc_md5` when the data used (`source_dir`; None for drawn data) is the one `data_dvc` tracks;
    otherwise where it came from and `prepared_data_md5`, a fingerprint of the prepared folder
    (meta.json and the image name lists)."""
    tracked = storage.tracked_path(data_dvc)
    source = Path(source_dir).resolve() if source_dir else None
    if source is not None and tracked is not None and source.is_relative_to(tracked.resolve()):
        md5 = storage.dvc_output(data_dvc).get("md5")
        return {"data_dvc_md5": md5} if md5 else {"data_source": str(source)}
    fingerprint = hashlib.md5()
    prepared = Path(prepared_dir)
    for path in sorted([prepared / META_FILE, *prepared.glob("*.txt")]):
        if path.is_file():
            fingerprint.update(path.name.encode() + path.read_bytes())
    return {"data_source": str(source or kind), "prepared_data_md5": fingerprint.hexdigest()}


def git_state() -> tuple[str, bool]:
    """(commit id, whether the work tree has uncommitted changes); ('unknown', False) outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout
        status = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False
    return commit.strip(), bool(status.strip())


def dvc_hash(dvc_file: str) -> str:
    """The md5 that a .dvc file records for its output, or 'none' when there is no such file."""
    return storage.dvc_output(dvc_file).get("md5", "none")


def model_params(model_file: str, path: Path, models_dvc: str) -> dict[str, str]:
    """What names the model a run used: `model_file` as asked, the md5 of the file read, and the registered version
    it resolved to (an alias moves: `models:/face_vae@champion` alone does not say which model ran), or the md5
    models.dvc records when the file is the one it tracks."""
    params = {"model_file": str(model_file), "model_md5": file_guards.file_md5(path)}
    registered = registry.pinned_version(path)
    tracked = storage.tracked_path(models_dvc)
    if registered is not None:
        params["model_version"] = registered
    elif tracked is not None and Path(path).resolve().is_relative_to(tracked.resolve()):
        params["model_dvc_md5"] = dvc_hash(models_dvc)
    return params
