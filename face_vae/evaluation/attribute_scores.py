"""How well attributes are predicted: per-attribute scores against the majority class, as rows and a table."""

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score, precision_recall_fscore_support


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
