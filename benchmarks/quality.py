"""Face quality of the VAE variants at one training budget: the usual recipe against each remedy.

Each variant is trained by `python commands.py train` with the same data, budget and seed, then
scored by `python commands.py evaluate` (FID/KID at 64 px, MTCNN face rate, reconstruction error)
with each sampler. Prints the table of docs/RESULTS.md and the commands it ran.

    python benchmarks/quality.py [--source ../shared/data/celeba_sample] [--epochs 8] [--n 300] [--only 2 5]
    python benchmarks/quality.py --table sharper --minutes 20 --n 780    # the 20-minute table (about 2 h)
    python benchmarks/quality.py --table sharper --minutes 20 --n 780 --samplers gmm --components 200 --only 1 7 8 9 10

Run it alone on the machine: the budget is wall-clock time when --minutes is given.
"""

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# pylint: disable=wrong-import-position
from benchmarks.common import SHARED_SAMPLE  # noqa: E402

# "The usual recipe": MSE averaged over the 64x64x3 pixels plus 2.5e-4 x KL. Up to the loss scale
# (which Adam ignores) that is the Gaussian NLL with sigma = sqrt(12288 x 2.5e-4 / 2) = 1.24.
# The conv decoder at its widths: the default when the remedies table was measured.
CONV = ["model.architecture=conv", "model.channels=[32,64,128,256,512]"]
# Half the conv widths: the residual blocks cost about 1.5x per image at these widths (see README).
RESNET = ["model.architecture=resnet", "model.channels=[16,32,64,128,256]"]
VARIANTS = {
    "usual: mean MSE + 2.5e-4 KL": [*CONV, "model.likelihood=fixed", "model.sigma=1.24"],
    "summed NLL, sigma=0.1": [*CONV, "model.likelihood=fixed", "model.sigma=0.1"],
    "calibrated sigma (sigma-VAE)": [*CONV, "model.likelihood=calibrated"],
    "calibrated + KL warm-up": [*CONV, "model.likelihood=calibrated", "model.kl_warmup_steps=500"],
    "calibrated + KL warm-up + EMA": [
        *CONV,
        "model.likelihood=calibrated",
        "model.kl_warmup_steps=500",
        "model.ema_decay=0.999",
    ],
    # The GAN baseline at the same budget: the VAE's decoder as generator, its encoder as discriminator.
    "DCGAN (same layers, adversarial loss)": ["model=dcgan"],
}
# The sharper-faces table: today's default against each switch and their combination, at a fixed
# wall-clock budget (--minutes). The learned prior is fitted after training in every variant.
SHARPER = {
    "conv decoder (the earlier default)": CONV,
    "resnet decoder": RESNET,
    "resnet + adversarial term": [*RESNET, "model.adversarial_weight=0.5"],
    "resnet + adversarial + FID selection": [
        *RESNET,
        "model.adversarial_weight=0.5",
        "model.monitor=fid_val",
        "selection.fid_every_n_epochs=10",
    ],
    # Less KL pressure than the calibrated sigma (about 0.08 at the end of the resnet run): a fixed sigma
    # of 0.04 weighs the KL term 4x less, 0.02 16x less (the beta-VAE's beta, for a sharper decoder);
    # the ex-post mixture then has to cover a less Gaussian cloud of codes.
    "resnet, fixed sigma 0.04": [*RESNET, "model.likelihood=fixed", "model.sigma=0.04"],
    "resnet, fixed sigma 0.02": [*RESNET, "model.likelihood=fixed", "model.sigma=0.02"],
    # The adversarial term late: the first 6,000 batches at the plain VAE's cost (about half the 20
    # minutes), the critic from there, its term from batch 6,500.
    "resnet + adversarial term, late": [
        *RESNET,
        "model.adversarial_weight=0.5",
        "model.critic_start=6000",
        "model.adversarial_start=6500",
    ],
    # Every one of the resnet model's 128 latent dimensions carries 2-6 nats on train images (none is
    # left unused), so the code may be the bottleneck of its blur: twice as many dimensions.
    "resnet, latent 256": [*RESNET, "model.latent_dim=256"],
    # The L1 likelihood (a Laplace, its scale calibrated as the sigma is): the median's loss, not the mean's.
    "resnet, Laplace likelihood": [*RESNET, "model.likelihood=laplace"],
    # Adam's step size falling to 0 along a cosine over the 20 minutes: the last steps settle into a
    # minimum instead of jittering around it at the full rate.
    "resnet, cosine learning-rate decay": [*RESNET, "model.lr_schedule=cosine"],
    # The cosine decay lost to the constant rate epoch for epoch: at 20 minutes the model is far from
    # converged, so try the other way: twice Adam's usual 1e-3.
    "resnet, lr 2e-3": [*RESNET, "model.lr=0.002"],
    # 11% more steps bought 0.8 FID points between two sessions' runs of the default: half the batch
    # doubles the optimiser steps a 20-minute budget holds, at whatever images/s the CPU keeps.
    "resnet, batch 16": [*RESNET, "data.batch_size=16"],
    # The cosine decay was ahead of the constant 1e-3 mid-run at rates of 0.4-0.9 x 1e-3: half the rate.
    "resnet, lr 5e-4": [*RESNET, "model.lr=0.0005"],
    # The cosine decay's mid-run lead without its late stall: average the weights of the last ~1,000
    # steps (the remedies table's EMA hurt over 1,136 steps in all, when the average still held the first).
    "resnet, EMA of weights 0.999": [*RESNET, "model.ema_decay=0.999"],
    # The focal frequency loss (Jiang et al. 2021) at the paper's balance: the FFT frequencies the decoder
    # misses most, which a blurred face's high frequencies are, weigh in beside the pixels' likelihood.
    "resnet, focal frequency term": [*RESNET, "model.frequency_weight=1"],
    # Model selection by FID on the default, not on the adversarial run: each check (codes of the train
    # images, a mixture fitted to them, 256 samples scored) is paid out of the 20 minutes, so every 20 epochs.
    "resnet + FID selection": [*RESNET, "model.monitor=fid_val", "selection.fid_every_n_epochs=20"],
}
TABLES = {"remedies": VARIANTS, "sharper": SHARPER}
METRICS = ("fid_64", "kid_64", "face_rate", "mse_sum_mean", "ssim_mean", "nyquist_share")


