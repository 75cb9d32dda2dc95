"""What `infer` does beyond the core's story (face_vae/core/infer.py): each extra an InferenceHooks subclass, added in
this order by face_vae/stages/settings.py. Remove one from there and `infer` runs without it."""

import logging
from collections.abc import Iterator, Mapping
from itertools import chain
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from face_vae import hardware
from face_vae.core.errors import UserError
from face_vae.core.hooks import InferenceHooks
from face_vae.core.models.sampling import decode_all
from face_vae.core.pictures import image_grid
from face_vae.models.classifier import AttributeClassifier, load_classifier
from face_vae.stages.shared import inference_runtime, model_path, pull_missing_model, tracking_uri
from face_vae.tracking import provenance, runs

log = logging.getLogger(__name__)
ATTRIBUTE_GRID_FILE = "attribute_grid.jpg"
MAX_STRENGTH = 10.0  # beyond ~3 the codes leave the region the decoder learnt; 1e300 overflowed to black faces


class Steering(InferenceHooks):
    """attributes="{Smiling: 1.5}": every face moved along each attribute's direction (the classifier of
    `train_classifier`), attribute_grid.jpg, and the share of faces the classifier finds each attribute in."""

    def __init__(self, cfg: DictConfig) -> None:
        super().__init__(cfg)
        self.strengths: dict[str, float] = {}
        self.metrics: dict[str, float] = {}  # filled as the steered faces are written

    def problems(self) -> list[str]:
        self.strengths = attribute_strengths(self.cfg.attributes)
        return []

    def steer(
        self, network: torch.nn.Module, model_file: Path, latents: Iterator[torch.Tensor]
    ) -> tuple[Iterator[torch.Tensor], dict[str, torch.Tensor]] | None:
        if not self.strengths:
            return None
        return steered_batches(self.cfg, network, model_file, latents, self.strengths, self.metrics)

    def logged(self) -> tuple[dict, dict]:
        return {"attributes": str(self.strengths or "none")}, self.metrics

    def after_write(self, model_file: Path, files: list[Path], params: dict, metrics: dict) -> None:
        earlier_grid = Path(self.cfg.result_dir) / ATTRIBUTE_GRID_FILE
        if not self.strengths and earlier_grid.is_file():  # a steered run's picture is the user's result too: kept
            log.warning("%s is an earlier steered run's (kept as it was): it does not show these faces.", earlier_grid)
        if self.strengths:
            log.info(
                "%s: one row per face and attribute (%s), strengths %s from left to right.",
                ATTRIBUTE_GRID_FILE,
                ", ".join(self.strengths),
                list(self.cfg.attribute_sweep),
            )


class Runtime(InferenceHooks):
    """The precision, memory layout and threads for this machine (`runtime.*`), resolved before any work."""

    def __init__(self, cfg: DictConfig) -> None:
        super().__init__(cfg)
        self.runtime: hardware.Runtime | None = None

    def problems(self) -> list[str]:
        self.runtime = inference_runtime(self.cfg)
        return []

    def place(self, network: torch.nn.Module) -> torch.nn.Module:
        return self.runtime.place(network) if self.runtime else network

    def logged(self) -> tuple[dict, dict]:
        return self.runtime.params() if self.runtime else {}, {}


class ModelSource(InferenceHooks):
    """model_file=models:/NAME/N: the registered version, downloaded through MLflow once and cached; a missing file
    that models.dvc tracks: pulled."""

    def model_file(self) -> Path:
        model_file = model_path(self.cfg)
        pull_missing_model(self.cfg, model_file)
        return model_file


class MLflowLog(InferenceHooks):
    """The run logged to MLflow (tracking.enabled): its settings, the model's provenance, speed, the faces."""

    def __init__(self, cfg: DictConfig) -> None:
        super().__init__(cfg)
        self.uri: str | None = None

    def problems(self) -> list[str]:
        self.uri = tracking_uri(self.cfg)
        return []

    def after_write(self, model_file: Path, files: list[Path], params: dict, metrics: dict) -> None:
        if self.uri is None:
            return
        params = provenance.model_params(self.cfg.model_file, model_file, self.cfg.storage.models_dvc) | params
        # Every face while they are few; past that, the grids show them without thousands of files.
        shown = files if self.cfg.n <= 64 else files[self.cfg.n :]
        runs.log_stage_run(self.uri, self.cfg.tracking.experiment, params, metrics, shown)


