"""The `train` stage: data -> model -> Lightning fit -> saved model -> MLflow and DVC."""

import json
import logging
import os
import time
import uuid
from pathlib import Path

import lightning as L
import torch
from hydra.utils import get_class
from lightning.pytorch.loggers import MLFlowLogger
from omegaconf import DictConfig, OmegaConf

from face_vae import atomic, hardware, locks, storage
from face_vae.callbacks.checkpoints import RunFiles, RunIdentity
from face_vae.callbacks.progress import EpochHistory
from face_vae.config import build, flat_values
from face_vae.data.face_crops import FaceCrops, read_meta
from face_vae.errors import UserError
from face_vae.models.codes import encoder_means
from face_vae.models.model_file import save_model, training_data
from face_vae.models.vae_module import NonFiniteLoss
from face_vae.stages.shared import (
    build_trainer,
    config_yaml,
    data_module,
    model_file_path,
    prepared_data,
    run_params,
    storage_settings,
    tracking_uri,
)
from face_vae.tracking import training

log = logging.getLogger(__name__)
RUN_ID_FILE = "mlflow_run_id.txt"
UNSENT_METRICS_FILE = "unsent_metrics.jsonl"  # kept while the MLflow server does not answer
IDENTITY_FILE = "run.json"  # which run the checkpoints belong to: every checkpoint records the same id
RUN_CONFIG_FILE = "run_config.yaml"  # the resolved config of the run that writes the checkpoints
FIXED_ON_RESUME = ("model", "data", "seed")  # what the weights, the optimiser state and the data order depend on
SPEED_ONLY = {"model.compile", "data.num_workers"}  # may change on resume


def run(cfg: DictConfig) -> None:
    """Train the VAE on the train split, validate on val, save `cfg.model_file`, log and version it."""
    # model_file=null: models/<the model's own name>.pt, set here so that it is logged and compared as chosen.
    cfg.model_file = cfg.model_file or f"models/{get_class(cfg.model['_target_']).file_name}.pt"
    model_file_path(cfg.model_file)  # not a folder
    _keep_a_real_model(cfg)
    if not cfg.resume:
        _check_checkpoints_dir_is_ours(Path(cfg.checkpoints_dir))
    # One run at a time writes a checkpoints folder and a model file (in a DDP job, rank 0 holds them for all).
    paths = {"checkpoints_dir": Path(cfg.checkpoints_dir), "model_file": Path(cfg.model_file)}
    with locks.holding(paths if _first_rank() else {}):
        _train(cfg, Path(cfg.checkpoints_dir))


def _train(cfg: DictConfig, checkpoints_dir: Path) -> None:  # pylint: disable=too-many-locals  # the run's steps
    resume_from = _resume_checkpoint(checkpoints_dir) if cfg.resume else None
    uri = tracking_uri(cfg)  # fail fast, before any work
    runtime = resolve_runtime(cfg)
    changed_on_resume = _check_resume_config(cfg, checkpoints_dir) if resume_from else ""
    L.seed_everything(cfg.seed, workers=True)
    prepared_dir = prepared_data(cfg, force=cfg.force)
    _check_batch_size(cfg, prepared_dir)
    datamodule = data_module(cfg.data, prepared_dir)
    module = build(cfg.model, image_size=cfg.data.image_size, channels_last=runtime.channels_last)
    if resume_from:
        _check_same_architecture(resume_from, module)
    _check_room(cfg, module)
    if not resume_from and _first_rank():
        _set_aside_earlier_run(checkpoints_dir)
    identity = _identity(checkpoints_dir)
    logger = _mlflow_logger(cfg, uri, runtime, bool(resume_from), changed_on_resume) if uri is not None else None
    # The run's own files go beside its checkpoints once fitting starts, so that a fresh run's folder is still
    # empty when Lightning's checkpoint callback looks at it (it warns about a folder that holds files).
    run_files = {IDENTITY_FILE: json.dumps(identity)}
    if not resume_from:
        run_files[RUN_CONFIG_FILE] = OmegaConf.to_yaml(cfg, resolve=True)
    if logger is not None and logger.run_id is not None:  # None in the extra processes of a DDP run: rank 0 logs
        run_files[RUN_ID_FILE] = logger.run_id
    callbacks = [build(node) for node in cfg.callbacks.values()]
    callbacks += [RunIdentity(identity), RunFiles(checkpoints_dir, run_files)]
    if cfg.history_file:
        callbacks.append(EpochHistory(Path(cfg.history_file)))
    trainer = build_trainer(cfg, runtime, callbacks, logger or False)
    _fit(trainer, module, datamodule, resume_from)
    if not trainer.is_global_zero:
        return  # with DDP, one process writes the model, logs it and versions it
    try:
        _save_log_and_version(cfg, trainer, module, prepared_dir, runtime, logger, uri)
    except BaseException as error:
        if logger is not None:  # stopped (Ctrl-C, SIGTERM) or failed after fitting: the run says so
            logger.end("KILLED" if isinstance(error, (KeyboardInterrupt, SystemExit)) else "FAILED")
        raise
    if logger is not None:
        logger.end("success")


