"""The named points where the extras plug into the core's commands. An extra (a module configs/extras.yaml names)
adds its hooks with face_vae.core.settings.add, each by its dotted path: nothing of it (MLflow, DVC) is imported
until a command runs it.

- `training`: TrainingHooks subclasses, around every step of `train` (face_vae/core/train.py).
- `inference`: InferenceHooks subclasses, around every step of `infer` (face_vae/core/infer.py).
- `write_pictures`: `hook(result_dir, pictures, total)` writes a command's pictures (the last one added; the core's
  plain writer when none): face_vae/outputs.py's never replaces a file that is not face_vae's.
- `before_prepare`: `hook(cfg)` before the data is read: the source made present (a folder shared through DVC).
- `fetch_data`: `hook(cfg, missing)` when the data source lacks a file it needs: bring it, or raise a UserError
  saying how to get it.
"""

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from hydra.utils import get_class, get_method
from omegaconf import DictConfig

from face_vae.core.errors import UserError

if TYPE_CHECKING:
    import lightning as L
    import torch
    from lightning.pytorch.loggers import Logger

HOOKS: dict[str, list[str]] = {
    "training": [], "inference": [], "before_prepare": [], "fetch_data": [], "write_pictures": []
}  # fmt: skip


def functions(name: str) -> list[Callable[..., Any]]:
    """The functions added to hook `name`, imported now."""
    return [get_method(path) for path in HOOKS[name]]


class TrainingHooks:  # pylint: disable=unused-argument  # each hook does nothing until an extra says otherwise
    """What an extra adds around `train`, one method per step; `train` builds one instance per run and calls them in
    the order the extras were added. `self.cfg` is the run's config once every hook has configured it."""

    def __init__(self) -> None:
        self.cfg = DictConfig({})

    def configure(self, cfg: DictConfig) -> DictConfig:
        """The config the run uses: `cfg`, with values resolved in it, or another (a resume's saved one)."""
        return cfg

    def problems(self) -> list[str]:
        """What would stop the run, found before any work (every extra's are reported together; a UserError raised
        here is one)."""
        return []

    def holding(self) -> AbstractContextManager:
        """Held while the run works (a lock on its folders)."""
        return nullcontext()

    def resume_checkpoint(self) -> str | None:
        """The checkpoint the run continues from; None: a fresh run."""
        return None

    def module_arguments(self) -> dict[str, Any]:
        """Arguments of the LightningModule beyond its config (the memory layout)."""
        return {}

    def before_fit(self, module: "L.LightningModule", prepared_dir: Path, resume_from: str | None) -> None:
        """Checks of the built model and the prepared data; the run's folder made ready."""

    def logger(self, resume_from: str | None) -> "Logger | None":
        """A Lightning logger for the run (MLflow's)."""
        return None

    def callbacks(self, resume_from: str | None, loggers: list["Logger"]) -> list["L.Callback"]:
        """Lightning callbacks beyond configs/callbacks/."""
        return []

    def trainer_arguments(self) -> dict[str, Any]:
        """Arguments of Lightning's Trainer beyond the `trainer` group (the precision, plugins)."""
        return {}

    def after_save(self, model_file: Path, loggers: list["Logger"]) -> None:
        """The model file is written: log, register, version it."""

    def ended(self, status: str) -> None:
        """The run is over: `success`, `FAILED`, or `KILLED` (Ctrl-C, a stop)."""


class InferenceHooks:  # pylint: disable=unused-argument  # each hook does nothing until an extra says otherwise
    """What an extra adds around `infer`, one method per step, called in the order the extras were added."""

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg

    def problems(self) -> list[str]:
        """What would stop the run, found before any work (every extra's are reported together; a UserError raised
        here is one)."""
        return []

    def model_file(self) -> Path | None:
        """Where the model file comes from (a registered version downloaded, a missing file pulled); None: the
        path `model_file` names."""
        return None

    def place(self, network: "torch.nn.Module") -> "torch.nn.Module":
        """The network made ready to run here (its precision, memory layout, device)."""
        return network

    def steer(
        self, network: "torch.nn.Module", model_file: Path, latents: Iterator["torch.Tensor"]
    ) -> tuple[Iterator["torch.Tensor"], dict[str, "torch.Tensor"]] | None:
        """The faces of `latents` changed (moved along attributes) and pictures of their own; None: as they are."""
        return None

    def logged(self) -> tuple[dict[str, Any], dict[str, float]]:
        """Params and metrics of the run to log (called once the faces are written)."""
        return {}, {}

    def after_write(self, model_file: Path, files: list[Path], params: dict, metrics: dict) -> None:
        """The faces are written: log them with every extra's params and metrics."""


def training_hooks() -> list[TrainingHooks]:
    """One instance of each extra's TrainingHooks, in the order they were added."""
    return [get_class(path)() for path in HOOKS["training"]]


def inference_hooks(cfg: DictConfig) -> list[InferenceHooks]:
    """One instance of each extra's InferenceHooks for the run of `cfg`, in the order they were added."""
    return [get_class(path)(cfg) for path in HOOKS["inference"]]


def run_id(loggers: list["Logger"]) -> str | None:
    """The MLflow run of the first logger that has one (None when none logs to MLflow)."""
    return next((str(logger.run_id) for logger in loggers if getattr(logger, "run_id", None)), None)


def refuse_problems(extras: list[TrainingHooks] | list[InferenceHooks]) -> None:
    """Every extra's problems refused together before any work; a UserError an extra raises while it looks (a value
    it resolves or checks) counts as its problem."""
    problems = []
    for extra in extras:
        try:
            problems += extra.problems()
        except UserError as error:
            problems.append(str(error))
    refuse(problems)


def refuse(problems: list[str]) -> None:
    """One UserError naming every problem, or nothing when there is none."""
    if len(problems) == 1:
        raise UserError(problems[0])
    if problems:
        raise UserError(f"{len(problems)} problems, nothing was run:\n" + "\n".join(f"- {p}" for p in problems))
