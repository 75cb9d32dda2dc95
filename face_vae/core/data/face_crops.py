"""The prepared format: one raw uint8 file of face crops per split, read with positioned reads.

`prepare` writes, per split, `<split>.u8` of shape (N, H, W, 3) and `<split>.txt` with the image names in
the same order; `meta.json`, written last, says what was built and marks the folder complete.
"""

import hashlib
import json
import os
from pathlib import Path

import torch
from torch.utils.data import Dataset

from face_vae.core.errors import UserError

META_FILE = "meta.json"
SAMPLE = 2**20  # bytes read at each of three places of a file to fingerprint it


def read_meta(prepared_dir: Path) -> dict:
    """The description of a complete prepared folder, or {} when it is missing or incomplete."""
    try:
        return json.loads((Path(prepared_dir) / META_FILE).read_text())
    except (OSError, ValueError):
        return {}


def fingerprint(path: Path) -> dict:
    """A cheap check of a prepared file: its size, and the md5 of its first, middle and last MB."""
    size = path.stat().st_size
    digest = hashlib.md5(str(size).encode())
    with open(path, "rb") as file:
        for start in sorted({0, max(0, size // 2 - SAMPLE // 2), max(0, size - SAMPLE)}):
            file.seek(start)
            digest.update(file.read(SAMPLE))
    return {"bytes": size, "md5": digest.hexdigest()}


def damage(prepared_dir: Path, meta: dict) -> str:
    """What is wrong with the prepared files against what `prepare` recorded, or '' when they are intact
    (a folder prepared before fingerprints were recorded gets the size check only)."""
    size = meta["image_size"]
    for split, count in meta.get("counts", {}).items():
        path = Path(prepared_dir) / f"{split}.u8"
        expected = meta.get("files", {}).get(split) or {"bytes": count * size * size * 3}
        try:
            found = fingerprint(path)
        except OSError as error:
            return f"{path} cannot be read ({error.strerror})"
        if found["bytes"] != expected["bytes"]:
            return f"{path} has {found['bytes']:,} bytes, not the {expected['bytes']:,} prepare wrote"
        if "md5" in expected and found["md5"] != expected["md5"]:
            return f"{path} has changed since prepare wrote it"
    return ""


def require_split(prepared_dir: Path, split: str, key: str = "split") -> int:
    """The number of prepared images of `split`; a UserError naming the splits there are when it has none (a
    partition that lists no image of it, as the shared sample lists no test image)."""
    counts = read_meta(Path(prepared_dir)).get("counts")
    if counts is None:
        raise UserError(
            f"There is no prepared data in {prepared_dir}: run `python commands.py prepare` (or train) first."
        )
    if not counts.get(split):
        having = [name for name, count in counts.items() if count]
        raise UserError(
            f"The '{split}' split has no images in this dataset (it has {', '.join(having) or 'none'}): choose one "
            f"with {key}={having[-1] if having else 'val'}."
        )
    return counts[split]


class FaceCrops(Dataset):
    """The uint8 face crops of one split, as CHW uint8 tensors; optionally flipped at random.

    Each item is one positioned read (`os.preadv`) of its bytes: no decoding, and nothing of the
    file is mapped into the process, so its memory stays flat however large the dataset (a memory
    map would count every page read into the resident set). The file is opened lazily, so each
    loader worker has its own handle.
    """

    def __init__(self, prepared_dir: Path, split: str, flip: bool = False):
        require_split(prepared_dir, split)
        meta = read_meta(Path(prepared_dir))
        problem = damage(Path(prepared_dir), {**meta, "counts": {split: meta["counts"][split]}})
        if problem:
            raise UserError(f"{problem}: prepare it again with `python commands.py prepare force=true`.")
        self.path = Path(prepared_dir) / f"{split}.u8"
        size = meta["image_size"]
        self.shape = (meta["counts"][split], size, size, 3)
        self.flip = flip
        self.item_bytes = size * size * 3
        self._file: int | None = None

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.__getitems__([index])[0]

    def first(self, count: int) -> torch.Tensor:
        """The first `count` images (or all, if fewer) as one uint8 batch: the same ones every time."""
        return self.__getitems__(list(range(min(count, len(self)))))

    def __getitems__(self, indices: list[int]) -> torch.Tensor:
        """A whole batch (N, 3, H, W) uint8, read into one buffer: one tensor to hand over per batch,
        not N to collate (DataLoader calls this when the dataset has it)."""
        if self._file is None:
            self._file = os.open(self.path, os.O_RDONLY)
        batch = torch.empty((len(indices), *self.shape[1:]), dtype=torch.uint8)
        slots = memoryview(batch.numpy()).cast("B")
        for slot, index in enumerate(indices):
            if not 0 <= index < len(self):
                raise IndexError(index)
            start = slot * self.item_bytes
            os.preadv(self._file, [slots[start : start + self.item_bytes]], index * self.item_bytes)
        if self.flip:
            # A mirrored face is still a face; width is axis 2 in NHWC.
            mirrored = torch.rand(len(indices)) < 0.5
            batch[mirrored] = batch[mirrored].flip(2)
        # NHWC memory seen as NCHW: what convolutions call channels_last, and no copy.
        return batch.permute(0, 3, 1, 2)

    def __getstate__(self) -> dict:
        # A worker started by spawn (or a pickled copy) opens its own handle.
        return {**self.__dict__, "_file": None}

    def __del__(self) -> None:
        if getattr(self, "_file", None) is not None:  # absent when __init__ refused the folder
            os.close(self._file)


def batched(batch: torch.Tensor) -> torch.Tensor:
    """The DataLoader collate step for FaceCrops: its __getitems__ has already made the batch."""
    return batch


def as_floats(batch: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> floats in [0, 1], the model's input."""
    return batch.float().div_(255)
