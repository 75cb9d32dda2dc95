"""Time of fitting the default prior (the 200-component full-covariance Gaussian mixture) after training, by the
number of training codes: the sample's 4,560 up to all of CelebA's 162,770.

    python benchmarks/prior_fit.py [--codes 4560 20000 162770] [--components 200] [--latent-dim 128]

Random codes stand in for the encoder's (EM's cost depends on their count and size, not on where they lie).
The project's GaussianMixture fits on at most `max_codes` of them (20,000 by default) drawn at random; the
`all codes` column fits every code, as the code before 2026-11-30 did (skipped above --all-up-to codes: it did
not finish in 20 minutes at 162,770 on 2 cores).
"""

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from benchmarks.common import Timer, add_tiny, machine_header  # noqa: E402
from face_vae.core.models.priors import GaussianMixture  # noqa: E402


def main() -> None:
    """Fit at each size and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, nargs="+", default=[4560, 20000, 162770])
    parser.add_argument("--components", type=int, default=200)
    parser.add_argument("--latent-dim", type=int, default=128)
    parser.add_argument("--max-codes", type=int, default=20000, help="the prior's cap (model.prior.max_codes)")
    parser.add_argument("--all-up-to", type=int, default=20000, help="fit every code only up to this many")
    add_tiny(parser)
    args = parser.parse_args()
    if args.tiny:
        args.codes, args.components, args.latent_dim, args.max_codes, args.all_up_to = [300, 600], 4, 8, 400, 600
    print(machine_header(f"Prior fit: {args.components}-component full-covariance mixture, {args.latent_dim}-d codes"))
    print(f"| codes | capped at {args.max_codes:,} (s) | all codes (s) |")
    print("| ---: | ---: | ---: |")
    for count in args.codes:
        codes = torch.randn(count, args.latent_dim, generator=torch.Generator().manual_seed(0))
        with Timer() as capped:
            GaussianMixture(args.components, max_codes=args.max_codes).fit(codes, seed=42)
        every = "not run"
        if count <= args.all_up_to:
            with Timer() as full:
                GaussianMixture(args.components, max_codes=count).fit(codes, seed=42)
            every = f"{full.seconds:.1f}"
        print(f"| {count:,} | {capped.seconds:.1f} | {every} |", flush=True)
    options = f"--codes {' '.join(map(str, args.codes))} --components {args.components} --max-codes {args.max_codes}"
    print(f"reproduce: python benchmarks/prior_fit.py {options}")


if __name__ == "__main__":
    main()
