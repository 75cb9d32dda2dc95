"""Binary attributes of each image, matched to the images of a prepared split: CelebA's 40 (`list_attr_celeba.txt`),
or a CSV of one's own (`file,attr1,attr2,...`, one row per image, values 0/1 or -1/1)."""

import csv
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from face_vae.core import atomic
from face_vae.core.errors import UserError

ATTRIBUTES_FILE = "list_attr_celeba.txt"


def read_attributes(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """(attribute names, {image name: booleans}) from a file in CelebA's format: the image count, the
    names, then one line per image of `name` and one 1 or -1 per attribute."""
    if not path.is_file():
        raise UserError(
            f"The attribute file {path} is missing: put CelebA's {ATTRIBUTES_FILE} beside "
            "list_eval_partition.txt (data.dvc has it), or set data.attributes_file."
        )
    if path.suffix.lower() == ".csv":
        return _read_csv(path)
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


def _read_csv(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """(attribute names, {image path: booleans}) from a CSV whose header is `file,attr1,attr2,...` and whose rows are
    an image's path relative to data.source_dir and 0/1 (or -1/1) per attribute; every bad row is counted, the first
    few named."""
    with open(path, newline="", encoding="utf-8-sig") as file:  # utf-8-sig: a spreadsheet's byte-order mark
        rows = list(csv.reader(file))
    header = [name.strip() for name in rows[0]] if rows else []
    names = header[1:]
    if not names or any(not name for name in names) or len(set(names)) < len(names):
        raise UserError(
            f"{path} does not start with a header `file,attr1,attr2,...` of distinct attribute names: add one."
        )
    labels, bad = {}, []
    for number, fields in enumerate(rows[1:], start=2):
        values = [field.strip() for field in fields]
        if not any(values):
            continue
        if len(values) != len(header) or not values[0] or not set(values[1:]) <= {"0", "1", "-1"}:
            bad.append(number)
            continue
        labels[values[0].removeprefix("./").replace("\\", "/")] = np.array(values[1:]) == "1"
    if bad:
        raise UserError(
            f"{len(bad)} rows of {path} are not an image path and {len(names)} values of 0/1 or -1/1 (lines "
            f"{', '.join(map(str, bad[:5]))}{' ...' if len(bad) > 5 else ''}): fix them."
        )
    if not labels:
        raise UserError(f"{path} lists no images: add a row `path/of/image.jpg,1,0,...` per image.")
    return names, labels


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
