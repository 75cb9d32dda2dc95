"""The attribute classifier's report in its MLflow run: metrics, the table and a bar chart."""

import time
from pathlib import Path

from lightning.pytorch.loggers import MLFlowLogger
from matplotlib.figure import Figure
from mlflow.entities import Metric


def log_classifier_report(logger: MLFlowLogger, rows: list[dict], report: str, classifier_file: Path) -> None:
    """Per-attribute scores as metrics (`f1.Smiling`, ...), their macro averages, the report table
    and the saved classifier, in the classifier's training run."""
    scores = ("precision", "recall", "f1", "balanced_accuracy", "accuracy", "majority_accuracy")
    metrics = {f"{score}.{row['attribute']}": row[score] for row in rows for score in scores}
    metrics |= {f"macro_{score}": sum(row[score] for row in rows) / len(rows) for score in scores}
    client, run_id = logger.experiment, logger.run_id
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(name, value, now, 0) for name, value in metrics.items()])  # one request
    client.log_text(run_id, report, "classification_report.md")
    client.log_figure(run_id, classifier_figure(rows), "classification_report.png")
    client.log_artifact(run_id, str(classifier_file), artifact_path="files")


def classifier_figure(rows: list[dict]) -> Figure:
    """Balanced accuracy per attribute as horizontal bars, against the majority class's 0.5."""
    figure = Figure(figsize=(6, 0.6 + 0.18 * len(rows)))
    axes = figure.add_subplot()
    ordered = sorted(rows, key=lambda row: row["balanced_accuracy"])
    axes.barh([row["attribute"] for row in ordered], [row["balanced_accuracy"] for row in ordered], color="tab:blue")
    axes.axvline(0.5, color="tab:red", linestyle="--", label="majority class (0.5)")
    axes.set_xlim(0, 1)
    axes.set_xlabel("balanced accuracy")
    axes.tick_params(axis="y", labelsize=7)
    axes.legend(loc="lower right")
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return figure