def _save_log_and_version(  # pylint: disable=too-many-arguments  # the fitted run's parts
    cfg: DictConfig, trainer: L.Trainer, module: L.LightningModule, prepared_dir: Path,
    runtime: hardware.Runtime, logger: training.PatientLogger | None, uri: str | None,
) -> None:  # fmt: skip
    """The best weights, the fitted prior, the saved model file, the logged and registered model, DVC."""
    checkpoints_dir = Path(cfg.checkpoints_dir)
    _keep_best_weights(trainer, module)
    network = module.network
    if getattr(module, "prior", None) is not None:  # the DCGAN has none: it samples N(0, I), as it trained
        network.prior = _fitted_prior(cfg, module, prepared_dir, runtime)
    model_file = Path(cfg.model_file)
    save_model(network, model_file, trained_on=cfg.data.kind)
    log.info("Saved the model to %s.", model_file)
    if logger is not None:
        _log_model(cfg, logger, uri, [model_file, *checkpoints_dir.glob("*.ckpt")])
    storage.version_models(storage_settings(cfg), model_file.parent, throwaway=cfg.data.kind == "synthetic")


def _keep_a_real_model(cfg: DictConfig) -> None:
    """A smoke run (data=synthetic) never replaces a model trained on real faces: those take hours."""
    existing = Path(cfg.model_file)
    if cfg.data.kind == "synthetic" and existing.is_file() and training_data(existing) not in (None, "synthetic"):
        raise UserError(
            f"{existing} holds a model trained on real faces, and this run on drawn faces (data=synthetic) would "
            f"replace it: give the smoke run its own file, e.g. model_file=models/smoke.pt (and infer "
            "model_file=models/smoke.pt), or move the real model away first. Nothing was run."
        )


def _check_batch_size(cfg: DictConfig, prepared_dir: Path) -> None:
    """Refuse a batch larger than the training split: every step takes a full batch (the last, short one is
    dropped), so there would be no step at all and an untrained model saved."""
    images = read_meta(prepared_dir).get("counts", {}).get(cfg.data.train_split, 0)
    if images < cfg.data.batch_size:
        raise UserError(
            f"data.batch_size={cfg.data.batch_size} is more than the {images} images of the "
            f"'{cfg.data.train_split}' split, so training would take no step: lower data.batch_size to at most "
            f"{images}, or train on more images."
        )


def _check_room(cfg: DictConfig, module: L.LightningModule) -> None:
    """Writable folders with room for the model file and the checkpoints, checked before training."""
    weights = 4 * sum(parameter.numel() for parameter in module.parameters())  # float32 on disk
    prior = 4 * 200 * (cfg.model.get("latent_dim") or 0) ** 2  # a full-covariance mixture's Cholesky factors
    atomic.check_room(Path(cfg.model_file).parent, weights + prior, "model_file")
    # best.ckpt and last.ckpt, each with the weights and Adam's two moments, written beside an older copy.
    atomic.check_room(Path(cfg.checkpoints_dir), 2 * 3 * weights * 2, "checkpoints_dir")


