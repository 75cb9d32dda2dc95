"""`prepare`: the data source decoded and cropped once into its training-ready form (face_vae/core/data/), and the
steps every command that reads the prepared crops shares."""

from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig, OmegaConf

from face_vae.core import hooks
from face_vae.core.data.preparation import FolderNotWritable, TooManyBadImages, ensure_prepared
from face_vae.core.data.sources import Source, source_for
from face_vae.core.errors import UserError

if TYPE_CHECKING:
    from face_vae.core.data.datamodule import CelebADataModule

# The keys of the data group that decide what a model's faces look like: read with others, its scores mean nothing.
MATCHED_DATA_KEYS = ("kind", "image_size", "crop", "split", "split_by")


def run(cfg: DictConfig) -> None:
    """Build the prepared form of `cfg.data` (again when `force=true`)."""
    prepared_data(cfg, force=cfg.force)


def prepared_data(cfg: DictConfig, force: bool = False) -> Path:
    """The prepared folder of `cfg.data`, built when missing or stale; the extras' `before_prepare` and `fetch_data`
    hooks bring a source that is not here (DVC)."""

    def fetch(missing: Path) -> None:
        for hook in hooks.functions("fetch_data"):
            hook(cfg, missing)
        if not missing.exists():
            raise UserError(f"There is no {missing}: point data.source_dir at a folder that has it.")

    for hook in hooks.functions("before_prepare"):
        hook(cfg)
    try:
        return ensure_prepared(data_source(cfg.data), Path(cfg.data.prepared_dir), fetch, force=force)
    except TooManyBadImages as error:
        raise UserError(f"{error} (data.max_bad_fraction).") from error
    except FolderNotWritable as error:
        raise UserError(f"{error}: choose another data.prepared_dir.") from error


def data_source(data: DictConfig) -> Source:
    """The source of the `data` group, by its kind (face_vae/core/data/sources/ and the extras')."""
    return source_for(OmegaConf.to_container(data, resolve=True))


def data_module(data: DictConfig, prepared_dir: Path) -> "CelebADataModule":
    """The train, val and test loaders over the prepared crops of the `data` group."""
    # Lightning (and torchvision under it) load only for the commands that train: infer starts seconds faster.
    from face_vae.core.data.datamodule import CelebADataModule

    splits = {"train_split": data.train_split, "val_split": data.val_split, "test_split": data.test_split}
    return CelebADataModule(str(prepared_dir), batch_size=data.batch_size, num_workers=data.num_workers, **splits)


def data_recipe(data: DictConfig) -> dict:
    """What a model file records of the data it was trained on: the keys that decide the crops, and where from."""
    values = OmegaConf.to_container(data, resolve=True)
    return {key: values[key] for key in (*MATCHED_DATA_KEYS, "source_dir") if values.get(key) is not None}
