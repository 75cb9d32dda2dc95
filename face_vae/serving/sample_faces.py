"""Sample faces from a face_vae model exported with `python commands.py export format=onnx`, without torch.

Needs only numpy, pillow and onnxruntime (`pip install numpy pillow onnxruntime`). Beside this file:
decoder.onnx (latent codes -> images in [0, 1]) and prior.npz (the density the codes are drawn from).

    python sample_faces.py --n 16 --seed 0 --out faces

The same seed gives the same faces here; numpy draws other numbers than torch, so they are not the faces
`python commands.py infer seed=0` writes (the decoder itself matches torch's within 2/255 per pixel).
This file is copied from face_vae/serving/sample_faces.py and must not import face_vae or torch.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import onnxruntime
from PIL import Image

HERE = Path(__file__).resolve().parent
JPEG_QUALITY = 95  # what face_vae writes


def sample_latents(prior: dict, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` codes (count, latent_dim) from the prior: N(0, I), or the Gaussian mixture fitted in training."""
    if str(prior["name"]) == "standard_normal":
        return rng.standard_normal((count, int(prior["latent_dim"]))).astype(np.float32)
    weights, means, cholesky = prior["weights"], prior["means"], prior["cholesky"]
    component = rng.choice(len(weights), size=count, p=weights / weights.sum())
    noise = rng.standard_normal((count, means.shape[1]))
    return (means[component] + np.einsum("nij,nj->ni", cholesky[component], noise)).astype(np.float32)


def decode(session: onnxruntime.InferenceSession, latents: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Images (N, 3, H, W) in [0, 1] of `latents`, `batch_size` at a time."""
    batches = [
        session.run(["images"], {"latents": latents[i : i + batch_size]})[0] for i in range(0, len(latents), batch_size)
    ]
    return np.concatenate(batches)


def to_pil(image: np.ndarray) -> Image.Image:
    """An image (3, H, W) in [0, 1] as a PIL image: x 255 and truncated, as face_vae (and torchvision) do."""
    return Image.fromarray((image * 255).astype(np.uint8).transpose(1, 2, 0))


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, draw the faces, write them; the exit code."""
    parser = argparse.ArgumentParser(description="Write faces sampled from the exported model as JPGs.")
    parser.add_argument("--n", type=int, default=16, help="faces to write")
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same faces")
    parser.add_argument("--out", default="faces", help="folder for face_0001.jpg ...")
    parser.add_argument("--model-dir", default=str(HERE), help="the folder holding decoder.onnx and prior.npz")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    model_dir = Path(args.model_dir)
    try:
        session = onnxruntime.InferenceSession(str(model_dir / "decoder.onnx"), providers=["CPUExecutionProvider"])
        prior = dict(np.load(model_dir / "prior.npz"))
    except Exception as error:  # pylint: disable=broad-exception-caught  # onnxruntime's own types derive from it
        print(
            f"error: cannot read the exported model in {model_dir} ({error}): run "
            "`python commands.py export format=onnx` again, or pass --model-dir.",
            file=sys.stderr,
        )
        return 1
    faces = decode(session, sample_latents(prior, args.n, np.random.default_rng(args.seed)))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for index, face in enumerate(faces, start=1):
        to_pil(face).save(out / f"face_{index:04d}.jpg", quality=JPEG_QUALITY)
    print(f"Wrote {len(faces)} faces of {faces.shape[-1]}x{faces.shape[-2]} to {out}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
