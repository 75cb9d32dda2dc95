"""Steps that several stages take: data and models fetched when missing, then opened."""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from omegaconf import DictConfig, OmegaConf

from face_vae import hardware, storage
from face_vae.core.config import build, compose, flat_values, words_given
from face_vae.core.data.preparation import prepared_folder
from face_vae.core.errors import UserError
from face_vae.core.models.model_file import load_model
from face_vae.core.prepare import MATCHED_DATA_KEYS, data_source
from face_vae.core.progress import is_terminal
from face_vae.model_records import training_recipe
from face_vae.tracking import provenance, registry, server

if TYPE_CHECKING:
    import lightning


log = logging.getLogger(__name__)


def pull_shared_folder(cfg: DictConfig) -> None:
    """The `before_prepare` hook: a folder the team shares with `dvc add DIR` (DIR.dvc committed), pulled when it is
    not here, as CelebA is through data.dvc."""
    source_dir = cfg.data.get("source_dir")
    if source_dir and not Path(source_dir).exists() and Path(f"{source_dir}.dvc").is_file() and cfg.storage.pull:
        storage.pull_tracked(storage_settings(cfg), f"{source_dir}.dvc")


def pull_missing_data(cfg: DictConfig, wanted: Path) -> None:
    """The `fetch_data` hook: the file the data source lacks, pulled through data.dvc when it tracks it; else what to
    do (download, point elsewhere, or a folder of one's own)."""
    tracked = storage.tracked_path(cfg.storage.data_dvc)
    if tracked is None or not wanted.resolve().is_relative_to(tracked.resolve()):  # DVC cannot bring it
        raise UserError(f"{_no_data(cfg.data.source_dir, wanted)}.")
    try:
        storage.pull_data(storage_settings(cfg), wanted)
    except UserError as error:  # the cause a user acts on first, then why DVC could not help
        raise UserError(
            f"{_no_data(cfg.data.source_dir, wanted)}; pulling it through {cfg.storage.data_dvc} did not work "
            f"either: {error}"
        ) from error


def _no_data(source_dir: str, wanted: Path) -> str:
    """Why there is no data, in the words of what to do (download, point elsewhere, or a folder of one's own)."""
    folder = Path(source_dir)
    own = f"train on a folder of your own images with data=folder data.source_dir={source_dir}"
    if not folder.is_dir():
        return (
            f"There is no data in {source_dir} (no such folder): download CelebA's official files with `python "
            f"commands.py download data.source_dir={source_dir}`, point data.source_dir at a folder that has them, or "
            f"{own.replace(f'={source_dir}', '=DIR')}"
        )
    return (
        f"{folder} has no {wanted.relative_to(folder) if wanted.is_relative_to(folder) else wanted} (CelebA's "
        f"partition file): {own}, or download CelebA's official files with `python commands.py download "
        f"data.source_dir={source_dir}`"
    )


def model_path(cfg: DictConfig) -> Path:
    """The local file of `cfg.model_file`: the path itself, or a registered version (models:/...) downloaded
    through MLflow once and cached."""
    if registry.is_registry_uri(cfg.model_file):
        return registry.fetch_model_file(cfg.model_file, registry_uri(cfg))
    return model_file_path(cfg.model_file)


def model_file_path(model_file: str) -> Path:
    """`model_file` as a path; a folder is refused in the user's words (DVC would try to pull it)."""
    path = Path(model_file)
    if path.is_dir():
        raise UserError(f"model_file={model_file} is a folder: point it at a model file, e.g. {path / 'vae.pt'}.")
    return path


def registry_uri(cfg: DictConfig) -> str:
    """The MLflow store whose registry `models:/` URIs name: `tracking.uri` (checked), even with tracking off."""
    return server.tracking_uri(OmegaConf.to_object(cfg.tracking))


def pulled_model(cfg: DictConfig, model_file: Path) -> torch.nn.Module:
    """The model in `model_file`, pulled through models.dvc first when the file is missing."""
    pull_missing_model(cfg, model_file)
    return load_model(model_file)


def pull_missing_model(cfg: DictConfig, model_file: Path) -> None:
    """`model_file` pulled through models.dvc when it is missing and models.dvc tracks it; a UserError when it
    does not."""
    if not model_file.is_file():
        tracked = storage.tracked_path(cfg.storage.models_dvc)
        if tracked is not None and not model_file.resolve().is_relative_to(tracked.resolve()):  # DVC cannot bring it
            raise UserError(
                f"There is no model at {model_file}: check model_file, train one with `python commands.py "
                f"train model_file={model_file}`, or use a model under {tracked}/ that "
                f"{cfg.storage.models_dvc} tracks."
            )
        storage.pull_model(storage_settings(cfg), model_file)


def build_trainer(cfg: DictConfig, runtime: hardware.Runtime, callbacks: list, logger: object) -> "lightning.Trainer":
    """Lightning's Trainer from the `trainer` group, at the resolved precision. In a terminal Lightning's progress
    bar shows progress (on a GPU redrawn as often as metrics are logged: each redraw reads them on the host); in a
    log file the EpochLine callback does."""
    from face_vae.callbacks.checkpoints import ReplacingCheckpointIO
    from face_vae.callbacks.progress import epoch_bars

    in_terminal = is_terminal()
    callbacks = [*callbacks, *epoch_bars(runtime.machine.device, cfg.trainer.log_every_n_steps)]
    return build(
        cfg.trainer,
        precision=runtime.precision,
        callbacks=callbacks,
        logger=logger,
        enable_progress_bar=in_terminal,
        plugins=[ReplacingCheckpointIO()],
    )


