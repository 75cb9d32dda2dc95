"""What `train` does beyond the core's story (face_vae/core/train.py): each extra a TrainingHooks subclass, added in
this order by face_vae/stages/settings.py. Remove one from there and `train` runs without it."""

import json
import logging
import os
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
from omegaconf import DictConfig, OmegaConf

from face_vae import hardware, locks, storage
from face_vae.core import hooks
from face_vae.core.config import words_given
from face_vae.core.hooks import TrainingHooks
from face_vae.core.progress import is_terminal
from face_vae.stages import run_folder, train_checks
from face_vae.stages.shared import config_yaml, run_params, storage_settings, tracking_uri

if TYPE_CHECKING:  # MLflow loads (over a second) only for a run that logs to it
    from face_vae.tracking.training import PatientLogger

log = logging.getLogger(__name__)


class RunFolder(TrainingHooks):
    """The checkpoints folder: resume=true continues its run with the run's saved config; a fresh run sets an earlier
    one aside; one run at a time holds the folder and the model file; files that are not face_vae's are refused."""

    def configure(self, cfg: DictConfig) -> DictConfig:
        if cfg.resume:  # the run's own config, with only the values given here over it
            return run_folder.with_saved_config(cfg, Path(cfg.checkpoints_dir))
        return cfg

    def problems(self) -> list[str]:
        return train_checks.problems(self.cfg)

    def holding(self) -> AbstractContextManager:
        # One run at a time writes a checkpoints folder and a model file (in a DDP job, rank 0 holds them for all).
        folders = {"checkpoints_dir": Path(self.cfg.checkpoints_dir), "model_file": Path(self.cfg.model_file)}
        return locks.holding(folders if first_rank() else {})

    def resume_checkpoint(self) -> str | None:
        if not self.cfg.resume:
            return None
        checkpoint = run_folder.resume_checkpoint(Path(self.cfg.checkpoints_dir))
        run_folder.changes_on_resume(self.cfg, Path(self.cfg.checkpoints_dir))  # refuses a changed model, data or seed
        return checkpoint

    def before_fit(self, module: L.LightningModule, prepared_dir: Path, resume_from: str | None) -> None:
        train_checks.batch_fits(self.cfg, prepared_dir)
        train_checks.model_fits(self.cfg, module, resume_from)
        if not resume_from and first_rank():
            run_folder.set_aside_earlier_run(Path(self.cfg.checkpoints_dir), self.cfg.keep_previous_runs)

    def callbacks(self, resume_from: str | None, loggers: list) -> list[L.Callback]:
        """The run's identity in every checkpoint, and the run's files beside them."""
        from face_vae.callbacks.checkpoints import RunFiles, RunIdentity
        from face_vae.callbacks.progress import EpochHistory

        folder = Path(self.cfg.checkpoints_dir)
        identity = run_folder.identity(folder)
        # The run's own files go beside its checkpoints once fitting starts, so that a fresh run's folder is still
        # empty when Lightning's checkpoint callback looks at it (it warns about a folder that holds files).
        run_files = {run_folder.IDENTITY_FILE: json.dumps(identity)}
        if not resume_from:
            run_files[run_folder.RUN_CONFIG_FILE] = OmegaConf.to_yaml(self.cfg, resolve=True)
            run_files[run_folder.CHOICES_FILE] = json.dumps(run_folder.group_choices(words_given("train")))
        run_id = hooks.run_id(loggers)
        if run_id is not None:  # None in the extra processes of a DDP run: rank 0 logs
            run_files[run_folder.RUN_ID_FILE] = run_id
        callbacks = [RunIdentity(identity), RunFiles(folder, run_files)]
        if self.cfg.history_file:
            callbacks.append(EpochHistory(Path(self.cfg.history_file)))
        return callbacks

    def trainer_arguments(self) -> dict[str, Any]:
        from face_vae.callbacks.checkpoints import ReplacingCheckpointIO  # a full disk never truncates a checkpoint

        return {"plugins": [ReplacingCheckpointIO()]}


class Precision(TrainingHooks):
    """runtime.precision, channels_last and threads: `auto` resolved for this machine, printed once; the resolved
    values are what MLflow logs and what a resume compares."""

    runtime: hardware.Runtime

    def configure(self, cfg: DictConfig) -> DictConfig:
        self.runtime = resolve_runtime(cfg)
        return cfg

    def module_arguments(self) -> dict[str, Any]:
        return {"channels_last": self.runtime.channels_last}

    def trainer_arguments(self) -> dict[str, Any]:
        return {"precision": self.runtime.precision}


