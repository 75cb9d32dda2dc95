"""Images/s of `prepare` reading the official zip as it is vs the unzipped folder, and of `data=folder` (any folder of
images: walked, fingerprinted and split by a hash of each path) over the same JPEGs with the same crop box.

    python benchmarks/prepare.py [--image-size 150] [--workers auto]

The images are the CelebA sample beside the project (zipped into a temporary folder first, as
img_align_celeba.zip has them), or synthetic JPEGs in CelebA's layout when the sample is absent. The
unzip step that the folder path needs is timed too: it is what the zip path saves before the first epoch.
"""

import argparse
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from benchmarks.common import Timer, add_tiny, celeba_source, machine_header  # noqa: E402
from face_vae.core.config import compose  # noqa: E402
from face_vae.core.data.celeba import PARTITION_FILE, find_images_dir  # noqa: E402
from face_vae.core.prepare import prepared_data  # noqa: E402


def main() -> None:  # pylint: disable=too-many-locals  # one table's measurements
    """Zip the source, prepare from the zip and from the folder, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=150)
    parser.add_argument("--workers", default="auto", help="prepare processes: auto (one per core) or a number")
    add_tiny(parser)
    args = parser.parse_args()
    if args.tiny:
        args.image_size, args.workers = 32, "1"
    source = celeba_source(tiny=args.tiny)
    images_dir = find_images_dir(source, None)
    with tempfile.TemporaryDirectory() as tmp:
        zipped, unzipped = Path(tmp) / "zipped", Path(tmp) / "unzipped"
        zipped.mkdir()
        with zipfile.ZipFile(zipped / "img_align_celeba.zip", "w") as archive:  # JPEGs are stored, as in CelebA's zip
            for image in sorted(images_dir.glob("*.jpg")):
                archive.write(image, f"img_align_celeba/{image.name}")
        shutil.copy(source / PARTITION_FILE, zipped / PARTITION_FILE)
        unzipped.mkdir()
        shutil.copy(source / PARTITION_FILE, unzipped / PARTITION_FILE)
        with Timer() as unzip, zipfile.ZipFile(zipped / "img_align_celeba.zip") as archive:
            archive.extractall(unzipped)
        count = len(list((unzipped / "img_align_celeba").glob("*.jpg")))
        seconds, prepared = {}, {}  # per source: the time, and the folder it prepared
        for name, folder in (("folder", unzipped), ("zip", zipped)):
            cfg = compose(
                "prepare",
                [f"data.source_dir={folder}", f"data.prepared_dir={Path(tmp) / ('p_' + name)}",
                 f"data.image_size={args.image_size}",
                 f"data.prepare_workers={args.workers if args.workers == 'auto' else int(args.workers)}"],
            )  # fmt: skip
            with Timer() as timer:
                prepared[name] = prepared_data(cfg)
            seconds[name] = timer.seconds
        folder_words = [
            "data=folder", f"data.source_dir={unzipped / 'img_align_celeba'}",
            f"data.prepared_dir={Path(tmp) / 'p_any_folder'}", f"data.image_size={args.image_size}",
            "data.crop={left: 14, top: 34, size: 150}", "data.split=[0.85,0.15,0.0]",
            f"data.prepare_workers={args.workers if args.workers == 'auto' else int(args.workers)}",
        ]  # fmt: skip
        with Timer() as timer:
            prepared_data(compose("prepare", folder_words))
        seconds["any folder"] = timer.seconds
        same = all(
            (prepared["zip"] / f"{split}.u8").read_bytes() == (prepared["folder"] / f"{split}.u8").read_bytes()
            for split in ("train", "val")
        )
    print(machine_header(f"prepare, {count:,} images of {source.name}, {args.image_size} px, workers {args.workers}"))
    print("| source | seconds | images/s | vs folder |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| unzipped folder | {seconds['folder']:.1f} | {count / seconds['folder']:,.0f} | 1.00x |")
    print(f"| zip, read as it is | {seconds['zip']:.1f} | {count / seconds['zip']:,.0f} | "
          f"{seconds['folder'] / seconds['zip']:.2f}x |")  # fmt: skip
    print(f"| data=folder (same JPEGs and box) | {seconds['any folder']:.1f} | {count / seconds['any folder']:,.0f} | "
          f"{seconds['folder'] / seconds['any folder']:.2f}x |")  # fmt: skip
    print(f"unzipping first (what the zip path saves): {unzip.seconds:.1f} s; prepared bytes identical: {same}")
    print(f"reproduce: python benchmarks/prepare.py --image-size {args.image_size} --workers {args.workers}")


if __name__ == "__main__":
    main()
