"""What the benchmark scripts share: the machine they ran on, where the faces come from, and a timer."""

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from face_vae.core.config import compose
from face_vae.core.prepare import prepared_data
from face_vae.data.synthetic import write_celeba_layout
from face_vae.hardware import cpu_model, detect

# The VAE the benchmarks measure: the default model's widths (face_vae/core/models/settings.py VAEModel). The README's
# figures before 2026-11-30 were measured with the conv decoder at widths 32..512 (commit 1651096).
MEASURED_VAE = {"channels": (16, 32, 64, 128, 256), "latent_dim": 128}
# FACE_VAE_CELEBA_SAMPLE, or the shared folder beside the project (as for the tests).
SHARED_SAMPLE = Path(
    os.environ.get("FACE_VAE_CELEBA_SAMPLE")
    or Path(__file__).resolve().parents[2] / "shared" / "data" / "celeba_sample"
)


def machine_header(title: str) -> str:
    """`title` and the machine under it: CPU model, torch's CPU capability, threads, GPU if any."""
    machine = detect()
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    return (
        f"\n{title}\nmachine: CPU {cpu_model()} ({machine.cpu_capability}, "
        f"{'native' if machine.native_bf16 and machine.device == 'cpu' else 'no native'} bfloat16), "
        f"{os.cpu_count()} cores, {torch.get_num_threads()} torch threads, GPU {gpu}, torch {torch.__version__}"
    )


def celeba_source(count: int = 2000, tiny: bool = False) -> Path:
    """The CelebA sample beside the project, or (without it, or with `tiny`) synthetic JPEGs in CelebA's
    layout: `count` train images (with `tiny`: 48 train and 16 val images)."""
    if SHARED_SAMPLE.is_dir() and not tiny:
        return SHARED_SAMPLE
    root = Path(tempfile.mkdtemp(prefix="face_vae-bench-"))
    return write_celeba_layout(root / "celeba", {"train": 48, "val": 16} if tiny else {"train": count})


def add_tiny(parser: argparse.ArgumentParser) -> None:
    """`--tiny`: the script's whole path on the smallest inputs, in seconds (tests/integration/test_benchmarks.py
    runs it on every machine, at that machine's precision, so a benchmark cannot rot unnoticed)."""
    parser.add_argument(
        "--tiny", action="store_true", help="the whole path on tiny inputs (a smoke test, not a figure)"
    )


def prepared(source: Path, image_size: int, prepared_dir: Path) -> Path:
    """The project's prepared form of `source` (built once)."""
    overrides = [f"data.source_dir={source}", f"data.image_size={image_size}", f"data.prepared_dir={prepared_dir}"]
    return prepared_data(compose("prepare", overrides))


class Timer:
    """`with Timer() as t: ...; t.seconds`"""

    def __init__(self) -> None:
        self.start = 0.0
        self.seconds = 0.0

    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
