"""The settings of the `data` group (data=celeba; the extras add data=folder|synthetic): defaults, rules, `--help`
comments.
Torch-free: the command line reads them before anything heavy loads."""

from dataclasses import dataclass
from typing import Any, Optional

from face_vae.core.rules import (
    AT_LEAST_0,
    AUTO_OR_POSITIVE,
    FRACTION,
    POSITIVE,
    at_least,
    setting,
)


@dataclass
class Crop:
    """The crop box inside CelebA's 178x218 aligned image; (14, 34) centres it and needs no resampling."""

    left: int = setting(14, "", AT_LEAST_0)
    top: int = setting(34, "", AT_LEAST_0)
    size: int = setting(150, "", at_least(1, "a positive number of pixels"))


@dataclass
class Data:
    """What every data source shares (data=base: what a new source's YAML starts from): the prepared folder, the
    loaders and the split names."""

    kind: str = setting("", "the data source's name (face_vae/core/data/sources/): each data option sets it")
    source_dir: Optional[str] = setting(None, "the folder the images come from (null for drawn faces)")
    image_size: int = setting(
        150, "the crop is resized to this when it differs (64 works too)", at_least(8, "at least 8 pixels")
    )
    prepared_dir: str = setting(
        "prepared/${data.kind}_${data.image_size}", "where `prepare` writes the crops (a subfolder per recipe)"
    )
    batch_size: int = setting(32, "", POSITIVE)
    num_workers: int = setting(
        0,
        "loader processes: 0 on a CPU (why: docs/PERFORMANCE.md), 2-8 on a GPU machine",
        AT_LEAST_0,
    )
    attributes_file: Optional[str] = setting(
        None,
        "each image's attributes (train_classifier): CelebA's format, or a CSV `file,attr1,...` of 0/1 or -1/1; "
        "null: the data has none",
    )
    train_split: str = setting("train")
    val_split: str = setting("val")
    test_split: str = setting("test")


@dataclass
class CelebAData(Data):
    """CelebA in its official layout: <source_dir>/img_align_celeba/*.jpg (178x218) or the official
    img_align_celeba.zip (read as it is), and <source_dir>/list_eval_partition.txt. data.dvc tracks data/,
    so `train` pulls it when missing; `python commands.py download` fetches it from the official files."""

    kind: str = setting("celeba")
    source_dir: str = setting("data/celeba")
    attributes_file: Optional[str] = setting(
        "${data.source_dir}/list_attr_celeba.txt", "CelebA's 40 attributes (train_classifier)"
    )
    images_subdir: Optional[str] = setting(None, "null: img_align_celeba/, or images/ when that is what the folder has")
    crop: Crop = setting(Crop())
    max_bad_fraction: float = setting(0.01, "prepare fails when more images than this are missing or corrupt", FRACTION)
    prepare_workers: Any = setting("auto", "processes decoding JPEGs in prepare; auto: one per core", AUTO_OR_POSITIVE)


OPTIONS = {"base": Data, "celeba": CelebAData}  # the extras add theirs (face_vae/data/settings.py)
