"""Faces/s from sampling to JPG files on disk: the project's batched `infer` path vs one by one.

    python benchmarks/infer.py [--n 1000] [--image-size 150] [--model models/vae.pt]

Without --model a freshly initialised VAE of the default architecture is used: speed does not
depend on the weights.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import torch
from torchvision.transforms.functional import to_pil_image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from benchmarks.common import Timer  # noqa: E402
from face_vae.stages.infer import face_pictures, sample_faces  # noqa: E402
from face_vae.models.vae import VAE  # noqa: E402
from face_vae.models.model_file import load_model  # noqa: E402
from face_vae.outputs import JPEG_QUALITY, write_images  # noqa: E402


def one_by_one(vae: VAE, count: int, folder: Path) -> None:
    """The naive loop: decode one latent, save one file, repeat."""
    generator = torch.Generator().manual_seed(0)
    for index in range(count):
        to_pil_image(vae.sample(1, generator)[0]).save(folder / f"face_{index:04d}.jpg", quality=JPEG_QUALITY)


def main() -> None:
    """Time both paths and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--image-size", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args()
    vae = load_model(args.model) if args.model else VAE(args.image_size).eval()
    with tempfile.TemporaryDirectory() as tmp:
        with Timer() as batched:
            faces = sample_faces(vae, args.n, seed=0, batch_size=args.batch_size)
            write_images(Path(tmp) / "batched", face_pictures(faces))
        (Path(tmp) / "single").mkdir()
        with Timer() as single:
            one_by_one(vae, args.n, Path(tmp) / "single")
    print(f"\nInfer, n={args.n} faces of {vae.hparams['image_size']} px to JPG, {torch.get_num_threads()} threads")
    print("| path | faces/s | vs one by one |")
    print("| --- | ---: | ---: |")
    print(f"| one by one (sample(1) + save) | {args.n / single.seconds:,.0f} | 1.0x |")
    speedup = single.seconds / batched.seconds
    print(f"| project (batches of {args.batch_size}, + grid) | {args.n / batched.seconds:,.0f} | {speedup:.1f}x |")
    options = f"--n {args.n} --image-size {args.image_size} --batch-size {args.batch_size}"
    print(f"reproduce: python benchmarks/infer.py {options}")


if __name__ == "__main__":
    main()
