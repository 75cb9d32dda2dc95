"""What `train` checks before it spends any time: every problem found is reported at once, so a user fixes them in
one go (litgpt's validate_args is the model). The checks that need the prepared data or the built model follow."""

from pathlib import Path

import lightning as L
from omegaconf import DictConfig

from face_vae import file_guards
from face_vae.callbacks.progress import EpochHistory
from face_vae.core.data.face_crops import read_meta
from face_vae.core.errors import UserError
from face_vae.model_records import is_model_file, training_data
from face_vae.stages import run_folder
from face_vae.stages.shared import model_file_path


def problems(cfg: DictConfig) -> list[str]:
    """The model file, the smoke run's target and the checkpoints folder: every problem found (train reports them
    with the other extras' at once)."""
    return [
        problem
        for problem in (
            _model_file_problem(cfg),
            _replaces_a_real_model(cfg),
            cfg.history_file
            and file_guards.foreign_file(cfg.history_file, "history_file", "a history", EpochHistory.is_history),
            None if cfg.resume else run_folder.foreign_files(Path(cfg.checkpoints_dir)),
        )
        if problem
    ]


def _model_file_problem(cfg: DictConfig) -> str | None:
    try:
        model_file_path(cfg.model_file)  # not a folder
    except UserError as error:
        return str(error)
    return file_guards.foreign_file(cfg.model_file, "model_file", "a model", is_model_file)


def _replaces_a_real_model(cfg: DictConfig) -> str | None:
    """A smoke run (data=synthetic) never replaces a model trained on real faces: those take hours."""
    existing = Path(cfg.model_file)
    if cfg.data.kind == "synthetic" and existing.is_file() and training_data(existing) not in (None, "synthetic"):
        return (
            f"{existing} holds a model trained on real faces, and this run on drawn faces (data=synthetic) would "
            "replace it: give the smoke run its own file, e.g. model_file=models/smoke.pt (and infer "
            "model_file=models/smoke.pt), or move the real model away first. Nothing was run."
        )
    return None


def batch_fits(cfg: DictConfig, prepared_dir: Path) -> None:
    """Refuse a batch larger than the training split: every step takes a full batch (the last, short one is
    dropped), so there would be no step at all and an untrained model saved."""
    images = read_meta(prepared_dir).get("counts", {}).get(cfg.data.train_split, 0)
    if images < cfg.data.batch_size:
        raise UserError(
            f"data.batch_size={cfg.data.batch_size} is more than the {images} images of the "
            f"'{cfg.data.train_split}' split, so training would take no step: lower data.batch_size to at most "
            f"{images}, or train on more images."
        )


def model_fits(cfg: DictConfig, module: L.LightningModule, resume_from: str | None) -> None:
    """The checkpoint resumed from has this model's architecture; the folders are writable, with room for the
    model file and the checkpoints."""
    if resume_from:
        run_folder.check_same_architecture(resume_from, module)
    weights = 4 * sum(parameter.numel() for parameter in module.parameters())  # float32 on disk
    components = (cfg.model.get("prior") or {}).get("components", 1)
    prior = 4 * components * module.network.latent_dim**2  # a full-covariance mixture's Cholesky factors
    file_guards.check_room(Path(cfg.model_file).parent, weights + prior, "model_file")
    # best.ckpt and last.ckpt, each with the weights and Adam's two moments, written beside an older copy.
    file_guards.check_room(Path(cfg.checkpoints_dir), 2 * 3 * weights * 2, "checkpoints_dir")