def _fit(trainer: L.Trainer, module: L.LightningModule, datamodule: L.LightningDataModule, resume_from: str | None):
    """trainer.fit, with a loss that became NaN or infinite said in the user's words."""
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from)
    except NonFiniteLoss as error:
        raise UserError(
            f"{error}: lower model.lr or raise model.sigma; the last checkpoint (checkpoints_dir) keeps the last "
            "good state and the saved model was not replaced."
        ) from error


def _mlflow_logger(
    cfg: DictConfig, uri: str, runtime: hardware.Runtime, resumed: bool, changed_on_resume: str
) -> MLFlowLogger:
    """The run's logger: a new run, or on resume the run that wrote the checkpoints."""
    checkpoints_dir = Path(cfg.checkpoints_dir)
    run_id = _read_run_id(checkpoints_dir) if resumed else None
    params = run_params(cfg) | runtime.params()
    logger = training.training_logger(
        cfg.tracking.experiment, uri, params, config_yaml(cfg), checkpoints_dir / UNSENT_METRICS_FILE,
        run_id=run_id, asynchronous=cfg.tracking.async_logging, parent_run_id=cfg.tracking.parent_run_id,
    )  # fmt: skip
    if logger.run_id is not None and changed_on_resume:  # the run keeps its first params; a resume's changes: a tag
        logger.experiment.set_tag(logger.run_id, f"resumed_{_resume_count(checkpoints_dir)}", changed_on_resume)
    return logger


def _log_model(cfg: DictConfig, logger: training.PatientLogger, uri: str, files: list[Path]) -> None:
    """Log the saved model and checkpoints, and register the model, when the server answers; a warning when not
    (the model file is saved already)."""

    def log_and_register() -> None:
        model_uri = training.log_trained_model(logger, files[0], files)
        if cfg.tracking.registered_model:
            training.register_trained_model(logger, model_uri, uri, cfg.tracking.registered_model)

    if not (logger.send_backlog() and logger.guarded(log_and_register, "the trained model")):
        log.warning("The run at %s lacks the trained model (the server did not answer); it is saved in %s.", uri,
                    files[0])  # fmt: skip


def _fitted_prior(cfg: DictConfig, module: L.LightningModule, prepared_dir: Path, runtime: hardware.Runtime):
    """The module's prior, fitted to the encoder's codes of the training images when it learns from them."""
    prior = module.prior
    if prior.needs_codes:
        # On the training device (Lightning hands the model back on the CPU), in large batches there.
        encoder = module.network.encoder.to(runtime.machine.device)
        batch_size = 1024 if runtime.machine.device == "cuda" else 128
        with runtime.autocast():
            codes = encoder_means(encoder, FaceCrops(prepared_dir, cfg.data.train_split), batch_size)
        encoder.cpu()
        log.info("Fitting %s to the codes of %d training images.", prior.describe(), len(codes))
        start = time.perf_counter()
        prior.fit(codes, seed=cfg.seed)
        log.info("Fitted the prior in %.0f s.", time.perf_counter() - start)
    return prior


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
        runtime.precision, runtime.channels_last, runtime.threads
    )  # fmt: skip
    return runtime


def _keep_best_weights(trainer: L.Trainer, module: L.LightningModule) -> None:
    """Load the weights with the lowest validation loss: the last epoch is not always the best.
    (A model with no validation loss, the DCGAN, keeps its last weights.)"""
    callback = trainer.checkpoint_callback
    best = callback.best_model_path if callback and callback.monitor else ""
    if best and Path(best).is_file():
        module.load_state_dict(torch.load(best, map_location="cpu", weights_only=True)["state_dict"])
        log.info("Keeping the weights of %s (%s %.1f).", best, callback.monitor, callback.best_model_score)


