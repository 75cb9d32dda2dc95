"""CelebA's 40 binary attributes (`list_attr_celeba.txt`), matched to the images of a prepared split."""

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from face_vae import atomic
from face_vae.errors import UserError

ATTRIBUTES_FILE = "list_attr_celeba.txt"


def read_attributes(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """(attribute names, {image name: booleans}) from a file in CelebA's format: the image count, the
    names, then one line per image of `name` and one 1 or -1 per attribute."""
    if not path.is_file():
        raise UserError(
            f"The attribute file {path} is missing: put CelebA's {ATTRIBUTES_FILE} beside "
            "list_eval_partition.txt (data.dvc has it), or set data.attributes_file."
        )
    lines = path.read_text().splitlines()
    names = lines[1].split() if len(lines) > 1 else []
    rows = {}
    for number, line in enumerate(lines[2:], start=3):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != len(names) + 1 or not set(fields[1:]) <= {"1", "-1"}:
            raise UserError(
                f"Line {number} of {path} is not an image name and {len(names)} values of 1 or -1: "
                f"{line.strip()[:80]!r}; use CelebA's official {ATTRIBUTES_FILE}."
            )
        rows[fields[0]] = np.array(fields[1:]) == "1"
    if not names or not rows:
        raise UserError(f"{path} lists no attributes or no images: use CelebA's official {ATTRIBUTES_FILE}.")
    return names, rows


def write_attributes(path: Path, names: list[str], rows: Mapping[str, np.ndarray]) -> None:
    """Write `rows` ({image name: booleans}) in CelebA's format, for `read_attributes`."""
    lines = [str(len(rows)), " ".join(names)]
    lines += [f"{image} " + " ".join("1" if value else "-1" for value in values) for image, values in rows.items()]
    atomic.write_text(path, "\n".join(lines) + "\n")


def split_labels(attributes_file: Path, prepared_dir: Path, split: str) -> tuple[list[str], torch.Tensor]:
    """(attribute names, labels (N, A) as 0./1.) of the images of a prepared split, in their order."""
    names, rows = read_attributes(attributes_file)
    images = (prepared_dir / f"{split}.txt").read_text().split()
    missing = [image for image in images if image not in rows]
    if missing:
        raise UserError(
            f"{attributes_file} has no attributes for {len(missing)} of the {len(images)} {split} images "
            f"(e.g. {missing[0]}): use the attribute file of this dataset."
        )
    return names, torch.from_numpy(np.stack([rows[image] for image in images])).float()
