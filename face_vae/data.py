"""Face crops prepared by `prepare`, read through memory maps, and their LightningDataModule."""

from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from face_vae.errors import UserError
from face_vae.prepare import read_meta


class FaceCrops(Dataset):
    """The uint8 face crops of one split, as CHW uint8 tensors; optionally flipped at random.

    The file is memory-mapped lazily, so each loader worker maps it itself and memory does not grow
    with the dataset.
    """

    def __init__(self, prepared_dir: Path, split: str, flip: bool = False):
        meta = read_meta(Path(prepared_dir))
        if split not in meta.get("counts", {}):
            raise UserError(
                f"There is no prepared '{split}' split in {prepared_dir}: run `python commands.py prepare` "
                "(the partition file may list no images of that split)."
            )
        self.path = Path(prepared_dir) / f"{split}.u8"
        size = meta["image_size"]
        self.shape = (meta["counts"][split], size, size, 3)
        self.flip = flip
        self._images: np.memmap | None = None

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: int) -> torch.Tensor:
        if self._images is None:
            self._images = np.memmap(self.path, dtype=np.uint8, mode="r", shape=self.shape)
        image = torch.from_numpy(np.array(self._images[index]))
        if self.flip and torch.rand(()) < 0.5:
            image = image.flip(1)  # a mirrored face is still a face; width is axis 1 in HWC
        return image.permute(2, 0, 1)


class CelebADataModule(L.LightningDataModule):
    """Train, val and test loaders over prepared crops (the official CelebA partition).

    Batches travel as uint8 and become floats in [0, 1] on the device: four times less to copy.
    """

    def __init__(
        self,
        prepared_dir: str,
        batch_size: int = 32,
        num_workers: int = 2,
        train_split: str = "train",
        val_split: str = "val",
        test_split: str = "test",
    ):
        super().__init__()
        if batch_size <= 0:
            raise UserError(f"data.batch_size must be a positive number, not {batch_size}.")
        self.prepared_dir = Path(prepared_dir)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.splits = {"train": train_split, "val": val_split, "test": test_split}

    def dataset(self, stage: str) -> FaceCrops:
        """The crops of `stage` ('train', 'val' or 'test'); only train images are flipped."""
        return FaceCrops(self.prepared_dir, self.splits[stage], flip=stage == "train")

    def _loader(self, stage: str) -> DataLoader:
        return DataLoader(
            self.dataset(stage),
            batch_size=self.batch_size,
            shuffle=stage == "train",
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
            drop_last=stage == "train",
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def on_after_batch_transfer(self, batch: torch.Tensor, dataloader_idx: int) -> torch.Tensor:
        return batch.float().div_(255)
