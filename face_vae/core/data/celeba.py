"""Read CelebA in its official layout: aligned JPEGs (a folder, or the zip they come in) plus the
official partition file."""

import io
import zipfile
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from face_vae.core.errors import UserError

PARTITION_FILE = "list_eval_partition.txt"
# The official partition file codes each image's split as a number.
SPLIT_CODES = {"0": "train", "1": "val", "2": "test"}
SPLITS = tuple(SPLIT_CODES.values())
# Where the aligned JPEGs live: the official folder name first, then the name used by our sample.
IMAGE_SUBDIRS = ("img_align_celeba", "images")
IMAGES_ZIP = "img_align_celeba.zip"  # the official download: 202,599 JPEGs in img_align_celeba/


def read_partition(path: Path) -> dict[str, list[str]]:
    """Return the image file names of each split (`train`, `val`, `test`), in file order."""
    if not path.is_file():
        raise UserError(
            f"The partition file {path} is missing: put CelebA's official {PARTITION_FILE} "
            "beside the images (or pull the data with DVC)."
        )
    splits: dict[str, list[str]] = {split: [] for split in SPLITS}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[1] not in SPLIT_CODES:
            raise UserError(
                f"Line {number} of {path} is not '<image>.jpg <0|1|2>': {line.strip()!r}; "
                "use CelebA's official partition file."
            )
        splits[SPLIT_CODES[fields[1]]].append(fields[0])
    return splits


def find_images_dir(source_dir: Path, images_subdir: str | None) -> Path:
    """Return the folder of aligned JPEGs in `source_dir` (configured, or the first known name)."""
    candidates = [images_subdir] if images_subdir else list(IMAGE_SUBDIRS)
    for name in candidates:
        if (source_dir / name).is_dir():
            return source_dir / name
    raise UserError(
        f"No image folder ({' or '.join(candidates)}) and no {IMAGES_ZIP} in {source_dir}: put CelebA's "
        "img_align_celeba/ or its zip there (`python commands.py download`), pull it with DVC, or set "
        "data.images_subdir."
    )


def find_images(source_dir: Path, images_subdir: str | None) -> "FolderImages | ZipImages":
    """The aligned JPEGs of `source_dir`: its image folder, or else the official zip, read as it is."""
    if (source_dir / IMAGES_ZIP).is_file() and not any(
        (source_dir / name).is_dir() for name in ([images_subdir] if images_subdir else IMAGE_SUBDIRS)
    ):
        return ZipImages(source_dir / IMAGES_ZIP)
    return FolderImages(find_images_dir(source_dir, images_subdir))


class FolderImages:
    """JPEGs in a folder, opened by file name."""

    def __init__(self, folder: Path):
        self.folder = folder

    def open(self, name: str) -> BinaryIO:
        """The bytes of image `name`; FileNotFoundError when it is not there."""
        return open(self.folder / name, "rb")

    def __str__(self) -> str:
        return str(self.folder)


_OPEN_ZIPS: dict[str, zipfile.ZipFile] = {}  # per process: a zip's directory is read once, not per image


# A photo of a face needs far fewer pixels; a 15000x12000 image takes ~0.5 GB to decode (PIL refuses only
# beyond 179 MP, with an error no caller expects). Checked from the header, before decoding.
MAX_PIXELS = 40_000_000


class TooLarge(ValueError):
    """An image (or a zip member) larger than a face photo can sanely be: skipped like a corrupt one."""


def check_pixels(image: Image.Image) -> None:
    """Refuse an image of more than MAX_PIXELS, from its header (Image.open does not decode)."""
    if image.width * image.height > MAX_PIXELS:
        raise TooLarge(f"too large ({image.width}x{image.height} pixels, more than {MAX_PIXELS // 10**6} MP)")


MAX_MEMBER_BYTES = 64 * 2**20  # a CelebA JPEG is ~10 KB; a member this large is not a face photo


class ZipImages:
    """JPEGs read straight from a zip archive (no unzip step, no 202,599 files on disk). Picklable:
    each worker process opens the archive once, when it first reads from it."""

    def __init__(self, path: Path):
        self.path = path
        with zipfile.ZipFile(path) as archive:
            folders = {name.rsplit("/", 1)[0] for name in archive.namelist() if "/" in name}
        # The official zip keeps the images in img_align_celeba/; a flat zip has them at the top.
        self.folder = next((name for name in IMAGE_SUBDIRS if name in folders), "")

    def open(self, name: str) -> BinaryIO:
        """The bytes of image `name`; FileNotFoundError when the archive has no such member."""
        archive = _OPEN_ZIPS.get(str(self.path))
        if archive is None:
            # Kept open for the life of the worker process: reopening would reread the directory per image.
            archive = _OPEN_ZIPS[str(self.path)] = zipfile.ZipFile(self.path)  # pylint: disable=consider-using-with
        try:
            member = archive.getinfo(f"{self.folder}/{name}" if self.folder else name)
        except KeyError as error:
            raise FileNotFoundError(name) from error
        if member.file_size > MAX_MEMBER_BYTES:  # read from the directory: nothing is decompressed
            raise TooLarge(f"too large ({member.file_size / 2**20:.0f} MB unpacked in the zip)")
        return io.BytesIO(archive.read(member))

    def __str__(self) -> str:
        return str(self.path)
