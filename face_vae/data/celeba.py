"""Read CelebA in its official layout: aligned JPEGs plus the official partition file."""

from pathlib import Path

from face_vae.errors import UserError

PARTITION_FILE = "list_eval_partition.txt"
# The official partition file codes each image's split as a number.
SPLIT_CODES = {"0": "train", "1": "val", "2": "test"}
SPLITS = tuple(SPLIT_CODES.values())
# Where the aligned JPEGs live: the official folder name first, then the name used by our sample.
IMAGE_SUBDIRS = ("img_align_celeba", "images")


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
        f"No image folder ({' or '.join(candidates)}) in {source_dir}: put CelebA's "
        "img_align_celeba/ there, pull it with DVC, or set data.images_subdir."
    )