def _resume_checkpoint(checkpoints_dir: Path) -> str:
    """checkpoints_dir/last.ckpt, when it was written by the run the folder describes (run.json)."""
    last = checkpoints_dir / "last.ckpt"
    if not last.is_file():
        raise UserError(f"resume=true but there is no {last}: train without resume=true first.")
    written_by = _read_checkpoint(last).get(RunIdentity.KEY, {}).get("run")
    if (checkpoints_dir / "best.ckpt").is_file():  # read at the end of the run: a damaged one would cost the run
        _read_checkpoint(checkpoints_dir / "best.ckpt")
    described = _read_identity(checkpoints_dir).get("run")
    if written_by is not None and written_by != described:  # checkpoints from before identities were kept pass
        raise UserError(
            f"{last} was written by run {written_by}, not by run {described} that {checkpoints_dir / IDENTITY_FILE} "
            "describes: resume from the folder that run wrote, or train from scratch without resume=true."
        )
    log.info("Resuming from %s.", last)
    return str(last)


def _read_checkpoint(path: Path) -> dict:
    """A checkpoint's contents; a damaged file (truncated, overwritten) said in one sentence with what to do."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
            raise ValueError("no weights in it")
        return checkpoint
    except Exception as error:  # pylint: disable=broad-exception-caught  # torch.load raises many kinds here
        earlier = sorted(Path(path).parent.parent.glob(f"{Path(path).parent.name}.previous-*"))
        other = f", or resume an earlier run with checkpoints_dir={earlier[-1]} resume=true" if earlier else ""
        raise UserError(
            f"{path} is damaged (truncated or overwritten: it is not a readable checkpoint): start fresh with "
            f"resume=false (the folder is set aside, nothing is deleted){other}."
        ) from error


def _first_rank() -> bool:
    """Whether this process is the first of its job (always, without DDP): torchrun sets RANK, Lightning's own
    launcher LOCAL_RANK in the processes it starts."""
    return os.environ.get("RANK", "0") == "0" and os.environ.get("LOCAL_RANK", "0") == "0"


def _check_checkpoints_dir_is_ours(checkpoints_dir: Path) -> None:
    """Refuse, before any work, a checkpoints_dir that holds anything but a face_vae run's files: a fresh run sets
    that folder aside whole, and a user's folder (a project, documents) is not ours to move."""
    atomic.refuse_current_or_above(checkpoints_dir, "checkpoints_dir")
    folder = Path(os.path.abspath(checkpoints_dir))
    if folder.exists() and not folder.is_dir():
        raise UserError(
            f"checkpoints_dir={checkpoints_dir} is a file: choose a folder, e.g. checkpoints_dir=checkpoints."
        )
    foreign = sorted(path.name for path in folder.iterdir() if not _a_run_file(path.name)) if folder.is_dir() else []
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise UserError(
            f"checkpoints_dir={checkpoints_dir} holds files that are not a face_vae run's ({shown}), and a fresh run "
            "sets that folder aside: choose an empty or new checkpoints_dir. Nothing was moved."
        )


RUN_FILES = {IDENTITY_FILE, RUN_CONFIG_FILE, RUN_ID_FILE, UNSENT_METRICS_FILE, "resumes.txt"}


def _a_run_file(name: str) -> bool:
    """A file a face_vae run writes in its checkpoints folder (checkpoints, the run's files, their temp copies)."""
    return name in RUN_FILES or name.endswith((".ckpt", ".ckpt.tmp")) or (name.startswith(".") and ".tmp" in name)


