"""Peak memory and loader speed for 20,000 and 200,000 images (64 px): memory must stay flat.

The script writes each synthetic dataset in the prepared format (2.5 GB for 200,000 images), then
reads one epoch through CelebADataModule in a fresh process and reports that process's peak RSS.

    python benchmarks/scale.py [--sizes 20000 200000] [--workers 0] [--folder /tmp]
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from benchmarks.common import Timer, add_tiny, machine_header  # noqa: E402
from face_vae.core.data.datamodule import CelebADataModule  # noqa: E402
from face_vae.data.synthetic import make_faces  # noqa: E402

IMAGE_SIZE = 64


def write_dataset(folder: Path, count: int) -> None:
    """`count` faces in the prepared layout: 1,000 distinct faces repeated (content does not matter here)."""
    folder.mkdir(parents=True, exist_ok=True)
    block = make_faces(1000, IMAGE_SIZE, seed=0).tobytes()
    with open(folder / "train.u8", "wb") as out:
        for start in range(0, count, 1000):
            out.write(block[: min(1000, count - start) * IMAGE_SIZE * IMAGE_SIZE * 3])
    (folder / "meta.json").write_text(json.dumps({"image_size": IMAGE_SIZE, "counts": {"train": count}}))


def read_one_epoch(folder: Path, workers: int) -> None:
    """Child process: one epoch, then print images/s and peak RSS (MiB, this process and its workers)."""
    datamodule = CelebADataModule(str(folder), batch_size=256, num_workers=workers)
    count = 0
    with Timer() as timer:
        for batch in datamodule.train_dataloader():
            count += len(datamodule.on_after_batch_transfer(batch, 0))
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"images_per_s": count / timer.seconds, "rss_mib": own, "worker_rss_mib": children}))


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--folder", type=Path, default=None, help="where to write the datasets (default: a temp dir)")
    parser.add_argument("--read", type=Path, help=argparse.SUPPRESS)
    add_tiny(parser)
    args = parser.parse_args()
    if args.tiny:
        args.sizes = [1000]
    if args.read:
        read_one_epoch(args.read, args.workers)
        return
    rows = []
    with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
        for count in args.sizes:
            folder = Path(tmp) / str(count)
            write_dataset(folder, count)
            command = [sys.executable, __file__, "--read", str(folder), "--workers", str(args.workers)]
            result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
            rows.append((count, result))
    print(machine_header(f"Loader at scale, {IMAGE_SIZE} px, batch 256, {args.workers} workers, one epoch each"))
    print("| images | data on disk | images/s | peak RSS (MiB) | child processes peak RSS (MiB) |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for count, result in rows:
        size_gb = count * IMAGE_SIZE * IMAGE_SIZE * 3 / 1e9
        print(
            f"| {count:,} | {size_gb:.2f} GB | {result['images_per_s']:,.0f} | {result['rss_mib']:.0f} | "
            f"{result['worker_rss_mib']:.0f} |"
        )
    print(f"reproduce: python benchmarks/scale.py --sizes {' '.join(map(str, args.sizes))} --workers {args.workers}")


if __name__ == "__main__":
    main()
