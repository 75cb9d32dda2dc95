"""The LightningModule that trains the attribute classifier, and the class weights it is trained with."""

import lightning as L
import torch
from torch.nn.functional import binary_cross_entropy_with_logits

from face_vae.models.classifier import AttributeClassifier


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
        self.log("loss_classifier", loss, prog_bar=True, on_step=True, on_epoch=True)
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
