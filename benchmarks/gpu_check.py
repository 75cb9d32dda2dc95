"""One script for a lent GPU (at most ~8 minutes): is face_vae's GPU path fast and does it run?

    python benchmarks/gpu_check.py            # on a CUDA machine
    python benchmarks/gpu_check.py --tiny     # the same path on this machine's CPU, tiny sizes (a smoke test)

Prints, in one table per part: the GPU's capability and the runtime `auto` resolves to; training steps/s at
150 px for batch 32 vs 256 and channels_last on vs off (and torch.compile once); the loader alone with 0 vs 8
worker processes (it must outrun the step); a 2-epoch synthetic `train trainer=gpu` end to end; encoding
20,000 images and fitting the 200-component prior; then it runs the test suite's device-sensitive tests
(evaluate, DDP, the benchmarks' tiny modes) on this machine.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# pylint: disable=wrong-import-position
from benchmarks.common import Timer, add_tiny, machine_header  # noqa: E402
from face_vae.core.config import build, compose  # noqa: E402
from face_vae.core.data.datamodule import CelebADataModule  # noqa: E402
from face_vae.core.data.face_crops import FaceCrops  # noqa: E402
from face_vae.core.models.codes import encoder_means  # noqa: E402
from face_vae.core.models.priors import GaussianMixture  # noqa: E402
from face_vae.core.models.vae_module import VAEModule  # noqa: E402
from face_vae.data.synthetic import make_faces  # noqa: E402
from face_vae.hardware import resolve  # noqa: E402


def default_module(size: int, compiled: bool, channels_last: bool) -> VAEModule:
    """The default model and loss (face_vae/core/models/settings.py VAEModel) at `size`."""
    model = compose("train", [f"data.image_size={size}"]).model
    return build(model, compile=compiled, channels_last=channels_last)


def steps_per_second(size: int, batch: int, channels_last: bool, compiled: bool, runtime, steps: int) -> float:
    """Training steps/s of the default VAE and loss on random images on the runtime's device."""
    device = runtime.machine.device
    module = default_module(size, compiled, channels_last).to(device)
    optimizer = module.configure_optimizers()
    images = torch.rand(batch, 3, size, size, device=device)

    def step() -> None:
        with runtime.autocast():
            loss = module._elbo(images, 1.0)[0]  # pylint: disable=protected-access  # the step, without a Trainer
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3 if compiled else 2):  # warm-up (compilation, cuDNN's kernel search)
        step()
    _synchronize(device)
    with Timer() as timer:
        for _ in range(steps):
            step()
        _synchronize(device)
    return steps / timer.seconds


def loader_images_per_second(folder: Path, batch: int, workers: int, device: str, batches: int) -> float:
    """Images/s the project's loader hands over as floats on the device, alone (no model)."""
    datamodule = CelebADataModule(str(folder), batch_size=batch, num_workers=workers)
    loader = iter(datamodule.train_dataloader())
    next(loader)  # workers started
    count = 0
    with Timer() as timer:
        for _ in range(batches):
            try:
                batch_images = next(loader)
            except StopIteration:
                break
            count += len(datamodule.on_after_batch_transfer(batch_images.to(device, non_blocking=True), 0))
        _synchronize(device)
    return count / timer.seconds


def write_prepared(folder: Path, count: int, size: int) -> Path:
    """`count` drawn faces in the prepared layout (train split only)."""
    folder.mkdir(parents=True, exist_ok=True)
    block = make_faces(min(count, 1000), size, seed=0).tobytes()
    per_image = size * size * 3
    with open(folder / "train.u8", "wb") as out:
        for start in range(0, count, 1000):
            out.write(block[: min(1000, count - start) * per_image])
    (folder / "train.txt").write_text("".join(f"{index:06d}\n" for index in range(count)))
    (folder / "meta.json").write_text(f'{{"image_size": {size}, "counts": {{"train": {count}}}}}')
    return folder


