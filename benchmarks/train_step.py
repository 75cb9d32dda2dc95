"""Training-step throughput (forward + backward + Adam) at 150 and 64 px, per speed switch, beside the
machine's own limit, and the share of step time spent waiting for data with the project's loader.

    python benchmarks/train_step.py [--batch-size 32] [--steps 6] [--compile]

Rows: the default config (`auto`, resolved for this machine by face_vae.hardware), then each switch
(config values): runtime.channels_last=true, runtime.precision=bf16-mixed (bfloat16 autocast), and
torch.compile (with --compile: it takes minutes to compile on 2 cores). For each, the FLOPs of one
training step per image (torch.utils.flop_counter) times images/s, as a share of the matrix-multiply
rate this machine reaches in the same precision, measured in the same run.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from benchmarks.common import MEASURED_VAE, Timer, add_tiny, celeba_source, machine_header, prepared  # noqa: E402
from face_vae.core.data.datamodule import CelebADataModule  # noqa: E402
from face_vae.core.models.nets.resnet import VAE  # noqa: E402
from face_vae.core.models.vae_module import kl_divergence, reconstruction_nll  # noqa: E402
from face_vae.hardware import resolve  # noqa: E402


def _trainer_step(image_size: int, bf16: bool, channels_last: bool, compiled: bool):
    """A closure doing one optimisation step of the project's VAE and loss on a batch."""
    torch.manual_seed(0)
    vae = VAE(image_size, **MEASURED_VAE)
    if channels_last:
        vae = vae.to(memory_format=torch.channels_last)
    forward = torch.compile(vae) if compiled else vae
    optimizer = torch.optim.Adam(vae.parameters(), lr=1e-3)

    def step(images: torch.Tensor) -> None:
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            reconstructions, mean, log_var = forward(images)
        loss = (
            reconstruction_nll(images, reconstructions.float(), 0.1) + kl_divergence(mean.float(), log_var.float())
        ).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def images_per_second(
    image_size: int,
    batch_size: int = 32,
    bf16: bool = False,
    channels_last: bool = False,
    compiled: bool = False,
    steps: int = 6,
) -> float:
    """Training images/s on random batches (two warm-up steps are not timed)."""
    step = _trainer_step(image_size, bf16, channels_last, compiled)
    images = torch.rand(batch_size, 3, image_size, image_size)
    for _ in range(2):
        step(images)
    with Timer() as timer:
        for _ in range(steps):
            step(images)
    return batch_size * steps / timer.seconds


def step_flops_per_image(image_size: int, batch_size: int) -> float:
    """FLOPs of one forward + backward of the VAE and its loss, per image (the optimiser's are negligible)."""
    step = _trainer_step(image_size, bf16=False, channels_last=False, compiled=False)
    counter = FlopCounterMode(display=False)
    with counter:
        step(torch.rand(batch_size, 3, image_size, image_size))
    return counter.get_total_flops() / batch_size


def matmul_flops_per_second(bf16: bool, size: int = 1024, seconds: float = 1.0) -> float:
    """The machine's matrix-multiply rate with all threads, in fp32 or bfloat16 (autocast, as in training),
    timed over about `seconds` (an emulated bfloat16 multiply can take seconds on its own)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        with Timer() as first:
            torch.matmul(a, b)
        repeat = max(1, int(seconds / first.seconds))
        with Timer() as timer:
            for _ in range(repeat):
                torch.matmul(a, b)
    return 2 * size**3 * repeat / timer.seconds


def data_wait_share(  # pylint: disable=too-many-arguments  # the loader's and the step's settings
    image_size: int, batch_size: int, steps: int, bf16: bool, channels_last: bool, workers: int = 0, tiny: bool = False
) -> tuple[float, float]:
    """(share of wall time spent waiting for the next batch, images/s) with the real loader."""
    with tempfile.TemporaryDirectory() as tmp:
        datamodule = CelebADataModule(
            str(prepared(celeba_source(tiny=tiny), image_size, Path(tmp) / "p")),
            batch_size=batch_size,
            num_workers=workers,
        )
        step = _trainer_step(image_size, bf16=bf16, channels_last=channels_last, compiled=False)
        batches = iter(datamodule.train_dataloader())
        step(datamodule.on_after_batch_transfer(next(batches), 0))  # warm-up, workers started
        waiting = 0.0
        with Timer() as total:
            for _ in range(steps):
                with Timer() as wait:
                    batch = datamodule.on_after_batch_transfer(next(batches), 0)
                waiting += wait.seconds
                step(batch)
    return waiting / total.seconds, batch_size * steps / total.seconds


def main() -> None:
    """Measure the default and every switch at both sizes and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile")
    add_tiny(parser)
    args = parser.parse_args()
    sizes = (64, 32) if args.tiny else (150, 64)
    if args.tiny:
        args.batch_size, args.steps = 2, 1
    runtime = resolve("auto", "auto", "auto")
    default = {"bf16": runtime.precision.startswith("bf16"), "channels_last": runtime.channels_last}
    variants = {
        f"default (auto: {runtime.precision}, channels_last={runtime.channels_last})": default,
        "fp32": {},
        "channels_last": {"channels_last": True},
        "bf16 autocast": {"bf16": True},
        "channels_last + bf16": {"channels_last": True, "bf16": True},
    }
    if args.compile:
        variants["torch.compile + bf16"] = {"compiled": True, "bf16": True}
    rate = {bf16: matmul_flops_per_second(bf16, seconds=0.05 if args.tiny else 1.0) for bf16 in (False, True)}
    flops = {size: step_flops_per_image(size, args.batch_size) for size in sizes}
    print(machine_header(f"Training step, batch {args.batch_size}, {args.steps} timed steps"))
    print(
        f"matmul rate: fp32 {rate[False] / 1e9:.1f} GFLOP/s, bf16 {rate[True] / 1e9:.1f} GFLOP/s; "
        "FLOPs per image and step: " + ", ".join(f"{size} px {flops[size] / 1e9:.3f} G" for size in sizes)
    )
    print("| setting | " + " | ".join(f"{size} px img/s | vs fp32 | share of matmul rate" for size in sizes) + " |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    speeds: dict[str, dict[int, float]] = {}
    for name, switches in variants.items():
        speeds[name] = {size: images_per_second(size, args.batch_size, steps=args.steps, **switches) for size in sizes}
    for name, switches in variants.items():
        row = [name]
        for size in sizes:
            speed = speeds[name][size]
            share = speed * flops[size] / rate[switches.get("bf16", False)]
            row += [f"{speed:.1f}", f"{speed / speeds['fp32'][size]:.2f}x", f"{share:.0%}"]
        print("| " + " | ".join(row) + " |")
    default_name = next(iter(variants))
    for size in sizes:
        fastest = max(speeds, key=lambda name, size=size: speeds[name][size])
        print(f"{size} px: the default reaches {speeds[default_name][size] / speeds[fastest][size]:.0%} of the fastest "
              f"setting ({fastest})")  # fmt: skip
    print("\nData wait with the project loader (default 0 workers, default settings):")
    for size in sizes:
        share, speed = data_wait_share(size, args.batch_size, args.steps * 2, tiny=args.tiny, **default)
        print(f"  {size} px: {share:.1%} of step time waiting for data ({speed:.1f} img/s end to end)")
    print(
        f"reproduce: python benchmarks/train_step.py --batch-size {args.batch_size} --steps {args.steps}"
        + (" --compile" if args.compile else "")
    )


if __name__ == "__main__":
    main()
