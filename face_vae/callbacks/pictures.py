"""A Lightning callback that logs sample and reconstruction grids every epoch, and loss curves at the end."""

import time
from functools import partial

import lightning as L
import torch
from lightning.pytorch.loggers import MLFlowLogger
from matplotlib.figure import Figure

from face_vae.core.data.face_crops import as_floats
from face_vae.core.pictures import image_grid


class TrainingPictures(L.Callback):
    """Into the run's MLflow logger (nothing without one), every epoch: a grid of samples from fixed
    latents and of the first validation images' reconstructions (for a model with an encoder), epoch and
    elapsed wall time; at the end, loss curves against epoch and wall time."""

    def __init__(self, grid_size: int, reconstructed: int):
        self.grid_size = grid_size  # samples per grid
        self.reconstructed = reconstructed  # validation images shown over their reconstructions
        self.logger: MLFlowLogger | None = None
        self.real = torch.empty(0)
        self.history: list[dict[str, float]] = []
        self.latents: torch.Tensor | None = None
        self.fit_start = self.epoch_start = time.perf_counter()

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.logger = next((logger for logger in trainer.loggers if isinstance(logger, MLFlowLogger)), None)
        if self.logger is not None and trainer.datamodule is not None:
            self.real = as_floats(trainer.datamodule.first_images("val", self.reconstructed))
        generator = torch.Generator().manual_seed(0)
        self.latents = torch.randn(self.grid_size, pl_module.network.latent_dim, generator=generator)
        self.fit_start = time.perf_counter()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.epoch_start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.logger is None:
            return
        now = time.perf_counter()
        point = {
            "epoch": trainer.current_epoch,
            "elapsed_s": now - self.fit_start,
            "epoch_time_s": now - self.epoch_start,
        }
        point.update({name: float(value) for name, value in trainer.callback_metrics.items()})
        self.history.append(point)
        self.logger.log_metrics(
            {"elapsed_s": point["elapsed_s"], "epoch_time_s": point["epoch_time_s"]}, step=trainer.global_step
        )
        self._log_grids(trainer, pl_module)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.history:
            self._log_curves()

    def _log_grids(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch
        was_training = pl_module.training
        pl_module.eval()
        network = pl_module.network
        samples = network.decode(self.latents)
        if hasattr(network, "encode"):
            reconstructions = network.decode(network.encode(self.real))
            pictures = torch.cat([self.real, reconstructions.cpu()])
            self._log_image(image_grid(pictures, nrow=len(self.real)), "reconstructions", epoch)
        pl_module.train(was_training)
        self._log_image(image_grid(samples, nrow=4), "samples", epoch)

    def _log_image(self, grid: torch.Tensor, key: str, epoch: int) -> None:
        """One image of the series `key` at step `epoch`: the MLflow UI shows a series on a step slider."""
        pixels = (grid.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
        run_id, client = self.logger.run_id, self.logger.experiment
        self._send(lambda: client.log_image(run_id, pixels, key=key, step=epoch), f"{key} of epoch {epoch + 1}")

    def _send(self, call, what: str) -> None:
        """An MLflow call, through the logger's guard when it has one (face_vae's PatientLogger: a server that
        stops answering costs a warning, not the run)."""
        guarded = getattr(self.logger, "guarded", None)
        if guarded is None:
            call()
        else:
            guarded(call, what)

    def _log_curves(self) -> None:
        series = {key for point in self.history for key in point}
        plots = {
            "plots/losses_vs_epoch.png": ("epoch", ["loss_train_epoch", "loss_val"]),
            "plots/losses_vs_wall_time.png": ("elapsed_s", ["loss_train_epoch", "loss_val"]),
            "plots/kl_vs_epoch.png": ("epoch", ["kl_train_epoch", "kl_val"]),
            "plots/reconstruction_vs_epoch.png": ("epoch", ["reconstruction_train_epoch", "reconstruction_val"]),
        }
        for artifact_file, (x_key, y_keys) in plots.items():
            if not series.intersection(y_keys):
                continue  # nothing logged yet
            figure = Figure(figsize=(6, 4))  # no pyplot: no GUI backend, no global figure state
            axes = figure.add_subplot()
            for y_key in y_keys:
                if y_key in series:
                    points = [p for p in self.history if y_key in p]
                    axes.plot([p[x_key] for p in points], [p[y_key] for p in points], marker="o", label=y_key)
            axes.set_xlabel("wall time (s)" if x_key == "elapsed_s" else "epoch")
            values = [p[y] for p in self.history for y in y_keys if y in p]
            axes.set_yscale("log" if values and min(values) > 0 else "linear")  # a calibrated NLL can be < 0
            axes.legend()
            axes.grid(alpha=0.3)
            self._send(
                partial(self.logger.experiment.log_figure, self.logger.run_id, figure, artifact_file), artifact_file
            )
