"""The LightningDataModule over prepared face crops: train, val and test loaders."""

from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

from face_vae.core.data.face_crops import FaceCrops, as_floats, batched
from face_vae.core.errors import UserError


class CelebADataModule(L.LightningDataModule):
    """Train, val and test loaders over prepared crops (the official CelebA partition).

    Batches travel as uint8 and become floats in [0, 1] on the device: four times less to copy.
    """

    def __init__(
        self,
        prepared_dir: str,
        *,
        batch_size: int,
        num_workers: int,
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

    def first_images(self, stage: str, count: int) -> torch.Tensor:
        """The first `count` images (N, 3, H, W) uint8 of `stage`, unflipped: the same ones every epoch."""
        return FaceCrops(self.prepared_dir, self.splits[stage]).first(count)

    def _loader(self, stage: str) -> DataLoader:
        return DataLoader(
            self.dataset(stage),
            batch_size=self.batch_size,
            shuffle=stage == "train",
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
            drop_last=stage == "train",
            collate_fn=batched,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def on_after_batch_transfer(self, batch: torch.Tensor, dataloader_idx: int) -> torch.Tensor:
        return as_floats(batch)
