"""`prepare data=folder` at growing folder sizes: images/s and the peak memory of the prepare process, to check that
memory stays flat in the number of files (the listing holds names; images stream through the decoding processes).

    python benchmarks/folder_scale.py [--counts 2000 20000] [--image-size 64]

The folders hold small random JPEGs (64x48) written first, outside the timing; each size is prepared in a fresh
process, whose peak resident memory (its own and its decoding processes', as the kernel counts them) is reported.
"""

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from benchmarks.common import add_tiny, machine_header  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def write_folder(folder: Path, count: int) -> None:
    """`count` random 64x48 JPEGs, a hundred per subfolder (as photos often are)."""
    rng = np.random.default_rng(0)
    for index in range(count):
        path = folder / f"{index // 100:04d}" / f"{index:06d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(path, quality=90)


def prepare(folder: Path, prepared: Path, image_size: int) -> tuple[float, float]:
    """(seconds, peak MiB of the prepare process and its children) of `prepare data=folder` in a new process."""
    words = ["data=folder", f"data.source_dir={folder}", f"data.image_size={image_size}",
             f"data.prepared_dir={prepared}"]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(ROOT / "commands.py"), "prepare", *words], capture_output=True, text=True, check=False
    )
    if done.returncode:
        sys.exit(f"prepare failed: {done.stderr[-2000:]}")
    seconds = time.perf_counter() - start
    # ru_maxrss of the children is the largest of any child so far (KiB on Linux): each size runs after a smaller one.
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return seconds, peak / 1024


def main() -> None:
    """Write each folder, prepare it in a new process, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--image-size", type=int, default=64)
    add_tiny(parser)
    args = parser.parse_args()
    if args.tiny:
        args.counts, args.image_size = [20, 40], 16
    print(machine_header(f"prepare data=folder by folder size ({args.image_size} px crops)"))
    print("\n|  images | seconds | images/s | peak RSS (MiB) |\n| ------: | ------: | -------: | -------------: |")
    with tempfile.TemporaryDirectory() as tmp:
        for count in sorted(args.counts):
            folder = Path(tmp) / f"photos_{count}"
            write_folder(folder, count)
            seconds, peak = prepare(folder, Path(tmp) / f"prepared_{count}", args.image_size)
            print(f"| {count:>7,} | {seconds:7.1f} | {count / seconds:8,.0f} | {peak:14,.0f} |")


if __name__ == "__main__":
    main()