def steered_batches(  # pylint: disable=too-many-arguments  # the run's settings, then what it steers
    cfg: DictConfig,
    vae: torch.nn.Module,
    model_file: Path,
    latents: Iterator[torch.Tensor],
    strengths: dict[str, float],
    metrics: dict[str, float],
) -> tuple[Iterator[torch.Tensor], dict[str, torch.Tensor]]:
    """The faces of `latents` moved along the attributes' directions, a batch at a time (memory flat in n), and
    the attribute grid of the first faces. Once the faces are consumed, `metrics` holds the share of faces in
    which the classifier finds each attribute before and after the move."""
    classifier = load_classifier(Path(cfg.classifier_file), model_file)
    shift = classifier.shift(strengths)  # checks the names before any work
    first = next(latents)
    grid = attribute_grid(vae, classifier, first[: cfg.grid_faces], list(strengths), cfg.attribute_sweep)

    def faces() -> Iterator[torch.Tensor]:
        before, after = torch.zeros(len(strengths)), torch.zeros(len(strengths))
        for batch in chain([first], latents):
            before += attribute_counts(vae, classifier, vae.decode(batch).cpu(), strengths)
            moved = vae.decode(batch + shift).cpu()
            after += attribute_counts(vae, classifier, moved, strengths)
            yield moved
        for index, name in enumerate(strengths):
            share_before, share_after = float(before[index]) / cfg.n, float(after[index]) / cfg.n
            log.info(
                "%s: the classifier finds it in %.0f%% of the faces before the move, %.0f%% after.",
                name,
                100 * share_before,
                100 * share_after,
            )
            metrics.update({f"share_{name}_before": share_before, f"share_{name}_after": share_after})

    return faces(), {ATTRIBUTE_GRID_FILE: grid}


def attribute_strengths(attributes: object) -> dict[str, float]:
    """The `attributes` override as {name: strength}; a UserError shows the syntax when it is not that."""
    if attributes is None:
        return {}
    values = OmegaConf.to_container(attributes) if OmegaConf.is_config(attributes) else attributes
    if not isinstance(values, Mapping) or not all(
        isinstance(value, (int, float)) and not isinstance(value, bool) for value in values.values()
    ):
        raise UserError(
            f'attributes must map attribute names to numbers, e.g. attributes="{{Smiling: 1.5, Eyeglasses: 1}}", '
            f"not {attributes!r}."
        )
    strengths = {str(name): float(value) for name, value in values.items()}
    too_strong = {name: value for name, value in strengths.items() if not abs(value) <= MAX_STRENGTH}
    if too_strong:
        raise UserError(
            f"attributes strengths must lie between -{MAX_STRENGTH:g} and {MAX_STRENGTH:g} (1 is the average "
            f"difference between faces with and without the attribute), not {too_strong}."
        )
    return strengths


def attribute_grid(
    vae: torch.nn.Module, classifier: AttributeClassifier, latents: torch.Tensor, names: list[str], sweep: list[float]
) -> torch.Tensor:
    """One row per attribute and face: the face moved along the attribute's direction by each strength
    of `sweep` (e.g. -2 .. 2: from clearly without it to clearly with it)."""
    directions = [classifier.shift({name: 1.0}) for name in names]
    rows = [latent + strength * direction for direction in directions for latent in latents for strength in sweep]
    return image_grid(decode_all(vae, torch.stack(rows), batch_size=64), nrow=len(sweep))


def attribute_counts(
    vae: torch.nn.Module, classifier: AttributeClassifier, faces: torch.Tensor, names: Mapping[str, float]
) -> torch.Tensor:
    """How many of `faces` the classifier, reading them back through the encoder, finds each attribute in: a
    check that moving the codes changed the pictures."""
    present = classifier.predict(vae.encode(faces).cpu())
    return torch.stack([present[:, classifier.attributes.index(name)].sum() for name in names]).float()
