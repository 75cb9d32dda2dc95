"""The `train` stage: data -> model -> Lightning fit -> saved model -> MLflow and DVC."""

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from face_vae import hardware, locks, storage
from face_vae.callbacks.checkpoints import RunFiles, RunIdentity
from face_vae.callbacks.progress import EpochHistory
from face_vae.core.config import build, words_given
from face_vae.core.errors import Terminated
from face_vae.core.models.model_file import save_model
from face_vae.stages import run_folder, train_checks
from face_vae.stages.shared import (
    build_trainer,
    config_yaml,
    data_module,
    data_recipe,
    fit_to_training_codes,
    prepared_data,
    run_params,
    storage_settings,
    tracking_uri,
)

if TYPE_CHECKING:  # MLflow loads (over a second) only for a run that logs to it
    from face_vae.tracking.training import PatientLogger

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> None:
    """Train the model on the train split, validate on val, save `cfg.model_file`, log and version it."""
    if cfg.resume:  # the run's own config, with only the values given here over it
        cfg = run_folder.with_saved_config(cfg, Path(cfg.checkpoints_dir))
    train_checks.before_any_work(cfg)
    folder = Path(cfg.checkpoints_dir)
    # One run at a time writes a checkpoints folder and a model file (in a DDP job, rank 0 holds them for all).
    with locks.holding({"checkpoints_dir": folder, "model_file": Path(cfg.model_file)} if _first_rank() else {}):
        resume_from = run_folder.resume_checkpoint(folder) if cfg.resume else None
        uri = tracking_uri(cfg)  # fail fast, before any work
        runtime = resolve_runtime(cfg)
        changed_on_resume = run_folder.changes_on_resume(cfg, folder) if resume_from else ""
        L.seed_everything(cfg.seed, workers=True)
        prepared_dir = prepared_data(cfg, force=cfg.force)
        train_checks.batch_fits(cfg, prepared_dir)
        datamodule = data_module(cfg.data, prepared_dir)
        module = build(cfg.model, channels_last=runtime.channels_last)
        train_checks.model_fits(cfg, module, resume_from)
        if not resume_from and _first_rank():
            run_folder.set_aside_earlier_run(folder, cfg.keep_previous_runs)
        logger = _mlflow_logger(cfg, uri, runtime, resume_from, changed_on_resume) if uri is not None else None
        trainer = build_trainer(cfg, runtime, _callbacks(cfg, resume_from, logger), logger or False)
        try:
            trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from)  # a NaN loss stops it: a UserError
        except SystemExit as stop:  # Lightning turns Ctrl-C into exit(1) once it has cleaned up: say it as Ctrl-C
            if trainer.interrupted and not isinstance(stop, Terminated):
                raise KeyboardInterrupt from stop
            raise
        if trainer.is_global_zero:  # with DDP, one process writes the model, logs it and versions it
            _save_log_and_version(cfg, trainer, module, prepared_dir, runtime, logger, uri)


def _callbacks(cfg: DictConfig, resume_from: str | None, logger: "PatientLogger | None") -> list[L.Callback]:
    """The configured callbacks, and the run's identity and files written beside its checkpoints."""
    folder = Path(cfg.checkpoints_dir)
    identity = run_folder.identity(folder)
    # The run's own files go beside its checkpoints once fitting starts, so that a fresh run's folder is still
    # empty when Lightning's checkpoint callback looks at it (it warns about a folder that holds files).
    run_files = {run_folder.IDENTITY_FILE: json.dumps(identity)}
    if not resume_from:
        run_files[run_folder.RUN_CONFIG_FILE] = OmegaConf.to_yaml(cfg, resolve=True)
        run_files[run_folder.CHOICES_FILE] = json.dumps(run_folder.group_choices(words_given("train")))
    if logger is not None and logger.run_id is not None:  # None in the extra processes of a DDP run: rank 0 logs
        run_files[run_folder.RUN_ID_FILE] = logger.run_id
    callbacks = [build(node) for node in cfg.callbacks.values()]
    callbacks += [RunIdentity(identity), RunFiles(folder, run_files)]
    if cfg.history_file:
        callbacks.append(EpochHistory(Path(cfg.history_file)))
    return callbacks


