"""data=folder: every image under a folder of one's own (a phone's photos, LFW, FFHQ thumbnails, class folders).

The split never moves an image when files are added elsewhere: it comes from `list_eval_partition.txt` in the folder
when there is one (CelebA's format, names relative to the folder), else from a hash of each image's path, or with
`split_by=folder` of its top-level folder, so that one person's photos (LFW) never straddle train and val.
"""

import hashlib
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from face_vae.core.data.celeba import PARTITION_FILE, TooLarge, check_pixels, read_partition
from face_vae.core.data.preparation import decode_splits
from face_vae.core.data.sources import Source
from face_vae.core.errors import UserError
from face_vae.data.photos import rgb

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
SPLITS = ("train", "val", "test")


@dataclass
class FolderSource(Source):
    """The images under `source_dir`, cropped (`center`, or a {left, top, size} box) and resized to `image_size`."""

    KIND = "folder"
    source_dir: str
    image_size: int
    crop: str | dict[str, int]
    split: list[float]
    split_by: str
    max_bad_fraction: float
    workers: int | str  # processes decoding images; auto: one per core
    _listing: "Listing | None" = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_settings(cls, data: Mapping[str, Any]) -> "FolderSource":
        if not data.get("source_dir"):
            raise UserError("data=folder needs data.source_dir=DIR: the folder that holds your images.")
        shares = [float(share) for share in data["split"]]
        crop = data["crop"] if isinstance(data["crop"], str) else dict(data["crop"])
        settings = (data["split_by"], data["max_bad_fraction"], data["prepare_workers"])
        return cls(str(data["source_dir"]), data["image_size"], crop, shares, *settings)

    def recipe(self) -> dict:
        split = self.split if not self.listing().partition else "partition file"
        where = str(Path(self.source_dir).resolve())
        return {"kind": self.KIND, "image_size": self.image_size, "source_dir": where, "crop": self.crop} | {
            "split": split,
            "split_by": self.split_by,
        }

    def contents(self) -> dict:
        return {"images": len(self.listing().images), "fingerprint": self.listing().fingerprint}

    def write(self, prepared_dir: Path) -> dict[str, int]:
        listing = self.listing()
        splits = listing.partition or split_by_hash(listing.images, self.split, self.split_by)
        _check_splits(splits, self.split, len(listing.images))
        root = Path(self.source_dir)
        load = partial(load_image, root=root, crop=self.crop, image_size=self.image_size)
        log.info("Reading the images under %s.", root)
        counts, small = decode_splits(splits, load, self.workers, prepared_dir, self.max_bad_fraction)
        if small:
            log.warning(
                "%d images are smaller than %d px and were scaled up: lower data.image_size to keep their detail.",
                small,
                self.image_size,
            )
        return counts

    def listing(self) -> "Listing":
        """The folder's images, read once per command."""
        if self._listing is None:
            self._listing = list_images(Path(self.source_dir))
        return self._listing


@dataclass
class Listing:
    """What a folder holds: its images (paths relative to it, in order), what was passed over, and the split its
    partition file gives (None without one)."""

    images: list[str]
    hidden: int
    other: int
    fingerprint: str
    partition: dict[str, list[str]] | None


def list_images(root: Path) -> Listing:
    """Every image under `root`, recursively, in a stable order: hidden files and folders are passed over, and
    links are followed only when they stay inside `root`."""
    if not root.is_dir():
        pull = f" (or allow storage.pull, and {root}.dvc brings it)" if Path(f"{root}.dvc").is_file() else ""
        raise UserError(f"data.source_dir={root} is not a folder: point it at the folder that holds your images{pull}.")
    inside = root.resolve()
    images, hidden, other = [], 0, 0
    digest = hashlib.sha256()
    for folder, folders, files in os.walk(root):  # links to folders are not walked into
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        hidden += sum(1 for name in files if name.startswith("."))
        for name in sorted(name for name in files if not name.startswith(".")):
            path = Path(folder) / name
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                other += name != PARTITION_FILE
                continue
            if path.is_symlink() and not path.resolve().is_relative_to(inside):
                other += 1
                continue
            relative = path.relative_to(root).as_posix()
            stat = path.stat()
            digest.update(f"{relative}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
            images.append(relative)
    if not images:
        raise UserError(
            f"There are no images under data.source_dir={root} (JPEG, PNG, WebP or BMP; {other} other and {hidden} "
            "hidden files passed over): point it at the folder that holds your images."
        )
    partition = None
    if (root / PARTITION_FILE).is_file():
        partition = read_partition(root / PARTITION_FILE)
        digest.update((root / PARTITION_FILE).read_bytes())
        log.info("Splitting %s as its %s says.", root, PARTITION_FILE)
    log.info("Found %d images under %s (%d other and %d hidden files passed over).", len(images), root, other, hidden)
    return Listing(images, hidden, other, digest.hexdigest(), partition)


def split_by_hash(images: Iterable[str], shares: list[float], split_by: str) -> dict[str, list[str]]:
    """Each image's split from a hash of its path (or of its top-level folder with split_by=folder): the same
    image always lands in the same split, whatever else the folder holds."""
    bounds = np.cumsum(shares)
    splits: dict[str, list[str]] = {name: [] for name in SPLITS}
    for image in images:
        key = image.split("/", 1)[0] if split_by == "folder" and "/" in image else image
        position = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
        splits[SPLITS[min(int(np.searchsorted(bounds, position, side="right")), len(SPLITS) - 1)]].append(image)
    return splits


def _check_splits(splits: dict[str, list[str]], shares: list[float], total: int) -> None:
    """Refuse a train or val split left empty, in one sentence naming both."""
    empty = [name for name in ("train", "val") if not splits.get(name)]
    if empty:
        raise UserError(
            f"The {' and '.join(empty)} split{'s are' if len(empty) > 1 else ' is'} empty for the {total} images "
            f"(data.split={shares}): add images or raise {'their shares' if len(empty) > 1 else 'its share'}."
        )


def load_image(
    name: str, root: Path, crop: str | Mapping[str, int], image_size: int
) -> tuple[np.ndarray | None, str, bool]:
    """Decode, turn upright (EXIF), make RGB, crop and resize one image; return (pixels, '', smaller than
    image_size) or (None, why it was skipped, False)."""
    try:
        with Image.open(root / name) as image:
            check_pixels(image)
            image = rgb(ImageOps.exif_transpose(image))
    except FileNotFoundError:
        return None, "missing", False
    except (TooLarge, Image.DecompressionBombError) as error:
        return None, str(error) if isinstance(error, TooLarge) else f"too large ({error})", False
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        return None, f"unreadable ({error})", False
    if crop == "center":
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
    else:
        left, top, side = crop["left"], crop["top"], crop["size"]
        if image.width < left + side or image.height < top + side:
            return None, f"too small ({image.width}x{image.height}) for the crop box", False
    face = image.crop((left, top, left + side, top + side))
    if side != image_size:
        face = face.resize((image_size, image_size), Image.Resampling.BICUBIC)
    return np.asarray(face, dtype=np.uint8), "", side < image_size