class ProgressBar(TrainingHooks):
    """In a terminal Lightning's progress bar, counting epochs from 1 as the epoch lines do (on a GPU redrawn as often
    as metrics are logged: each redraw reads them on the host); in a log file the EpochLine callback does."""

    def callbacks(self, resume_from: str | None, loggers: list) -> list[L.Callback]:
        from face_vae.callbacks.progress import epoch_bars

        return epoch_bars(hardware.detect().device, self.cfg.trainer.log_every_n_steps)

    def trainer_arguments(self) -> dict[str, Any]:
        return {"enable_progress_bar": is_terminal()}


class MLflowRun(TrainingHooks):
    """With tracking.enabled: a run (every resolved value, the git commit, the data, losses, pictures), the saved model
    logged and registered, and the run ended as the training ended. A resume continues the run that wrote the
    checkpoints."""

    uri: str | None = None
    run_logger: "PatientLogger | None" = None

    def problems(self) -> list[str]:
        self.uri = tracking_uri(self.cfg)  # fail fast, before any work
        return []

    def logger(self, resume_from: str | None) -> "PatientLogger | None":
        if self.uri is None:
            return None
        from face_vae.tracking import training  # pylint: disable=import-outside-toplevel  # see TYPE_CHECKING

        cfg, folder = self.cfg, Path(self.cfg.checkpoints_dir)
        changed_on_resume = run_folder.changes_on_resume(cfg, folder) if resume_from else ""
        runtime = hardware.Runtime(cfg.runtime.precision, cfg.runtime.channels_last, cfg.runtime.threads,
                                   hardware.detect())  # fmt: skip
        self.run_logger = training.training_logger(
            cfg.tracking.experiment,
            self.uri,
            run_params(cfg) | runtime.params(),
            config_yaml(cfg),
            folder / run_folder.UNSENT_METRICS_FILE,
            run_id=run_folder.read_run_id(folder) if resume_from else None,
            asynchronous=cfg.tracking.async_logging,
            parent_run_id=cfg.tracking.parent_run_id,
        )
        if self.run_logger.run_id is not None and changed_on_resume:  # the run keeps its first params: a tag
            self.run_logger.experiment.set_tag(
                self.run_logger.run_id, f"resumed_{run_folder.count_resume(folder)}", changed_on_resume
            )
        return self.run_logger

    def after_save(self, model_file: Path, loggers: list) -> None:
        """Log the saved model and checkpoints, and register the model, when the server answers; a warning when not
        (the model file is saved already)."""
        logger, uri = self.run_logger, self.uri
        if logger is None or uri is None:
            return
        from face_vae.tracking import training  # pylint: disable=import-outside-toplevel  # see TYPE_CHECKING

        files = [model_file, *Path(self.cfg.checkpoints_dir).glob("*.ckpt")]

        def log_and_register() -> None:
            model_uri = training.log_trained_model(logger, model_file, files)
            if self.cfg.tracking.registered_model:
                training.register_trained_model(logger, model_uri, uri, self.cfg.tracking.registered_model)

        if not (logger.send_backlog() and logger.guarded(log_and_register, "the trained model")):
            log.warning(
                "The run at %s lacks the trained model (the server did not answer); it is saved in %s.", uri, model_file
            )

    def ended(self, status: str) -> None:
        if self.run_logger is not None:
            self.run_logger.end(status)


class DVCVersions(TrainingHooks):
    """The saved model added to DVC (models.dvc) and pushed as storage.* says; a smoke run's (data=synthetic) is not."""

    def after_save(self, model_file: Path, loggers: list) -> None:
        throwaway = self.cfg.data.kind == "synthetic"
        storage.version_models(storage_settings(self.cfg), model_file.parent, throwaway=throwaway)


def resolve_runtime(cfg: DictConfig) -> hardware.Runtime:
    """Resolve `auto` precision, layout and threads for this machine into `runtime` (what is logged and
    what a resume compares); print the choice once."""
    # DDP ranks on one machine share its cores (Lightning's launcher starts `devices` processes per node).
    ranks = (
        cfg.trainer.devices
        if str(cfg.trainer.strategy).startswith("ddp") and isinstance(cfg.trainer.devices, int)
        else 1
    )
    runtime = hardware.resolve(cfg.runtime.precision, cfg.runtime.channels_last, cfg.runtime.threads, processes=ranks)
    cfg.runtime.precision, cfg.runtime.channels_last, cfg.runtime.threads = (
        runtime.precision,
        runtime.channels_last,
        runtime.threads,
    )
    return runtime


def first_rank() -> bool:
    """Whether this process is the first of its job (always, without DDP): torchrun sets RANK, Lightning's own
    launcher LOCAL_RANK in the processes it starts."""
    return os.environ.get("RANK", "0") == "0" and os.environ.get("LOCAL_RANK", "0") == "0"