def command(*words: str) -> list[str]:
    """A commands.py call with the interpreter running this script."""
    return [sys.executable, str(ROOT / "commands.py"), *words]


def run_logged(words: list[str], log_file: Path) -> None:
    """Run a command with its output in `log_file` (a training run's epochs, steps and speed)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "w", encoding="utf-8") as output:
        subprocess.run(words, check=True, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)


def scores(evaluate: list[str]) -> list[str]:
    """Run an evaluate command and read METRICS from the table it prints."""
    output = subprocess.run(evaluate, check=True, cwd=ROOT, capture_output=True, text=True).stdout
    values = dict(re.findall(r"^\| (\w+) \| ([-\d.e+]+) \|$", output, flags=re.MULTILINE))
    return [values.get(key, "n/a") for key in METRICS]  # a GAN has no reconstruction error


def main() -> None:
    """Train and evaluate every variant, then print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SHARED_SAMPLE)
    parser.add_argument("--table", choices=sorted(TABLES), default="remedies")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--minutes", type=int, help="a wall-clock budget instead of --epochs")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "experiments")
    parser.add_argument("--only", type=int, nargs="*", help="run these variants (0-based, in table order) only")
    parser.add_argument("--samplers", nargs="+", default=["gmm", "flow"], help="with --minutes: score these")
    parser.add_argument("--components", type=int, default=10, help="with --minutes: the mixture's components")
    args = parser.parse_args()
    common = [f"data.source_dir={args.source}", "data.image_size=64", "storage.pull=false"]
    if args.minutes:
        budget = [f"++trainer.max_time=00:00:{args.minutes:02d}:00", "trainer.max_epochs=10000", "storage.add=false"]
        samplers = args.samplers  # the first rows were measured with both samplers and 10 components
        extra = [f"model.gmm_components={args.components}"] + (["model.flow.epochs=100"] if "flow" in samplers else [])
    else:  # the remedies table was measured with bf16 autocast, before the runtime defaults
        budget, samplers, extra = (
            [f"trainer.max_epochs={args.epochs}", "trainer.precision=bf16-mixed"],
            ("normal", "gmm"),
            [],
        )
    rows, ran = [], []
    for index, (name, overrides) in enumerate(TABLES[args.table].items()):
        if args.only is not None and index not in args.only:
            continue
        folder = args.out / (f"variant_{index}" if args.table == "remedies" else f"{args.table}_{index}")
        paths = [f"model_file={folder}/vae.pt"]
        train = command("train", *common, *budget, *extra, *overrides, *paths, f"checkpoints_dir={folder}/checkpoints")
        run_logged(train, folder / "train.log")
        ran.append(" ".join(["python commands.py", *train[2:]]))
        for sampler in ("normal",) if "model=dcgan" in overrides else samplers:
            evaluate = command("evaluate", *common[:2], "split=val", f"n={args.n}", f"n_reconstruct={args.n}")
            evaluate += ["fid_sizes=[64]", f"sampler={sampler}", *paths]
            ran.append(" ".join(["python commands.py", *evaluate[2:]]))
            rows.append((name, sampler, scores(evaluate)))
    spent = f"{args.minutes} minutes" if args.minutes else f"{args.epochs} epochs"
    print(
        f"\n{spent} of the {args.source.name} train split at 64 px, batch 32; {args.n} samples vs {args.n} val images"
    )
    print("| variant | sampler | " + " | ".join(METRICS) + " |")
    print("| --- | --- |" + " ---: |" * len(METRICS))
    for name, sampler, values in rows:
        print(f"| {name} | {sampler} | " + " | ".join(values) + " |")
    print("\ncommands:\n" + "\n".join(ran))


if __name__ == "__main__":
    main()