def data_from_model(cfg: DictConfig, command: str, network: torch.nn.Module, model_file: Path) -> DictConfig:
    """`cfg` with the data keys the user left out taken from what the model in `model_file` was trained on (kind,
    image size, crop, split, source folder), composed again; keys the user gave stay as given (`check_model_data`
    then names any that conflict)."""
    recorded = training_recipe(model_file) or {"image_size": network.image_size}  # older files: the size
    given = {word.split("=", 1)[0].lstrip("+~") for word in words_given(command) if "=" in word}
    same_kind = "kind" not in recorded or recorded["kind"] == cfg.data.kind
    if not same_kind and "data" in given:  # the user chose another kind: its keys are not the model's to fill
        return cfg
    current = OmegaConf.to_container(cfg.data, resolve=True)
    words = [] if same_kind else [f"data={recorded['kind']}"]
    for key in (*MATCHED_DATA_KEYS, "source_dir"):
        if key != "kind" and key in recorded and f"data.{key}" not in given and current.get(key) != recorded[key]:
            if key == "source_dir" and not Path(recorded[key]).is_dir():  # another machine's folder: not here
                log.info("%s was trained on data in %s, which is not here: reading %s.", model_file, recorded[key],
                         current.get(key))  # fmt: skip
                continue
            words.append(f"data.{key}={_override(recorded[key])}")
    if not words:
        return cfg
    log.info("Reading the kind of faces %s was trained on: %s.", model_file, " ".join(words))
    return compose(command, [*words, *words_given(command)])


def photo_crop(cfg: DictConfig, command: str, model_file: Path) -> str | dict:
    """How photos are cropped for the model in `model_file`: as its training faces were (the crop its file records,
    `center` for a folder of one's own), unless the user gave data.crop."""
    given = {word.split("=", 1)[0].lstrip("+~") for word in words_given(command) if "=" in word}
    recorded = (training_recipe(model_file) or {}).get("crop")
    crop = cfg.data.crop if recorded is None or "data.crop" in given else recorded
    return crop if isinstance(crop, str) else OmegaConf.to_container(crop) if isinstance(crop, DictConfig) else crop


def check_model_data(cfg: DictConfig, network: torch.nn.Module, model_file: Path) -> None:
    """Refuse to read faces for the model in `model_file` from data other than its own (values the user gave that
    differ from the model's recipe), naming every difference at once."""
    recorded = training_recipe(model_file) or {"image_size": network.image_size}  # older files: the size
    given = OmegaConf.to_container(cfg.data, resolve=True)
    differ = [key for key in MATCHED_DATA_KEYS if key in recorded and given.get(key) != recorded[key]]
    if not differ:
        return
    if differ == ["image_size"]:
        raise UserError(
            f"The model {cfg.model_file} makes and reads {network.image_size} px faces, not {cfg.data.image_size}: "
            f"leave data.image_size out (or set data.image_size={network.image_size})."
        )
    shown = ", ".join(
        f"{'data' if key == 'kind' else f'data.{key}'}={_override(given.get(key))} (the model's: "
        f"{_override(recorded[key])})"
        for key in differ
    )
    raise UserError(
        f"The model {cfg.model_file} was trained on other data than the given {shown}: leave these keys out to read "
        "its own kind of faces, or use a model trained on this data."
    )


def _override(value: object) -> str:
    """`value` as a Hydra override writes it."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{key}:{_override(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_override(item) for item in value) + "]"
    return str(value)


def inference_runtime(cfg: DictConfig) -> hardware.Runtime:
    """The precision, layout and threads of a command that only runs the network forward (`runtime.*`)."""
    return hardware.resolve(cfg.runtime.precision, cfg.runtime.channels_last, cfg.runtime.threads)


def storage_settings(cfg: DictConfig) -> storage.StorageSettings:
    """The `storage` group as the settings the DVC code takes."""
    return OmegaConf.to_object(cfg.storage)


def tracking_uri(cfg: DictConfig) -> str | None:
    """The MLflow URI this command logs to, None with tracking.enabled=false; checked before any work."""
    if not cfg.tracking.enabled:
        return None
    return server.tracking_uri(OmegaConf.to_object(cfg.tracking))


def run_params(cfg: DictConfig) -> dict[str, str]:
    """Every resolved config value, the git commit, the data's provenance and library versions: the params
    of a training run."""
    source_dir = cfg.data.get("source_dir") if cfg.data.kind != "synthetic" else None
    prepared = prepared_folder(data_source(cfg.data), Path(cfg.data.prepared_dir))
    data = provenance.data_provenance(cfg.storage.data_dvc, source_dir, str(prepared), cfg.data.kind)
    return provenance.flat_params(flat_values(cfg), data)


def config_yaml(cfg: DictConfig) -> str:
    """The config as the YAML a run logs."""
    return OmegaConf.to_yaml(cfg)
