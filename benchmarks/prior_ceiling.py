"""Where a trained VAE's FID excess comes from: its prior or its decoder.

Decoding the codes of real train images (their reconstructions) is the best any prior over those codes
can do with this decoder: the ceiling. Between the floor (real train images) and the ceiling lies what
the decoder loses; between the ceiling and the mixture's samples, what the prior loses. Also scores
mixtures of more components, fitted to the same codes. All at 64 px, n train images against the val ones.
A prior can also win FID by replaying the training codes: the `nearest` column is the median distance
from each code to its nearest train code, as a share of the same median for the val images' codes
(faces the model never saw): well below 1 means the samples come close to copying training faces.

    python benchmarks/prior_ceiling.py MODEL_FILE [--source ../shared/data/celeba_sample] [--n 780]
        [--components 10 200]
"""

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from benchmarks.common import (  # noqa: E402
    MEASURED_VAE,
    SHARED_SAMPLE,
    add_tiny,
    celeba_source,
    machine_header,
    prepared,
)
from face_vae.core.data.face_crops import FaceCrops, as_floats  # noqa: E402
from face_vae.core.models.codes import encoder_means  # noqa: E402
from face_vae.core.models.model_file import load_model  # noqa: E402
from face_vae.core.models.nets.resnet import VAE  # noqa: E402
from face_vae.core.models.priors import GaussianMixture  # noqa: E402
from face_vae.core.models.sampling import decode_all  # noqa: E402
from face_vae.evaluation import metrics  # noqa: E402
from face_vae.hardware import resolve  # noqa: E402

SIZE = 64


def main() -> None:
    """Print the FID of the floor, the ceiling and each mixture's samples."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, nargs="?", help="a model file (with --tiny: an untrained VAE)")
    parser.add_argument("--source", type=Path, default=SHARED_SAMPLE)
    parser.add_argument("--n", type=int, default=780)
    parser.add_argument("--components", type=int, nargs="+", default=[10, 200])
    parser.add_argument("--seed", type=int, default=42, help="the mixtures' seed (train's default)")
    add_tiny(parser)
    args = parser.parse_args()
    if args.tiny:
        args.source, args.n, args.components = celeba_source(tiny=True), 8, [2]
    elif args.model is None:
        parser.error("give the model file to measure")
    print(machine_header("Prior or decoder: FID of the floor, the reconstructions and the mixtures' samples"))
    model = load_model(args.model) if args.model else VAE(SIZE, **MEASURED_VAE).eval()
    codes, chosen, train, val = _train_codes_and_images(model, args.source, args.n)
    inception = metrics.load_inception()
    real = metrics.inception_features(inception, val, SIZE)

    val_codes = model.encode(val)
    novel = _nearest_train_code(val_codes, codes)

    def score(name: str, images: torch.Tensor, latents: torch.Tensor | None) -> None:
        nearest = "-" if latents is None else f"{_nearest_train_code(latents, codes) / novel:.2f}"
        fid = metrics.fid(real, metrics.inception_features(inception, images, SIZE))
        print(f"| {name} | {fid:.1f} | {nearest} |", flush=True)

    print(f"\n{args.model}: {args.n} images vs {len(val)} val images, FID at {SIZE} px")
    print("| faces | FID | nearest |\n| --- | ---: | ---: |")
    score("real train images (the floor)", train, None)
    reconstructions = decode_all(model, codes[chosen], 64)
    score("reconstructions of the same train images (the ceiling of any prior)", reconstructions, None)
    score("reconstructions of the val images", decode_all(model, val_codes, 64), val_codes)
    for components in args.components:
        mixture = GaussianMixture(components, max_codes=20_000).fit(codes, seed=args.seed)
        latents = mixture.sample(args.n)
        score(f"samples of a {components}-component mixture", decode_all(model, latents, 64), latents)


def _train_codes_and_images(model, source: Path, n: int) -> tuple[torch.Tensor, ...]:
    """The codes of all train images, n of them chosen at random, those n train images and the first n val ones."""
    with tempfile.TemporaryDirectory() as scratch:
        prepared_dir = prepared(source, model.image_size, Path(scratch) / "prepared")
        train_crops = FaceCrops(prepared_dir, "train")
        val = as_floats(FaceCrops(prepared_dir, "val").first(n))
        with resolve("auto", "auto", "auto").autocast():
            codes = encoder_means(model, train_crops).float()
        chosen = torch.randperm(len(codes), generator=torch.Generator().manual_seed(0))[:n]
        return codes, chosen, as_floats(train_crops.first(len(codes)))[chosen], val


def _nearest_train_code(latents: torch.Tensor, train_codes: torch.Tensor) -> float:
    """Median over `latents` of the Euclidean distance to the nearest training code."""
    return torch.cdist(latents.float(), train_codes.float()).min(dim=1).values.median().item()


if __name__ == "__main__":
    main()