def _save_log_and_version(  # pylint: disable=too-many-arguments  # the fitted run's parts
    cfg: DictConfig,
    trainer: L.Trainer,
    module: L.LightningModule,
    prepared_dir: Path,
    runtime: hardware.Runtime,
    logger: "PatientLogger | None",
    uri: str | None,
) -> None:
    """The best weights, the fitted prior, the saved model file, the logged and registered model, DVC; the MLflow
    run ends only then (KILLED or FAILED when stopped or broken on the way)."""
    try:
        _keep_best_weights(trainer, module)
        network = module.network
        network.prior = fit_to_training_codes(
            module.prior, network, prepared_dir, cfg.data.train_split, runtime, cfg.seed
        )
        model_file = Path(cfg.model_file)
        run_id = logger.run_id if logger is not None and logger.run_id else ""
        save_model(network, model_file, trained_on=cfg.data.kind, data=data_recipe(cfg.data), run_id=run_id)
        log.info("Saved the model to %s.", model_file)
        if logger is not None:
            _log_model(cfg, logger, uri, [model_file, *Path(cfg.checkpoints_dir).glob("*.ckpt")])
        storage.version_models(storage_settings(cfg), model_file.parent, throwaway=cfg.data.kind == "synthetic")
    except BaseException as error:
        if logger is not None:
            logger.end("KILLED" if isinstance(error, (KeyboardInterrupt, SystemExit)) else "FAILED")
        raise
    if logger is not None:
        logger.end("success")


def _mlflow_logger(
    cfg: DictConfig, uri: str, runtime: hardware.Runtime, resume_from: str | None, changed_on_resume: str
) -> "PatientLogger":
    """The run's logger: a new run, or on resume the run that wrote the checkpoints."""
    from face_vae.tracking import training  # pylint: disable=import-outside-toplevel  # see TYPE_CHECKING

    folder = Path(cfg.checkpoints_dir)
    params = run_params(cfg) | runtime.params()
    logger = training.training_logger(
        cfg.tracking.experiment,
        uri,
        params,
        config_yaml(cfg),
        folder / run_folder.UNSENT_METRICS_FILE,
        run_id=run_folder.read_run_id(folder) if resume_from else None,
        asynchronous=cfg.tracking.async_logging,
        parent_run_id=cfg.tracking.parent_run_id,
    )
    if logger.run_id is not None and changed_on_resume:  # the run keeps its first params; a resume's changes: a tag
        logger.experiment.set_tag(logger.run_id, f"resumed_{run_folder.count_resume(folder)}", changed_on_resume)
    return logger


def _log_model(cfg: DictConfig, logger: "PatientLogger", uri: str, files: list[Path]) -> None:
    """Log the saved model and checkpoints, and register the model, when the server answers; a warning when not
    (the model file is saved already)."""
    from face_vae.tracking import training  # pylint: disable=import-outside-toplevel  # see TYPE_CHECKING

    def log_and_register() -> None:
        model_uri = training.log_trained_model(logger, files[0], files)
        if cfg.tracking.registered_model:
            training.register_trained_model(logger, model_uri, uri, cfg.tracking.registered_model)

    if not (logger.send_backlog() and logger.guarded(log_and_register, "the trained model")):
        log.warning(
            "The run at %s lacks the trained model (the server did not answer); it is saved in %s.", uri, files[0]
        )


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


def _keep_best_weights(trainer: L.Trainer, module: L.LightningModule) -> None:
    """Load the weights with the lowest validation loss: the last epoch is not always the best."""
    callback = trainer.checkpoint_callback
    best = callback.best_model_path if callback and callback.monitor else ""
    if best and Path(best).is_file():
        module.load_state_dict(torch.load(best, map_location="cpu", weights_only=True)["state_dict"])
        log.info("Keeping the weights of %s (%s %.1f).", best, callback.monitor, callback.best_model_score)


def _first_rank() -> bool:
    """Whether this process is the first of its job (always, without DDP): torchrun sets RANK, Lightning's own
    launcher LOCAL_RANK in the processes it starts."""
    return os.environ.get("RANK", "0") == "0" and os.environ.get("LOCAL_RANK", "0") == "0"
