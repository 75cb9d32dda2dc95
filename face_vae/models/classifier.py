"""A small classifier of binary face attributes from VAE codes, and the attribute directions it keeps.

It reads the encoder's mean code of a face (not the pixels): if an attribute can be predicted from
the code, the code carries it, and moving a code along that attribute's direction changes it.
"""

import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from face_vae.core import atomic
from face_vae.core.errors import UserError
from face_vae.file_guards import file_md5
from face_vae.model_records import saved_format, weights_checksum

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


def is_classifier_file(path: Path) -> bool:
    """Whether `path` holds an attribute classifier saved by face_vae (a file `train_classifier` may replace)."""
    return saved_format(path) == FORMAT


def save_classifier(classifier: AttributeClassifier, path: Path, model_weights: str) -> None:
    """Save the classifier with the checksum of the weights of the VAE whose codes it reads (`weights_checksum`)."""
    state = {name: tensor.cpu() for name, tensor in classifier.state_dict().items()}
    saved = {"format": FORMAT, "hparams": classifier.hparams, "state_dict": state, "model_weights": model_weights}
    with atomic.atomic_path(path) as tmp_path:
        torch.save(saved, tmp_path)


def load_classifier(path: Path, model_file: Path) -> AttributeClassifier:
    """Load a classifier saved by `save_classifier`; refuse one trained on the codes of another VAE than the one in
    `model_file` (the same weights with another prior are the same codes)."""
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
    # Classifiers saved before the weights were recorded name the whole model file's md5.
    if saved.get("model_weights", "") != weights_checksum(model_file) and saved.get("model_md5") != file_md5(
        model_file
    ):
        raise UserError(
            f"{path} was trained on the codes of another model than this model_file: run "
            "`python commands.py train_classifier` again for it."
        )
    return classifier.eval()
