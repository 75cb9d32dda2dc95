"""MLflow: where runs go, what describes them (config, git commit, data hash) and the artifacts."""

import logging
import subprocess
import time
import urllib.error
import urllib.request
from importlib.metadata import version
from pathlib import Path

import lightning as L
import mlflow
import torch
from lightning.pytorch.loggers import MLFlowLogger
from matplotlib.figure import Figure
from mlflow.models import infer_signature
from omegaconf import DictConfig, OmegaConf
from torchvision.utils import make_grid

from face_vae import storage
from face_vae.data.datamodule import as_floats
from face_vae.errors import UserError

log = logging.getLogger(__name__)
LIBRARIES = ("torch", "torchvision", "lightning", "hydra-core", "mlflow", "dvc")


def tracking_uri(tracking_cfg: DictConfig) -> str:
    """The MLflow URI to log to: a server that answers, or the local store.

    A server that does not answer stops the run with one sentence, unless `fallback_local` is set.
    """
    uri = tracking_cfg.uri
    if not uri.startswith(("http://", "https://")):
        return _absolute(uri)
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=tracking_cfg.health_timeout_s):
            return uri
    except (urllib.error.URLError, OSError) as error:
        if tracking_cfg.fallback_local:
            log.warning(
                "MLflow server %s does not answer (%s); logging to %s instead.", uri, error, tracking_cfg.local_uri
            )
            return _absolute(tracking_cfg.local_uri)
        raise UserError(
            f"The MLflow server {uri} does not answer ({getattr(error, 'reason', error)}): start one with "
            "`mlflow server --host 127.0.0.1 --port 5000`, or log locally with tracking.uri="
            f"{tracking_cfg.local_uri} (or tracking.fallback_local=true)."
        ) from error


def _absolute(uri: str) -> str:
    """A local store's path made absolute: MLflow caches stores by URI, so `sqlite:///mlflow.db`
    would keep pointing at the first folder a process used it in."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str(Path(uri[len(prefix) :]).resolve())
    return uri


def flat_params(cfg: DictConfig) -> dict[str, str]:
    """The resolved config as {'dotted.key': value}, plus the git commit, data hash and versions."""
    params = {}

    def flatten(node: object, prefix: str) -> None:
        if isinstance(node, dict) and node:
            for key, value in node.items():
                flatten(value, f"{prefix}{key}.")
        else:
            params[prefix.rstrip(".")] = str(node)

    flatten(OmegaConf.to_container(cfg, resolve=True), "")
    commit, dirty = git_state()
    params.update(git_commit=commit, git_dirty=str(dirty), data_dvc_md5=dvc_hash(cfg.storage.data_dvc))
    params.update({f"version.{name}": version(name) for name in LIBRARIES})
    return params


def git_state() -> tuple[str, bool]:
    """(commit id, whether the work tree has uncommitted changes); ('unknown', False) outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout
        status = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False
    return commit.strip(), bool(status.strip())


def dvc_hash(dvc_file: str) -> str:
    """The md5 that a .dvc file records for its output, or 'none' when there is no such file."""
    return storage.dvc_output(dvc_file).get("md5", "none")


def training_logger(cfg: DictConfig, uri: str, run_id: str | None = None) -> MLFlowLogger:
    """A Lightning MLFlowLogger at `uri` for experiment `cfg.tracking.experiment`, with every param
    logged; `run_id` continues an earlier run (resume)."""
    mlflow.set_tracking_uri(uri)
    logger = MLFlowLogger(experiment_name=cfg.tracking.experiment, tracking_uri=uri, run_id=run_id)
    if run_id is None:
        logger.log_hyperparams(flat_params(cfg))
        commit, _ = git_state()
        logger.experiment.set_tag(logger.run_id, "mlflow.source.git.commit", commit)
        logger.experiment.log_text(logger.run_id, OmegaConf.to_yaml(cfg), "config.yaml")
    log.info("MLflow: experiment %s, run %s at %s.", cfg.tracking.experiment, logger.run_id, uri)
    return logger


