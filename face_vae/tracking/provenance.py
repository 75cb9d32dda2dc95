"""What describes a run: the resolved config, the git commit, the DVC hash of the data, library versions."""

import subprocess
from importlib.metadata import version

from omegaconf import DictConfig, OmegaConf

from face_vae import storage

LIBRARIES = ("torch", "torchvision", "lightning", "hydra-core", "mlflow", "dvc")


def flat_params(cfg: DictConfig) -> dict[str, str]:
    """The resolved config as {'dotted.key': value}, plus the git commit, data hash and versions."""
    params = {}

    def flatten(node: object, prefix: str) -> None:
        if isinstance(node, dict) and node:
            for key, value in node.items():
                flatten(value, f"{prefix}{key}.")
        else:
            params[prefix.rstrip(".")] = str(node)

    flatten(OmegaConf.to_container(cfg, resolve=True), "")
    commit, dirty = git_state()
    params.update(git_commit=commit, git_dirty=str(dirty), data_dvc_md5=dvc_hash(cfg.storage.data_dvc))
    params.update({f"version.{name}": version(name) for name in LIBRARIES})
    return params


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
