"""The settings of the `data` group (data=celeba|folder|synthetic): defaults, rules, `--help` comments.
Torch-free: the command line reads them before anything heavy loads."""

from dataclasses import dataclass
from typing import Any, Optional

from face_vae.core.rules import (
    AT_LEAST_0,
    AUTO_OR_POSITIVE,
    FRACTION,
    POSITIVE,
    SEED_RANGE,
    at_least,
    one_of,
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


@dataclass
class NumImages:
    """Drawn images per split."""

    train: int = setting(256, "", POSITIVE)
    val: int = setting(64, "", POSITIVE)
    test: int = setting(64, "", POSITIVE)


@dataclass
class SyntheticData(Data):
    """Face-like images drawn by face_vae/core/data/synthetic.py: the whole pipeline offline, in seconds."""

    kind: str = setting("synthetic")
    prepared_dir: str = setting("prepared/synthetic_${data.image_size}", "where `prepare` draws the faces")
    attributes_file: str = setting(
        "${data.prepared_dir}/list_attr_synthetic.txt",
        "written by prepare: hair colour, pale skin, wide mouth, a coin flip",
    )
    num_images: NumImages = setting(NumImages())
    seed: int = setting(0, "", SEED_RANGE)


def _is_crop(value: object) -> bool:
    return value == "center" or (
        isinstance(value, dict)
        and set(value) == {"left", "top", "size"}
        and all(isinstance(number, int) and number >= 0 for number in value.values())
        and value["size"] > 0
    )


def _is_split(value: object) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 3
        and all(isinstance(share, (int, float)) and share >= 0 for share in value)
        and abs(sum(value) - 1) < 1e-6
    )


@dataclass
class FolderData(Data):
    """Any folder of images of your own (JPEG, PNG, WebP, BMP, searched recursively): data=folder
    data.source_dir=DIR. The split comes from DIR/list_eval_partition.txt when there is one, else from a hash of each
    path (of each top-level folder with split_by=folder), so adding files never moves the others."""

    kind: str = setting("folder")
    source_dir: Optional[str] = setting(None, "the folder that holds your images (required)")
    image_size: int = setting(64, "each crop is resized to this (32 to 256 work)", at_least(8, "at least 8 pixels"))
    crop: Any = setting(
        "center",
        "center: the largest centred square; or a box, data.crop={left: 14, top: 34, size: 150}",
        (_is_crop, "center or {left, top, size}"),
    )
    split: list[float] = setting(
        [0.9, 0.05, 0.05],
        "shares of train, val and test, by a hash of each path",
        (_is_split, "three shares of at least 0 that add up to 1"),
    )
    split_by: str = setting(
        "file",
        "file: each image on its own; folder: a top-level folder (a person) stays in one split",
        one_of("file", "folder"),
    )
    max_bad_fraction: float = setting(0.01, "prepare fails when more images than this are unreadable", FRACTION)
    prepare_workers: Any = setting("auto", "processes decoding images in prepare; auto: one per core", AUTO_OR_POSITIVE)


OPTIONS = {"base": Data, "celeba": CelebAData, "folder": FolderData, "synthetic": SyntheticData}
