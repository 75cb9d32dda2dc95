"""Progress of a training run that reads well in a log file, where a progress bar prints nothing useful."""

import json
import logging
import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import RichProgressBar, Timer, TQDMProgressBar
from lightning.pytorch.utilities.imports import _RICH_AVAILABLE

from face_vae import file_guards
from face_vae.core import atomic
from face_vae.core.progress import is_terminal

log = logging.getLogger(__name__)


class EpochLine(L.Callback):
    """One plain line per epoch (epoch, steps, images/s, train and val loss, seconds) when stderr is
    not a terminal, e.g. `train > train.log 2>&1` or a CI log; silent in a terminal."""

    TRAIN_LOSSES = ("loss_train_step", "loss_classifier_step")  # VAE, classifier
    QUIET_SECONDS = 30  # within an epoch, a line at least this often

    def __init__(self, enabled: bool | None = None):
        self.enabled = not is_terminal() if enabled is None else enabled
        self.start = 0.0
        self.images = 0
        self.loss_sum: torch.Tensor | float = 0.0  # summed on the device: no host sync per batch
        self.batches = 0
        self.last_line = 0.0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.enabled and trainer.is_global_zero:
            epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else "?"
            plural = "" if epochs == 1 else "s"
            log.info(
                "Training: %s epoch%s of %s batches; a line per epoch follows.",
                epochs,
                plural,
                trainer.num_training_batches,
            )

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = self.last_line = time.perf_counter()
        self.images = 0
        self.loss_sum, self.batches = 0.0, 0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        if not self.enabled:
            return
        self.images += len(batch[0]) if isinstance(batch, (list, tuple)) else len(batch)
        key = next((key for key in self.TRAIN_LOSSES if key in trainer.callback_metrics), None)
        if key:
            self.loss_sum = self.loss_sum + trainer.callback_metrics[key].detach()
            self.batches += 1
        now = time.perf_counter()
        if now - self.last_line > self.QUIET_SECONDS and trainer.is_global_zero:  # a long epoch is never silent
            self.last_line = now
            log.info(
                "epoch %d: batch %d/%s, %.1f images/s",
                trainer.current_epoch + 1,
                batch_idx + 1,
                trainer.num_training_batches,
                self.images / (now - self.start),
            )

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Validation of this epoch has run by now, so its loss is in callback_metrics.
        if not self.enabled:
            return
        seconds = time.perf_counter() - self.start
        parts = [f"{trainer.global_step} steps", f"{self.images / seconds:.1f} images/s"]
        if self.batches:
            parts.append(f"train loss {float(self.loss_sum) / self.batches:.4g}")
        if "loss_val" in trainer.callback_metrics:
            parts.append(f"val loss {float(trainer.callback_metrics['loss_val']):.4g}")
        epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else "?"
        if self._shown(trainer):
            took = f"{seconds:.1f} s" if seconds >= 1 else f"{seconds:.3f} s"  # a classifier's epoch: milliseconds
            log.info("epoch %d/%s: %s, %s", trainer.current_epoch + 1, epochs, ", ".join(parts), took)

    @staticmethod
    def _shown(trainer: L.Trainer) -> bool:
        """Every epoch, or with more than 10 epochs and no time budget (train_classifier's 30 short ones) every
        tenth of them and the last: about ten lines, whatever the count."""
        epoch, epochs = trainer.current_epoch + 1, trainer.max_epochs or 0
        if epochs <= 10 or any(isinstance(callback, Timer) for callback in trainer.callbacks):
            return True
        return epoch % -(-epochs // 10) == 0 or epoch == epochs


class EpochHistory(L.Callback):
    """The epoch-level losses written as a JSON list to `path` after every epoch (rank 0): a plot DVC can draw."""

    KEYS = ("loss_train_epoch", "loss_val", "reconstruction_val", "kl_val")

    def __init__(self, path: Path):
        self.path = Path(path)
        self.rows: list[dict[str, float]] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        row = {"epoch": trainer.current_epoch + 1, "step": trainer.global_step}
        self.rows.append(row | {key: float(metrics[key]) for key in self.KEYS if key in metrics})
        atomic.write_text(self.path, json.dumps(self.rows, indent=1))

    @staticmethod
    def is_history(path: Path) -> bool:
        """Whether `path` holds a history this callback wrote (a file a later run may replace)."""
        rows = file_guards.json_file(path)
        return isinstance(rows, list) and all(isinstance(row, dict) and "epoch" in row for row in rows)


def epoch_description(current_epoch: int, max_epochs: int | None) -> str:
    """'Epoch 1/3' .. 'Epoch 3/3' for max_epochs=3, as the epoch lines count (Lightning's bars say 0/2 .. 2/2)."""
    total = f"/{max_epochs}" if max_epochs is not None and max_epochs > 0 else ""
    return f"Epoch {current_epoch + 1}{total}"


class RichEpochBar(RichProgressBar):
    """Lightning's rich progress bar (its default in a terminal) with epochs counted from 1."""

    def _get_train_description(self, current_epoch: int) -> str:
        return epoch_description(current_epoch, self.trainer.max_epochs)


class TQDMEpochBar(TQDMProgressBar):
    """Lightning's tqdm progress bar with epochs counted from 1."""

    def on_train_epoch_start(self, trainer: L.Trainer, *args) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description(epoch_description(trainer.current_epoch, trainer.max_epochs))


def epoch_bars(device: str, refresh_rate: int) -> list[L.Callback]:
    """The progress bar for a terminal (none in a log file, where EpochLine writes a line per epoch): on a GPU tqdm's,
    redrawn every `refresh_rate` steps (each redraw reads the metrics on the host); on a CPU Lightning's own choice."""
    if not is_terminal():
        return []
    if device != "cpu":
        return [TQDMEpochBar(refresh_rate=refresh_rate)]
    return [RichEpochBar() if _RICH_AVAILABLE else TQDMEpochBar()]
