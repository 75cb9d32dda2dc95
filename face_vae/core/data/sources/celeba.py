"""data=celeba: CelebA in its official layout, cropped and resized as the `data` group says."""

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from PIL import Image, UnidentifiedImageError

from face_vae.core.data.celeba import (
    PARTITION_FILE,
    FolderImages,
    TooLarge,
    ZipImages,
    check_pixels,
    find_images,
    read_partition,
)
from face_vae.core.data.preparation import decode_splits
from face_vae.core.data.sources import Source
from face_vae.core.errors import UserError

log = logging.getLogger(__name__)


@dataclass
class CelebASource(Source):
    """CelebA in its official layout (the image folder or img_align_celeba.zip, and the partition file):
    each image cropped to the `crop` box ({left, top, size}) and resized to `image_size`."""

    KIND = "celeba"

    source_dir: str
    image_size: int
    crop: dict[str, int]
    images_subdir: str | None
    max_bad_fraction: float
    workers: int | str  # processes decoding JPEGs; auto: one per core

    @classmethod
    def from_settings(cls, data: Mapping[str, Any]) -> "CelebASource":
        return cls(
            data["source_dir"],
            data["image_size"],
            dict(data["crop"]),
            data["images_subdir"],
            data["max_bad_fraction"],
            data["prepare_workers"],
        )

    def recipe(self) -> dict:
        return {
            "kind": self.KIND,
            "image_size": self.image_size,
            "source_dir": str(Path(self.source_dir).resolve()),
            "crop": dict(self.crop),
        }

    def missing_file(self) -> Path | None:
        """The partition file when it is not there yet (the caller fetches it), else None."""
        partition = Path(self.source_dir) / PARTITION_FILE
        return None if partition.is_file() else partition

    def write(self, prepared_dir: Path) -> dict[str, int]:
        """Write each split's crops; return the number of images per split."""
        source_dir = Path(self.source_dir)
        images = find_images(source_dir, self.images_subdir)
        partition = read_partition(source_dir / PARTITION_FILE)
        crop = (self.crop["left"], self.crop["top"], self.crop["size"])
        load = partial(load_crop, images=images, crop=crop, image_size=self.image_size)
        log.info("Reading the images of %s.", images)
        counts, _ = decode_splits(partition, load, self.workers, prepared_dir, self.max_bad_fraction)
        if not counts:
            raise UserError(f"{source_dir / PARTITION_FILE} lists no images: use CelebA's official partition file.")
        return counts


def load_crop(
    name: str, images: FolderImages | ZipImages, crop: tuple[int, int, int], image_size: int
) -> tuple[np.ndarray | None, str]:
    """Decode, crop and resize one image; return (pixels, '') or (None, why it was skipped)."""
    left, top, size = crop
    try:
        with images.open(name) as file, Image.open(file) as image:
            check_pixels(image)
            image.load()
            if image.mode != "RGB":
                return None, f"not RGB (mode {image.mode})"
            if image.width < left + size or image.height < top + size:
                return None, f"too small ({image.width}x{image.height}) for the crop box"
            face = image.crop((left, top, left + size, top + size))
    except FileNotFoundError:
        return None, "missing"
    except (TooLarge, Image.DecompressionBombError) as error:  # PIL's own limit is checked as it opens: 179 MP
        return None, str(error) if isinstance(error, TooLarge) else f"too large ({error})"
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        return None, f"unreadable ({error})"
    if image_size != size:
        face = face.resize((image_size, image_size), Image.Resampling.BICUBIC)
    return np.asarray(face, dtype=np.uint8), ""
