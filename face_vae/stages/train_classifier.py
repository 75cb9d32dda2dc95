"""The `train_classifier` stage: CelebA's attributes from the VAE's codes, scored against the majority class."""

import logging
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import MLFlowLogger
from omegaconf import DictConfig
from torch.utils.data import DataLoader, TensorDataset

from face_vae import hardware, locks, storage
from face_vae.callbacks.progress import EpochLine
from face_vae.core.data.face_crops import FaceCrops, require_split
from face_vae.core.errors import UserError
from face_vae.core.models.codes import encoder_means
from face_vae.core.prepare import prepared_data
from face_vae.data.attributes import split_labels
from face_vae.evaluation.attribute_scores import attribute_report, format_report
from face_vae.file_guards import refuse_foreign_file
from face_vae.model_records import weights_checksum
from face_vae.models.classifier import AttributeClassifier, is_classifier_file, save_classifier
from face_vae.models.classifier_module import ClassifierModule, balancing_weights
from face_vae.stages.shared import (
    build_trainer,
    check_model_data,
    config_yaml,
    data_from_model,
    inference_runtime,
    model_path,
    pulled_model,
    run_params,
    storage_settings,
    tracking_uri,
)
from face_vae.tracking import reports, training

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> None:
    """Encode the train and `cfg.split` images, fit the classifier on train, score it on `cfg.split`,
    save it beside the VAE and log the report."""
    classifier_file = Path(cfg.classifier_file)
    refuse_foreign_file(classifier_file, "classifier_file", "an attribute classifier", is_classifier_file)
    uri = tracking_uri(cfg)
    runtime = inference_runtime(cfg)
    L.seed_everything(cfg.seed)
    model_file = model_path(cfg)
    # The model file stays the one whose codes are read (a train writing it waits), and the classifier records
    # the md5 of the bytes it read, not of what lies there when it saves.
    with locks.holding({"model_file": model_file, "classifier_file": classifier_file}):
        vae = pulled_model(cfg, model_file)
        model_weights = weights_checksum(model_file)
        cfg = data_from_model(cfg, "train_classifier", vae, model_file)
        check_model_data(cfg, vae, model_file)
        vae = runtime.place(vae)
        prepared_dir = prepared_data(cfg, force=cfg.force)
        require_split(prepared_dir, cfg.data.train_split, "data.train_split")
        require_split(prepared_dir, cfg.split)
        names, train_codes, train_labels = codes_and_labels(cfg, vae, prepared_dir, cfg.data.train_split)
        _, scored_codes, scored_labels = codes_and_labels(cfg, vae, prepared_dir, cfg.split)

        logger = (
            training.training_logger(
                cfg.tracking.experiment,
                uri,
                run_params(cfg) | runtime.params(),
                config_yaml(cfg),
                Path("unsent_classifier_metrics.jsonl"),
            )
            if uri is not None
            else None
        )
        classifier = fit_classifier(cfg, runtime, vae.latent_dim, names, train_codes, train_labels, logger)
        rows = attribute_report(names, scored_labels, classifier.predict(scored_codes))
        report = format_report(
            rows, f"{model_file}: attributes of {len(scored_labels)} {cfg.split} images from their codes"
        )
        print(f"\n{report}")
        save_classifier(classifier, classifier_file, model_weights)
        log.info("Saved the attribute classifier to %s.", classifier_file)
        if logger is not None:
            reports.log_classifier_report(logger, rows, report, classifier_file)
            # The run holds a face_generator that also steers; it becomes a registered version only when asked.
            model_uri = training.log_trained_model(logger, model_file, [], classifier_file)
            if cfg.tracking.registered_model:
                training.register_trained_model(logger, model_uri, uri, cfg.tracking.registered_model)
            logger.end("success")
    storage.version_models(storage_settings(cfg), classifier_file.parent, throwaway=cfg.data.kind == "synthetic")


def codes_and_labels(
    cfg: DictConfig, vae: torch.nn.Module, prepared_dir: Path, split: str
) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """(attribute names, the encoder means, the attribute labels) of the images of `split`."""
    if cfg.data.attributes_file is None:
        raise UserError(
            f"data={cfg.data.kind} has no attributes to learn: set data.attributes_file to a CSV of each image's "
            "attributes (a header `file,attr1,attr2,...`, then one row per image: its path in data.source_dir and "
            "0/1 or -1/1 per attribute), or a file in CelebA's format (list_attr_celeba.txt)."
        )
    names, labels = split_labels(Path(cfg.data.attributes_file), prepared_dir, split)
    return names, encoder_means(vae, FaceCrops(prepared_dir, split), desc=f"encode {split}"), labels


def fit_classifier(
    cfg: DictConfig,
    runtime: hardware.Runtime,
    latent_dim: int,
    names: list[str],
    codes: torch.Tensor,
    labels: torch.Tensor,
    logger: MLFlowLogger | None,
) -> AttributeClassifier:
    """A classifier of `names` trained on `codes` with Lightning, returned on the CPU in eval mode."""
    classifier = AttributeClassifier(latent_dim, names, cfg.classifier.hidden, cfg.classifier.dropout)
    classifier.fit_statistics(codes, labels)
    weights = balancing_weights(labels) if cfg.classifier.balanced else torch.ones(len(names))
    module = ClassifierModule(classifier, weights, cfg.classifier.lr, cfg.classifier.weight_decay)
    callbacks = [EpochLine()]  # seconds of training on codes: nothing to checkpoint or draw
    trainer = build_trainer(cfg, runtime, callbacks, logger or False)
    batches = DataLoader(TensorDataset(codes, labels), batch_size=cfg.classifier.batch_size, shuffle=True)
    trainer.fit(module, train_dataloaders=batches)
    return classifier.cpu().eval()