class TrainingPictures(L.Callback):
    """Every epoch: a grid of samples from fixed latents and of validation reconstructions (for a model
    with an encoder), epoch and elapsed wall time; at the end, loss curves against epoch and wall time."""

    def __init__(self, logger: MLFlowLogger, grid_size: int = 16):
        self.logger = logger
        self.grid_size = grid_size
        self.history: list[dict[str, float]] = []
        self.latents: torch.Tensor | None = None
        self.real: torch.Tensor | None = None
        self.fit_start = self.epoch_start = time.perf_counter()

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        generator = torch.Generator().manual_seed(0)
        self.latents = torch.randn(self.grid_size, pl_module.network.latent_dim, generator=generator)
        val = trainer.datamodule.dataset("val")
        self.real = as_floats(val.__getitems__(list(range(min(8, len(val))))))
        self.fit_start = time.perf_counter()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.epoch_start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
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
        epoch = f"epoch_{trainer.current_epoch:03d}"
        was_training = pl_module.training
        pl_module.eval()
        network = pl_module.network
        samples = network.decode(self.latents)
        if hasattr(network, "encode"):
            reconstructions = network.decode(network.encode(self.real))
            pictures = torch.cat([self.real, reconstructions.cpu()])
            self._log_image(make_grid(pictures, nrow=len(self.real)), f"reconstructions/{epoch}.png")
        pl_module.train(was_training)
        self._log_image(make_grid(samples, nrow=4), f"samples/{epoch}.png")

    def _log_image(self, grid: torch.Tensor, artifact_file: str) -> None:
        pixels = (grid.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
        self.logger.experiment.log_image(self.logger.run_id, pixels, artifact_file=artifact_file)

    def _log_curves(self) -> None:
        series = {key for point in self.history for key in point}
        plots = {
            "plots/losses_vs_epoch.png": ("epoch", ["loss_train_epoch", "loss_val"]),
            "plots/losses_vs_wall_time.png": ("elapsed_s", ["loss_train_epoch", "loss_val"]),
            "plots/kl_vs_epoch.png": ("epoch", ["kl_train_epoch", "kl_val"]),
            "plots/reconstruction_vs_epoch.png": ("epoch", ["reconstruction_train_epoch", "reconstruction_val"]),
            "plots/gan_losses_vs_epoch.png": ("epoch", ["loss_generator_epoch", "loss_discriminator_epoch"]),
            "plots/gan_losses_vs_wall_time.png": ("elapsed_s", ["loss_generator_epoch", "loss_discriminator_epoch"]),
        }
        for artifact_file, (x_key, y_keys) in plots.items():
            if not series.intersection(y_keys):
                continue  # a VAE has no GAN losses, and the reverse
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
            self.logger.experiment.log_figure(self.logger.run_id, figure, artifact_file)


def log_trained_model(logger: MLFlowLogger, vae: torch.nn.Module, files: list[Path]) -> None:
    """Log the generator (decoder, latent -> image) as an MLflow PyTorch model with a signature,
    and `files` (the saved model and checkpoints) as artifacts."""
    decoder = vae.decoder.cpu().eval()
    latents = torch.randn(2, vae.latent_dim)
    with torch.inference_mode():
        images = decoder(latents)
    signature = infer_signature(latents.numpy(), images.numpy())
    mlflow.set_experiment(experiment_id=logger.experiment_id)  # the fluent API checks they match
    with mlflow.start_run(run_id=logger.run_id):
        # Explicit requirements: MLflow would otherwise import the model in a subprocess to guess them.
        mlflow.pytorch.log_model(
            decoder,
            name="model",
            signature=signature,
            input_example=latents.numpy(),
            pip_requirements=[f"torch=={version('torch')}"],
        )
        for path in files:
            mlflow.log_artifact(str(path), artifact_path="files")


def log_stage_run(uri: str, experiment: str, params: dict, metrics: dict[str, float], files: list[Path] = ()) -> None:
    """One MLflow run for an `infer` or `evaluate` call: params with the git commit, metrics, files."""
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment)
    commit, dirty = git_state()
    with mlflow.start_run():
        mlflow.set_tag("mlflow.source.git.commit", commit)
        mlflow.log_params({**params, "git_commit": commit, "git_dirty": dirty})
        mlflow.log_metrics(metrics)
        for path in files:
            mlflow.log_artifact(str(path), artifact_path="faces")


def log_classifier_report(logger: MLFlowLogger, rows: list[dict], report: str, classifier_file: Path) -> None:
    """Per-attribute scores as metrics (`f1.Smiling`, ...), their macro averages, the report table
    and the saved classifier, in the classifier's training run."""
    scores = ("precision", "recall", "f1", "balanced_accuracy", "accuracy", "majority_accuracy")
    metrics = {f"{score}.{row['attribute']}": row[score] for row in rows for score in scores}
    metrics |= {f"macro_{score}": sum(row[score] for row in rows) / len(rows) for score in scores}
    client, run_id = logger.experiment, logger.run_id
    for name, value in metrics.items():
        client.log_metric(run_id, name, value)
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
