"""Faces/s from sampling to JPG files on disk: the project's `infer` path vs one by one and vs the exported
ONNX decoder under onnxruntime, beside the limit.

    python benchmarks/infer.py [--n 1000] [--image-size 150] [--batch-size 16] [--model models/vae.pt]

Without --model a freshly initialised VAE of the default architecture is used: speed does not
depend on the weights. The project's path is what `infer` runs: precision and layout resolved for this
machine, latents drawn and decoded a batch at a time, JPEGs encoded on every core. The onnxruntime row
decodes the same latents with the same batch size through `export format=onnx`'s decoder.onnx (float32,
onnxruntime's CPU provider) and writes them the same way (needs `poetry install --extras export`). The limit is the
decoder's FLOPs per face (torch.utils.flop_counter) at this machine's matmul rate, measured in the run.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# pylint: disable=wrong-import-position
from benchmarks.common import MEASURED_VAE, Timer, add_tiny, machine_header  # noqa: E402
from benchmarks.train_step import matmul_flops_per_second  # noqa: E402
from face_vae.core.models.model_file import load_model  # noqa: E402
from face_vae.core.models.nets.resnet import VAE  # noqa: E402
from face_vae.core.models.sampling import decoded_batches, latent_batches  # noqa: E402
from face_vae.core.pictures import JPEG_QUALITY, face_pictures, to_pil_image  # noqa: E402
from face_vae.hardware import resolve  # noqa: E402
from face_vae.outputs import write_images  # noqa: E402
from face_vae.serving.onnx_export import export_onnx  # noqa: E402


def one_by_one(vae: VAE, count: int, folder: Path) -> None:
    """The naive loop: decode one latent, save one file, repeat."""
    for index in range(count):
        to_pil_image(vae.sample(1, seed=index)[0]).save(folder / f"face_{index:04d}.jpg", quality=JPEG_QUALITY)


def previous_path(vae: VAE, count: int, folder: Path) -> None:
    """`infer` before this benchmark's tuning: all faces decoded in batches of 64 (contiguous fp32, held
    in memory), then written one after another on one thread."""
    faces = torch.cat([vae.sample(min(64, count - start), seed=start)
                       for start in range(0, count, 64)])  # fmt: skip
    for index, face in enumerate(faces, start=1):
        to_pil_image(face).save(folder / f"face_{index:04d}.jpg", quality=JPEG_QUALITY)


def onnxruntime_path(vae: VAE, count: int, batch_size: int, folder: Path) -> float | None:
    """Seconds to decode `count` faces with the exported ONNX decoder and write them as `infer` does; None when
    onnxruntime is not installed."""
    try:
        import onnxruntime
    except ImportError:
        return None
    export_onnx(vae, folder / "onnx")
    session = onnxruntime.InferenceSession(str(folder / "onnx" / "decoder.onnx"), providers=["CPUExecutionProvider"])

    def decoded(latents):
        for batch in latents:
            yield torch.from_numpy(session.run(["images"], {"latents": batch.numpy()})[0])

    with Timer() as timer:
        latents = latent_batches(vae.prior, count, batch_size, seed=0)
        write_images(folder / "onnxruntime", face_pictures(decoded(latents)), total=count + 1)
    return timer.seconds


def decoder_flops_per_face(vae: VAE) -> float:
    """FLOPs of decoding one face, in whatever type and place the decoder has (bf16 where infer puts it)."""
    counter = FlopCounterMode(display=False)
    with counter:
        vae.decode(torch.randn(8, vae.latent_dim))  # decode moves the latents to the decoder's device and type
    return counter.get_total_flops() / 8


def main() -> None:
    """Time both paths and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--image-size", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--model", type=Path, default=None)
    add_tiny(parser)
    args = parser.parse_args()
    if args.tiny:
        args.n, args.image_size, args.batch_size = 8, 64, 4
    vae = load_model(args.model) if args.model else VAE(args.image_size, **MEASURED_VAE).eval()
    runtime = resolve("auto", "auto", "auto")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "single").mkdir()
        with Timer() as single:
            one_by_one(vae, args.n, Path(tmp) / "single")
        (Path(tmp) / "previous").mkdir()
        with Timer() as previous:
            previous_path(vae, args.n, Path(tmp) / "previous")
        onnx_seconds = onnxruntime_path(vae, args.n, args.batch_size, Path(tmp))
        placed = runtime.place(vae)
        with Timer() as batched:
            latents = latent_batches(placed.prior, args.n, args.batch_size, seed=0)
            write_images(Path(tmp) / "batched", face_pictures(decoded_batches(placed, latents)), total=args.n + 1)
    limit = matmul_flops_per_second(runtime.precision.startswith("bf16")) / decoder_flops_per_face(vae)
    print(machine_header(f"Infer, n={args.n} faces of {vae.image_size} px to JPG"))
    print(f"limit: {limit:,.0f} faces/s (the decoder's FLOPs per face at this machine's matmul rate)")
    print("| path | faces/s | vs one by one | share of the limit |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| one by one (sample(1) + save), fp32 | {args.n / single.seconds:,.0f} | 1.0x | "
          f"{args.n / single.seconds / limit:.0%} |")  # fmt: skip
    print(f"| previous infer (batches of 64, contiguous fp32, one writer) | {args.n / previous.seconds:,.0f} | "
          f"{single.seconds / previous.seconds:.1f}x | {args.n / previous.seconds / limit:.0%} |")  # fmt: skip
    speed = args.n / batched.seconds
    print(f"| project (batches of {args.batch_size}, {runtime.precision}, channels_last={runtime.channels_last}, "
          f"+ grid) | {speed:,.0f} | {single.seconds / batched.seconds:.1f}x | {speed / limit:.0%} |")  # fmt: skip
    if onnx_seconds is None:
        print("| onnxruntime | not installed: `poetry install --extras export` | | |")
    else:
        onnx_speed = args.n / onnx_seconds
        print(f"| onnxruntime (decoder.onnx, batches of {args.batch_size}, fp32, + grid) | {onnx_speed:,.0f} | "
              f"{single.seconds / onnx_seconds:.1f}x | {onnx_speed / limit:.0%} |")  # fmt: skip
    print(f"project vs previous infer: {previous.seconds / batched.seconds:.2f}x")
    if onnx_seconds is not None:
        print(f"onnxruntime vs project (torch): {batched.seconds / onnx_seconds:.2f}x")
    options = f"--n {args.n} --image-size {args.image_size} --batch-size {args.batch_size}"
    print(f"reproduce: python benchmarks/infer.py {options}")


if __name__ == "__main__":
    main()
