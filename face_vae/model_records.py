"""What a model file records beyond its network and prior, read by the extras: whether a file is face_vae's (the
guards that refuse to replace others' files), the data it was trained on (a smoke run never replaces a real model;
the commands that read faces for it), the MLflow run that trained it (evaluate logs there) and its weights' checksum
(what an attribute classifier is keyed on). face_vae/core/models/model_file.py writes them."""

import zipfile
from pathlib import Path

import torch

from face_vae.core.models.model_file import FIRST_VAE_FORMAT, MODEL_FORMAT, tensors_checksum


def saved_format(path: Path) -> str | None:
    """The `format` a face_vae torch file records (a VAE, a classifier); None for any other file."""
    if not zipfile.is_zipfile(path):
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # pylint: disable=broad-exception-caught  # any unreadable file: not one of ours
        return None
    return str(saved.get("format")) if isinstance(saved, dict) else None


def is_model_file(path: Path) -> bool:
    """Whether `path` holds a VAE saved by face_vae (a file `train` may replace)."""
    return saved_format(path) in (MODEL_FORMAT, FIRST_VAE_FORMAT)


def training_data(path: Path) -> str | None:
    """The data the model in `path` was trained on (`celeba`, `synthetic`); None when the file is not readable
    as a model file (a file written before this was recorded counts as `celeba`: real faces, the safe guess)."""
    try:
        return str(torch.load(path, map_location="cpu", weights_only=True).get("trained_on", "celeba"))
    except Exception:  # pylint: disable=broad-exception-caught  # any unreadable file: not a model to protect
        return None


def training_recipe(path: Path) -> dict | None:
    """The data recipe `save_model` recorded in the file at `path`; None for an older file or one not readable."""
    try:
        recipe = torch.load(path, map_location="cpu", weights_only=True, mmap=True).get("data")
    except Exception:  # pylint: disable=broad-exception-caught  # any unreadable file: nothing recorded
        return None
    return dict(recipe) if isinstance(recipe, dict) else None


def weights_checksum(path: Path) -> str:
    """The checksum of the network's weights in the model file at `path`: what an attribute classifier of its codes
    is keyed on, so that a refitted prior (same weights, another file) keeps its classifier."""
    saved = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return str(saved.get("checksum") or tensors_checksum(saved["state_dict"]))


def training_run(path: Path) -> str:
    """The MLflow run that trained the model in `path` ('' when it was trained without tracking, or before this was
    recorded)."""
    try:
        return str(torch.load(path, map_location="cpu", weights_only=True, mmap=True).get("mlflow_run_id") or "")
    except Exception:  # pylint: disable=broad-exception-caught  # any unreadable file: nothing recorded
        return ""
