"""The floor of the quality table: FID and KID of n real train images against the val images, and the
face rate MTCNN finds on those real faces. A generator cannot beat real faces at the same n, so
docs/RESULTS.md reads every FID as a distance above this one.

    python benchmarks/fid_floor.py [--source ../shared/data/celeba_sample] [--n 780] [--sizes 64 150]
"""

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from benchmarks.common import SHARED_SAMPLE, add_tiny, celeba_source, machine_header, prepared  # noqa: E402
from face_vae.core.data.face_crops import FaceCrops, as_floats  # noqa: E402
from face_vae.evaluation import metrics  # noqa: E402


def first_images(prepared_dir: Path, split: str, count: int):
    """The first `count` images of a prepared split, as floats in [0, 1]."""
    return as_floats(FaceCrops(prepared_dir, split).first(count))


def main() -> None:
    """Print the real-vs-real row for each comparison size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SHARED_SAMPLE)
    parser.add_argument("--n", type=int, default=780, help="real train images (the val side takes up to this many)")
    parser.add_argument("--image-size", type=int, default=64, help="prepared size of the faces")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64])
    add_tiny(parser)
    args = parser.parse_args()
    if args.tiny:
        args.source, args.n, args.image_size = celeba_source(tiny=True), 8, 32
    print(machine_header("Real-vs-real floor: n train images against the val images"))
    with tempfile.TemporaryDirectory() as scratch:
        prepared_dir = prepared(args.source, args.image_size, Path(scratch) / "prepared")
        train = first_images(prepared_dir, "train", args.n)
        val = first_images(prepared_dir, "val", args.n)
    inception = metrics.load_inception()
    print(f"{len(train)} train vs {len(val)} val images at {args.image_size} px")
    for size in args.sizes:
        real, other = (metrics.inception_features(inception, images, size) for images in (val, train))
        print(f"| fid_{size} | {metrics.fid(real, other):.4g} |\n| kid_{size} | {metrics.kid(real, other):.4g} |")
    print(f"| face_rate (train images) | {metrics.face_detection(train)[0]:.4g} |")


if __name__ == "__main__":
    main()
