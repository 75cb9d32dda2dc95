"""A small classifier of binary face attributes from VAE codes, and the attribute directions it keeps.

It reads the encoder's mean code of a face (not the pixels): if an attribute can be predicted from
the code, the code carries it, and moving a code along that attribute's direction changes it.
"""

import pickle
from collections.abc import Mapping
from pathlib import Path

import lightning as L
import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score, precision_recall_fscore_support
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits

from face_vae import atomic
from face_vae.errors import UserError

FORMAT = "face_vae.AttributeClassifier/1"


class AttributeClassifier(nn.Module):
    """Latent code (N, latent_dim) -> one logit per attribute (N, A); > 0 means present.

    It also holds each attribute's direction in latent space: the mean code of the training faces
    that have it minus the mean code of those that do not.
    """

    def __init__(self, latent_dim: int, attributes: list[str], hidden: int = 256, dropout: float = 0.2):
        super().__init__()
        self.attributes = list(attributes)
        self.hparams = {"latent_dim": latent_dim, "attributes": self.attributes, "hidden": hidden, "dropout": dropout}
        self.layers = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, len(attributes))
        )
        # Codes are standardised with the training codes' statistics: the VAE does not fix their scale.
        self.register_buffer("code_mean", torch.zeros(latent_dim))
        self.register_buffer("code_std", torch.ones(latent_dim))
        self.register_buffer("directions", torch.zeros(len(attributes), latent_dim))

    def fit_statistics(self, codes: torch.Tensor, labels: torch.Tensor) -> None:
        """Set the standardisation and the attribute directions from the training codes and labels."""
        self.code_mean.copy_(codes.mean(0))
        self.code_std.copy_(codes.std(0).clamp_min(1e-6))
        present = labels.T / labels.sum(0).clamp_min(1)[:, None]
        absent = (1 - labels).T / (1 - labels).sum(0).clamp_min(1)[:, None]
        self.directions.copy_((present - absent) @ codes)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """One logit per attribute of each code."""
        return self.layers((codes - self.code_mean) / self.code_std)

    @torch.inference_mode()
    def predict(self, codes: torch.Tensor) -> torch.Tensor:
        """Whether each attribute is present (N, A): a positive logit."""
        return self(codes) > 0

    def shift(self, strengths: Mapping[str, float]) -> torch.Tensor:
        """The latent move (latent_dim,) that adds each named attribute `strength` times its direction
        (1: the average difference between faces with and without it; negative: away from it)."""
        unknown = sorted(set(strengths) - set(self.attributes))
        if unknown:
            raise UserError(
                f"Unknown attribute{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: choose from "
                f"{', '.join(self.attributes)}."
            )
        return sum(
            (float(strength) * self.directions[self.attributes.index(name)] for name, strength in strengths.items()),
            torch.zeros_like(self.code_mean),
        )


class ClassifierModule(L.LightningModule):
    """Binary cross-entropy per attribute, positives weighted by `positive_weight`: with
    negatives/positives, rare attributes (Bald: 2%) count as much as common ones, as balanced
    accuracy scores them; with ones, plain accuracy is what is maximised."""

    def __init__(self, classifier: AttributeClassifier, positive_weight: torch.Tensor, lr: float, weight_decay: float):
        super().__init__()
        self.classifier = classifier
        self.register_buffer("positive_weight", positive_weight)
        self.lr = lr
        self.weight_decay = weight_decay

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        codes, labels = batch
        loss = binary_cross_entropy_with_logits(self.classifier(codes), labels, pos_weight=self.positive_weight)
        self.log("loss_classifier", loss, prog_bar=True, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.classifier.parameters(), lr=self.lr, weight_decay=self.weight_decay)


def balancing_weights(labels: torch.Tensor) -> torch.Tensor:
    """negatives / positives of each attribute (1 where an attribute never or always occurs)."""
    positives = labels.sum(0)
    negatives = len(labels) - positives
    return torch.where(
        (positives > 0) & (negatives > 0), negatives / positives.clamp_min(1), torch.ones_like(positives)
    )


def attribute_report(attributes: list[str], labels: torch.Tensor, predicted: torch.Tensor) -> list[dict[str, float]]:
    """Per attribute: share present, precision, recall and F1 of `present`, balanced accuracy and
    accuracy, and the accuracy of always answering the majority class (the baseline to beat; its
    balanced accuracy is 0.5 by definition)."""
    truth, guess = labels.numpy().astype(bool), predicted.numpy().astype(bool)
    precision, recall, f1, _ = precision_recall_fscore_support(truth, guess, average=None, zero_division=0)
    rows = []
    for index, name in enumerate(attributes):
        share = float(truth[:, index].mean())
        accuracy = float((guess[:, index] == truth[:, index]).mean())
        # sklearn warns on a single-class column; its balanced accuracy is then plain accuracy.
        single_class = share in (0.0, 1.0)
        rows.append(
            {
                "attribute": name,
                "share": share,
                "precision": float(precision[index]),
                "recall": float(recall[index]),
                "f1": float(f1[index]),
                "balanced_accuracy": (
                    accuracy if single_class else float(balanced_accuracy_score(truth[:, index], guess[:, index]))
                ),
                "accuracy": accuracy,
                "majority_accuracy": max(share, 1 - share),
            }
        )
    return rows


def format_report(rows: list[dict[str, float]], title: str) -> str:
    """A Markdown table of `attribute_report` rows with their macro average last."""
    columns = ["share", "precision", "recall", "f1", "balanced_accuracy", "accuracy", "majority_accuracy"]
    lines = [title, "", "| attribute | " + " | ".join(columns) + " |", "| --- |" + " ---: |" * len(columns)]
    for row in rows:
        lines.append(f"| {row['attribute']} | " + " | ".join(f"{row[column]:.3f}" for column in columns) + " |")
    average = {column: float(np.mean([row[column] for row in rows])) for column in columns}
    lines.append("| **macro average** | " + " | ".join(f"**{average[column]:.3f}**" for column in columns) + " |")
    return "\n".join(lines) + "\n"


def save_classifier(classifier: AttributeClassifier, path: Path, model_md5: str) -> None:
    """Save the classifier with the md5 of the VAE file whose codes it reads."""
    state = {name: tensor.cpu() for name, tensor in classifier.state_dict().items()}
    with atomic.atomic_path(path) as tmp_path:
        torch.save(
            {"format": FORMAT, "hparams": classifier.hparams, "state_dict": state, "model_md5": model_md5}, tmp_path
        )


def load_classifier(path: Path, model_md5: str) -> AttributeClassifier:
    """Load a classifier saved by `save_classifier`; refuse one trained on the codes of another VAE."""
    if not path.is_file():
        raise UserError(
            f"There is no attribute classifier at {path}: train one with `python commands.py train_classifier`."
        )
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if saved["format"] != FORMAT:
            raise ValueError(f"format {saved['format']}")
        classifier = AttributeClassifier(**saved["hparams"])
        classifier.load_state_dict(saved["state_dict"])
    except (RuntimeError, KeyError, TypeError, EOFError, ValueError, pickle.UnpicklingError) as error:
        raise UserError(
            f"{path} is not an attribute classifier saved by train_classifier, or is damaged "
            f"({str(error).splitlines()[0]}): run `python commands.py train_classifier` again."
        ) from error
    if saved["model_md5"] != model_md5:
        raise UserError(
            f"{path} was trained on the codes of another model than this model_file: run "
            "`python commands.py train_classifier` again for it."
        )
    return classifier.eval()
