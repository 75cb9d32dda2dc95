"""data=celeba: CelebA in its official layout, cropped and resized as the `data` group says."""

import logging
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Mapping

from face_vae import atomic
from face_vae.data.celeba import PARTITION_FILE, find_images, read_partition
from face_vae.data.preparation import check_bad_images, die_with_parent, load_crop, write_split
from face_vae.data.sources import Source
from face_vae.errors import UserError

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
        workers = (os.cpu_count() or 1) if self.workers == "auto" else int(self.workers)
        log.info("Decoding the images of %s with %d processes.", images, workers)
        counts, bad = {}, []
        pool = ProcessPoolExecutor(max_workers=workers, initializer=die_with_parent)
        try:
            for split, names in partition.items():
                if not names:
                    log.warning("The partition lists no %s images; that split is left out.", split)
                    continue
                kept, skipped = write_split(pool.map(load, names, chunksize=64), names, prepared_dir / f"{split}.u8")
                bad += skipped
                atomic.write_text(prepared_dir / f"{split}.txt", "".join(f"{name}\n" for name in kept))
                counts[split] = len(kept)
        finally:  # stopped (SIGTERM, an error): drop the images not started instead of decoding them all first
            pool.shutdown(wait=True, cancel_futures=True)
        check_bad_images(bad, sum(counts.values()) + len(bad), self.max_bad_fraction, prepared_dir)
        if not counts:
            raise UserError(f"{source_dir / PARTITION_FILE} lists no images: use CelebA's official partition file.")
        return counts