def _set_aside_earlier_run(checkpoints_dir: Path) -> None:
    """Move the checkpoints of an earlier run out of the way of a fresh one (nothing is deleted): left in place,
    they would look like this run's, and resume=true would continue them under this run's config."""
    if not checkpoints_dir.is_dir() or not any(checkpoints_dir.iterdir()):
        return
    earlier = _read_identity(checkpoints_dir)
    stamp = earlier.get("started") or time.strftime("%Y%m%d-%H%M%S", time.localtime(checkpoints_dir.stat().st_mtime))
    folder = Path(os.path.abspath(checkpoints_dir))
    aside = folder.with_name(f"{folder.name}.previous-{stamp}")
    for number in range(2, 1000):  # a name taken by an earlier set-aside run gets a number
        if not aside.exists():
            break
        aside = folder.with_name(f"{folder.name}.previous-{stamp}-{number}")
    checkpoints_dir.rename(aside)
    log.warning("%s held an earlier run's checkpoints: moved them to %s (resume that run with checkpoints_dir=%s "
                "resume=true).", checkpoints_dir, aside, aside)  # fmt: skip


def _identity(checkpoints_dir: Path) -> dict[str, str]:
    """This run's identity: the one checkpoints_dir/run.json records (resume), or a new one (written with the
    run's files when fitting starts)."""
    return _read_identity(checkpoints_dir) or {"run": uuid.uuid4().hex, "started": time.strftime("%Y%m%d-%H%M%S")}


def _read_identity(checkpoints_dir: Path) -> dict[str, str]:
    try:
        return json.loads((checkpoints_dir / IDENTITY_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _check_same_architecture(checkpoint_path: str, module: L.LightningModule) -> None:
    """Refuse to resume from a checkpoint of another architecture, naming the weights that differ."""
    saved = _read_checkpoint(Path(checkpoint_path))["state_dict"]
    wanted = module.state_dict()
    differ = sorted(
        name
        for name in saved.keys() | wanted.keys()
        if name not in saved or name not in wanted or saved[name].shape != wanted[name].shape
    )
    if differ:
        shown = ", ".join(differ[:4]) + (f" and {len(differ) - 4} more" if len(differ) > 4 else "")
        raise UserError(
            f"{checkpoint_path} was trained with another model config ({shown} differ): resume with the config it was "
            "trained with, or train from scratch without resume=true."
        )


def _check_resume_config(cfg: DictConfig, checkpoints_dir: Path) -> str:
    """Refuse to resume with other model, data or seed values than the run that wrote the checkpoint;
    return the other values that changed (epochs, precision, ...) as 'key: old -> new; ...'."""
    saved_file = checkpoints_dir / RUN_CONFIG_FILE
    if not saved_file.is_file():
        return ""  # a checkpoint from before run configs were kept: the architecture check still applies
    saved, now = flat_values(OmegaConf.load(saved_file)), flat_values(cfg)
    changed = {key for key in saved.keys() | now.keys() if saved.get(key) != now.get(key)}
    fixed = sorted(key for key in changed if key.split(".")[0] in FIXED_ON_RESUME and key not in SPEED_ONLY)
    if fixed:
        shown = ", ".join(f"{key}={saved.get(key)!r} (now {now.get(key)!r})" for key in fixed[:3])
        raise UserError(
            f"resume=true continues a run trained with {shown}{' and more' if len(fixed) > 3 else ''}: resume with "
            "the same model, data and seed values, or train from scratch without resume=true."
        )
    return "; ".join(f"{key}: {saved.get(key)} -> {now.get(key)}" for key in sorted(changed) if key != "resume")


def _resume_count(checkpoints_dir: Path) -> int:
    """How many times this run has been resumed, this time included (counted in a file beside the checkpoints)."""
    counter = checkpoints_dir / "resumes.txt"
    count = int(counter.read_text()) + 1 if counter.is_file() else 1
    counter.write_text(str(count))
    return count


def _read_run_id(checkpoints_dir: Path) -> str | None:
    """The MLflow run that wrote the checkpoints, so that a resumed run logs into it."""
    path = checkpoints_dir / RUN_ID_FILE
    return path.read_text().strip() if path.is_file() else None