def _synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def main() -> None:  # pylint: disable=too-many-locals  # one table per part, in order
    """Run every part and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_tiny(parser)
    args = parser.parse_args()
    tiny = args.tiny
    size, big_batch, steps = (32, 8, 2) if tiny else (150, 256, 20)
    codes_count, components, loader_batches = (300, 4, 4) if tiny else (20_000, 200, 100)
    runtime = resolve("auto", "auto", "auto")
    device = runtime.machine.device
    capability = torch.cuda.get_device_capability() if device == "cuda" else "none (CPU)"
    print(machine_header("GPU check"))
    print(f"capability {capability}; {runtime.describe()}")

    print(f"\n| training step, {size} px | batch | channels_last | compiled | steps/s | images/s |")
    print("| --- | ---: | --- | --- | ---: | ---: |")
    step_speed = 0.0
    cases = [(32, runtime.channels_last, False), (big_batch, runtime.channels_last, False),
             (big_batch, not runtime.channels_last, False), (big_batch, runtime.channels_last, True)]  # fmt: skip
    for batch, channels_last, compiled in cases:
        if compiled and tiny:
            continue  # minutes of compilation: not for a smoke test
        speed = steps_per_second(size, batch, channels_last, compiled, runtime, steps)
        step_speed = max(step_speed, speed * batch) if batch == big_batch and not compiled else step_speed
        print(
            f"| {size} px | {batch} | {channels_last} | {compiled} | {speed:.1f} | {speed * batch:,.0f} |", flush=True
        )

    with tempfile.TemporaryDirectory() as tmp:
        prepared = write_prepared(Path(tmp) / "prepared", max(codes_count, big_batch * loader_batches), size)
        print("\n| loader alone | workers | images/s | vs the fastest step's images/s |")
        print("| --- | ---: | ---: | ---: |")
        for workers in (0, 2 if tiny else 8):
            speed = loader_images_per_second(prepared, big_batch, workers, device, loader_batches)
            print(f"| prepared uint8 -> floats on {device} | {workers} | {speed:,.0f} | {speed / step_speed:.1f}x |")

        module = default_module(size, compiled=False, channels_last=runtime.channels_last).to(device)
        with Timer() as encoding, runtime.autocast():
            codes = encoder_means(module.vae, FaceCrops(prepared, "train"), 1024 if device == "cuda" else 128)
        with Timer() as fit:
            GaussianMixture(components, max_codes=20_000).fit(codes[:codes_count], seed=42)
        print(f"\nencode {len(codes):,} images: {encoding.seconds:.1f} s; fit {components} components to "
              f"{min(len(codes), codes_count):,} codes: {fit.seconds:.1f} s")  # fmt: skip

        trainer = [] if tiny else ["trainer=gpu"]
        command = [sys.executable, str(ROOT / "commands.py"), "train", "data=synthetic", "trainer.max_epochs=2",
                   f"data.image_size={64 if tiny else 150}", "tracking.enabled=false", "storage.add=false",
                   f"data.prepared_dir={tmp}/synthetic", f"model_file={tmp}/vae.pt", f"checkpoints_dir={tmp}/ckpt",
                   *trainer]  # fmt: skip
        with Timer() as end_to_end:
            result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp)
        lines = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("epoch ")]
        print(f"\n{' '.join(['train data=synthetic', *trainer])}, 2 epochs: exit {result.returncode}, "
              f"{end_to_end.seconds:.1f} s in all")  # fmt: skip
        print("\n".join(lines) or (result.stderr[-2000:] if result.returncode else ""))

    if not tiny:  # the device-sensitive tests, on this machine (CPU-only tests skip themselves)
        tests = ["tests/integration/test_train_options_and_evaluate.py",
                 "tests/integration/test_ddp.py", "tests/unit"]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        code = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "slow or not slow", *tests],
                              cwd=ROOT, env=env, check=False).returncode  # fmt: skip
        print(f"device-sensitive tests: exit {code}")


if __name__ == "__main__":
    main()
