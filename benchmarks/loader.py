"""Images/s delivered by the project's data path vs the naive one, and vs the model's own speed.

Naive: what course projects do, every epoch: PIL open + crop (+ resize) + flip + ToTensor per item.
Project: `prepare` once, then CelebADataModule reads uint8 crops (one pread each) and turns a
batch into floats after the transfer. Same images, batch size, workers and epoch, in one run.

    python benchmarks/loader.py [--image-size 150] [--batch-size 32] [--workers 0 2] [--epochs 2]
"""

import argparse
import sys
import tempfile
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from benchmarks.common import Timer, add_tiny, celeba_source, machine_header, prepared  # noqa: E402
from benchmarks.train_step import images_per_second  # noqa: E402
from face_vae.core.data.celeba import PARTITION_FILE, find_images_dir, read_partition  # noqa: E402
from face_vae.core.data.datamodule import CelebADataModule  # noqa: E402
from face_vae.hardware import resolve  # noqa: E402


class NaiveCrops(Dataset):
    """Decode, crop, flip and convert every image every time it is read."""

    def __init__(self, source: Path, image_size: int):
        images_dir = find_images_dir(source, None)
        self.paths = [images_dir / name for name in read_partition(source / PARTITION_FILE)["train"]]
        self.transform = transforms.Compose(
            [
                transforms.Lambda(lambda image: image.crop((14, 34, 164, 184))),
                transforms.Resize(image_size),
                transforms.RandomHorizontalFlip(),
                transforms.ToTensor(),
            ]
        )

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        with Image.open(self.paths[index]) as image:
            return self.transform(image.convert("RGB"))


def epochs_per_second(loader: DataLoader, epochs: int, to_float=lambda batch: batch) -> float:
    """Images/s over `epochs` full passes (the first pass includes starting the workers)."""
    count = 0
    with Timer() as timer:
        for _ in range(epochs):
            for batch in loader:
                count += len(to_float(batch))
    return count / timer.seconds


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--epochs", type=int, default=2)
    add_tiny(parser)
    args = parser.parse_args()
    if args.tiny:
        args.image_size, args.batch_size, args.workers, args.epochs = 32, 8, [0], 1

    source = celeba_source(tiny=args.tiny)
    speeds = {}
    with tempfile.TemporaryDirectory() as tmp:
        prepared_dir = prepared(source, args.image_size, Path(tmp) / "prepared")
        for workers in args.workers:
            datamodule = CelebADataModule(str(prepared_dir), batch_size=args.batch_size, num_workers=workers)
            speeds["project", workers] = epochs_per_second(
                datamodule.train_dataloader(),
                args.epochs,
                lambda batch, dm=datamodule: dm.on_after_batch_transfer(batch, 0),
            )
            naive_loader = DataLoader(
                NaiveCrops(source, args.image_size),
                batch_size=args.batch_size,
                shuffle=True,
                num_workers=workers,
                persistent_workers=workers > 0,
                drop_last=True,
            )
            speeds["naive", workers] = epochs_per_second(naive_loader, args.epochs)
    runtime = resolve("auto", "auto", "auto")
    model = images_per_second(
        args.image_size, args.batch_size, bf16=runtime.precision.startswith("bf16"), channels_last=runtime.channels_last
    )
    print(machine_header(
        f"Loader throughput, {args.image_size} px, batch {args.batch_size}, {args.epochs} epochs of the train split "
        f"({source.name}); floats in [0, 1] at the end of both paths"
    ))  # fmt: skip
    print("| data path | workers | images/s | vs naive, same workers |")
    print("| --- | ---: | ---: | ---: |")
    for workers in args.workers:
        naive, project = speeds["naive", workers], speeds["project", workers]
        print(f"| naive (PIL open + crop + ToTensor per item) | {workers} | {naive:,.0f} | 1.0x |")
        print(f"| project (prepared uint8, CelebADataModule) | {workers} | {project:,.0f} | {project / naive:.1f}x |")
    best_naive = max(value for (path, _), value in speeds.items() if path == "naive")
    best_project = max(value for (path, _), value in speeds.items() if path == "project")
    print(f"| model training step (default: {runtime.precision}), for comparison | - | {model:,.0f} | - |")
    print(
        f"\nbest project / best naive: {best_project / best_naive:.1f}x; project / model: {best_project / model:.0f}x"
    )
    print(
        f"reproduce: python benchmarks/loader.py --image-size {args.image_size} --batch-size {args.batch_size} "
        f"--workers {' '.join(map(str, args.workers))} --epochs {args.epochs}"
    )


if __name__ == "__main__":
    main()
