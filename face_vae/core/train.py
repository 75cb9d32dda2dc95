"""`train`: the prepared data -> the model -> Lightning's fit -> the prior fitted to the training codes -> the model
file. What else a run does (its checkpoints folder and locks, MLflow, DVC, the precision for this machine) the extras
add at the points face_vae/core/hooks.py names."""

import logging
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig

from face_vae.core import hooks
from face_vae.core.config import build
from face_vae.core.data.face_crops import FaceCrops
from face_vae.core.errors import Terminated
from face_vae.core.models.codes import encoder_means
from face_vae.core.models.model_file import save_model
from face_vae.core.models.priors import Prior
from face_vae.core.prepare import data_module, data_recipe, prepared_data

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> None:
    """Train the model on the train split, validate on val, fit its prior to the training codes, save
    `cfg.model_file`; the extras' hooks run at each step."""
    extras = hooks.training_hooks()
    for extra in extras:  # e.g. a resume's saved config; `auto` values resolved for this machine
        cfg = extra.configure(cfg)
    for extra in extras:
        extra.cfg = cfg
    hooks.refuse_problems(extras)
    with ExitStack() as held:
        for extra in extras:
            held.enter_context(extra.holding())
        resume_from = next((path for extra in extras if (path := extra.resume_checkpoint())), None)
        L.seed_everything(cfg.seed, workers=True)
        prepared_dir = prepared_data(cfg, force=cfg.force)
        datamodule = data_module(cfg.data, prepared_dir)
        module = build(cfg.model, **_merged(extra.module_arguments() for extra in extras))
        for extra in extras:
            extra.before_fit(module, prepared_dir, resume_from)
        loggers = [logger for extra in extras if (logger := extra.logger(resume_from)) is not None]
        callbacks = [build(node) for node in cfg.callbacks.values()]
        callbacks += [callback for extra in extras for callback in extra.callbacks(resume_from, loggers)]
        arguments = _merged(extra.trainer_arguments() for extra in extras)
        trainer = build(cfg.trainer, callbacks=callbacks, logger=loggers or False, **arguments)
        try:
            trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from)  # a NaN loss stops it: a UserError
        except SystemExit as stop:  # Lightning turns Ctrl-C into exit(1) once it has cleaned up: say it as Ctrl-C
            if trainer.interrupted and not isinstance(stop, Terminated):
                raise KeyboardInterrupt from stop
            raise
        if trainer.is_global_zero:  # with DDP, one process saves the model, and the extras log and version it
            _save(cfg, trainer, module, prepared_dir, extras, loggers)


def _save(  # pylint: disable=too-many-arguments  # the fitted run's parts
    cfg: DictConfig,
    trainer: L.Trainer,
    module: L.LightningModule,
    prepared_dir: Path,
    extras: list[hooks.TrainingHooks],
    loggers: list,
) -> None:
    """The best weights and the fitted prior saved in the model file, then the extras' after-save hooks; every
    extra hears how the run ended (KILLED or FAILED when stopped or broken on the way)."""
    try:
        _keep_best_weights(trainer, module)
        network = module.network
        device = trainer.strategy.root_device  # Lightning hands the model back on the CPU
        autocast = trainer.precision_plugin.forward_context()
        network.prior = fit_to_training_codes(module.prior, network, prepared_dir, cfg.data.train_split, cfg.seed,
                                              device, autocast)  # fmt: skip
        model_file = Path(cfg.model_file)
        recipe = data_recipe(cfg.data)
        save_model(network, model_file, trained_on=cfg.data.kind, data=recipe, run_id=hooks.run_id(loggers) or "")
        log.info("Saved the model to %s.", model_file)
        for extra in extras:
            extra.after_save(model_file, loggers)
    except BaseException as error:
        for extra in extras:
            extra.ended("KILLED" if isinstance(error, (KeyboardInterrupt, SystemExit)) else "FAILED")
        raise
    for extra in extras:
        extra.ended("success")


def fit_to_training_codes(  # pylint: disable=too-many-arguments  # the prior, its codes, where they are computed
    prior: Prior,
    network: torch.nn.Module,
    prepared_dir: Path,
    split: str,
    seed: int,
    device: torch.device | str,
    autocast: AbstractContextManager,
) -> Prior:
    """`prior` fitted to the encoder's mean codes of the `split` images (train and fit_prior), computed on `device`
    in large batches there; N(0, I) learns only the code size and is not encoded for."""
    if not prior.needs_codes:
        return prior.fit(torch.empty(0, network.latent_dim))
    network.to(device)
    with autocast:
        codes = encoder_means(
            network, FaceCrops(prepared_dir, split), 1024 if torch.device(device).type == "cuda" else 128
        )
    network.cpu()
    log.info("Fitting %s to the codes of %d training images.", prior.describe(), len(codes))
    start = time.perf_counter()
    prior.fit(codes, seed=seed)
    log.info("Fitted the prior in %.0f s.", time.perf_counter() - start)
    return prior


def _keep_best_weights(trainer: L.Trainer, module: L.LightningModule) -> None:
    """Load the weights with the lowest validation loss: the last epoch is not always the best."""
    callback = trainer.checkpoint_callback
    best = callback.best_model_path if callback and callback.monitor else ""
    if best and Path(best).is_file():
        module.load_state_dict(torch.load(best, map_location="cpu", weights_only=True)["state_dict"])
        log.info("Keeping the weights of %s (%s %.1f).", best, callback.monitor, callback.best_model_score)


def _merged(dicts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for arguments in dicts:
        merged |= arguments
    return merged
