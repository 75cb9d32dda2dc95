"""The extra data sources' settings (data=folder: your own images; data=synthetic: drawn faces), added to the core's
`data` group, and their package (face_vae/data/sources/) added to where the core finds a source by name.
configs/extras.yaml names this module. Torch-free: the command line reads it before anything heavy loads."""

from dataclasses import dataclass
from typing import Any, Optional

from face_vae.core import settings
from face_vae.core.data import sources
from face_vae.core.data.settings import Data
from face_vae.core.rules import AUTO_OR_POSITIVE, FRACTION, POSITIVE, SEED_RANGE, at_least, one_of, setting


@dataclass
class NumImages:
    """Drawn images per split."""

    train: int = setting(256, "", POSITIVE)
    val: int = setting(64, "", POSITIVE)
    test: int = setting(64, "", POSITIVE)


@dataclass
class SyntheticData(Data):
    """Face-like images drawn by face_vae/data/synthetic.py: the whole pipeline offline, in seconds."""

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


settings.add(options={"data": {"folder": FolderData, "synthetic": SyntheticData}})
sources.PACKAGES.append("face_vae.data.sources")
