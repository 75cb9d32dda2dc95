"""Sample faces from a face_vae model exported with `python commands.py export format=onnx`, without torch.

Needs only numpy, pillow and onnxruntime (`pip install numpy pillow onnxruntime`). Beside this file:
decoder.onnx (latent codes -> images in [0, 1]), prior.npz (the density the codes are drawn from) and
manifest.json (their checksums: a changed or damaged file is refused before anything is drawn).

    python sample_faces.py --n 16 --seed 0 --out faces

The same seed gives the same faces here and on the export's web page (index.html, format=web): both draw from
the stream face_vae_stream.py defines, as `python commands.py infer seed=0` and the served model do (the decoder
matches torch's within 2/255 per pixel; infer at bf16 differs a little more).
Faces are decoded and written a batch at a time (memory stays flat however many); in --out only files this
script wrote (listed in its .sample_faces.json) are replaced or removed.
This file is copied from face_vae/serving/sample_faces.py (and face_vae_stream.py from face_vae/core/models/); in an
export it imports neither face_vae nor torch.
"""

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # face_vae_stream.py lies beside this file in an export
try:
    from face_vae_stream import face_latents  # pylint: disable=wrong-import-position
except (
    ModuleNotFoundError
):  # this file inside the package (face_vae/serving/): the stream lies in face_vae/core/models/
    from face_vae.core.models.face_vae_stream import face_latents  # pylint: disable=wrong-import-position
finally:
    sys.path.remove(str(HERE))
JPEG_QUALITY = 95  # what face_vae writes
BATCH_SIZE = 16
MANIFEST = "manifest.json"  # written by the export
WRITTEN = ".sample_faces.json"  # the faces this script wrote in --out: the only files it replaces or removes


class ExportError(Exception):
    """A problem a user can fix, said in one sentence."""


def decode(session, latents: np.ndarray) -> np.ndarray:
    """Images (N, 3, H, W) in [0, 1] from codes (N, latent_dim)."""
    return session.run(["images"], {"latents": latents})[0]


def to_pil(image: np.ndarray) -> Image.Image:
    """An image (3, H, W) in [0, 1] as a PIL image: x 255 and truncated, as face_vae (and torchvision) do."""
    return Image.fromarray((image * 255).astype(np.uint8).transpose(1, 2, 0))


def sha256(path: Path) -> str:
    """The sha256 of a file's bytes: what the export's manifest records for it."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_export(model_dir: Path) -> tuple:
    """The decoder's session and the prior's arrays, after checking both against the export's manifest: the
    same bytes the export wrote, finite numbers, and a prior of the dimension the decoder reads."""
    import onnxruntime  # here: face_vae's own sampling reads this file's random stream without onnxruntime

    again = "run `python commands.py export format=onnx` again, or pass --model-dir"
    try:
        manifest = json.loads((model_dir / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ExportError(f"{model_dir / MANIFEST} is missing or unreadable ({error}): {again}.") from error
    for name in ("decoder.onnx", "prior.npz"):
        try:
            same = sha256(model_dir / name) == files[name]["sha256"]
        except (OSError, KeyError, TypeError) as error:
            raise ExportError(f"{model_dir / name} cannot be checked ({error}): {again}.") from error
        if not same:
            raise ExportError(f"{model_dir / name} is not the file the export wrote (its checksum differs): {again}.")
    try:
        session = onnxruntime.InferenceSession(str(model_dir / "decoder.onnx"), providers=["CPUExecutionProvider"])
        # Stored as float32 (the model's own precision), drawn in float64 as infer draws them.
        prior = {key: array.astype(np.float64) if array.dtype.kind == "f" else array
                 for key, array in np.load(model_dir / "prior.npz").items()}  # fmt: skip
    except Exception as error:  # pylint: disable=broad-exception-caught  # onnxruntime's own types derive from it
        raise ExportError(f"cannot read the exported model in {model_dir} ({error}): {again}.") from error
    broken = [key for key, array in prior.items() if array.dtype.kind == "f" and not np.isfinite(array).all()]
    if broken:
        raise ExportError(f"{model_dir / 'prior.npz'} holds values that are not finite ({', '.join(broken)}): {again}.")
    reads = session.get_inputs()[0].shape[1]
    dims = {int(prior["latent_dim"]), *(int(prior[key].shape[-1]) for key in ("means",) if key in prior)}
    if dims != {reads} and isinstance(reads, int):
        raise ExportError(f"the prior draws codes of {sorted(dims)} numbers but the decoder reads {reads}: {again}.")
    return session, prior


def write_faces(session, prior: dict, seed: int, n: int, out: Path) -> tuple[int, int]:
    """Draw, decode and write face_0001.jpg ... into `out` a batch at a time; earlier faces of this script's that
    the new ones do not replace are removed; a file of the user's is never touched. Returns (faces, size)."""
    names = [f"face_{index:04d}.jpg" for index in range(1, n + 1)]
    try:
        out.mkdir(parents=True, exist_ok=True)
        ours = set(json.loads((out / WRITTEN).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as error:
        if not out.is_dir():
            raise ExportError(
                f"cannot create the folder {out} ({getattr(error, 'strerror', error)}): choose another --out."
            ) from error
        ours = set()
    taken = [name for name in names if (out / name).exists() and name not in ours]
    if taken:
        raise ExportError(
            f"{out / taken[0]} is not a face this script wrote, and this run would replace it: "
            "move it away or choose another --out (nothing was written)."
        )
    size = 0
    try:
        _write_list(out, ours | set(names))  # listed first: a stopped run's faces are still known as ours
        for start in range(0, n, BATCH_SIZE):
            faces = decode(session, face_latents(prior, seed, start, min(BATCH_SIZE, n - start)))
            size = faces.shape[-1]
            for name, face in zip(names[start : start + BATCH_SIZE], faces):
                tmp = out / f".{name}.tmp"
                to_pil(face).save(tmp, format="JPEG", quality=JPEG_QUALITY)
                os.replace(tmp, out / name)
        for name in sorted(ours - set(names)):
            (out / name).unlink(missing_ok=True)
        _write_list(out, set(names))
    except OSError as error:
        raise ExportError(
            f"cannot write faces to {out} ({error.strerror or error}): free some space or choose another --out."
        ) from error
    return len(names), size


def _write_list(out: Path, names: set[str]) -> None:
    tmp = out / f"{WRITTEN}.tmp"
    tmp.write_text(json.dumps(sorted(names)), encoding="utf-8")
    os.replace(tmp, out / WRITTEN)


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, draw the faces, write them; the exit code."""
    parser = argparse.ArgumentParser(description="Write faces sampled from the exported model as JPGs.")
    parser.add_argument("--n", type=int, default=16, help="faces to write")
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same faces (0 to 2**63-1)")
    parser.add_argument("--out", default="faces", help="folder for face_0001.jpg ...")
    parser.add_argument("--model-dir", default=str(HERE), help="the folder holding decoder.onnx and prior.npz")
    args = parser.parse_args(argv)
    if not 1 <= args.n <= 10**6:
        parser.error("--n must be between 1 and 1000000")
    if not 0 <= args.seed < 2**63:
        parser.error("--seed must be between 0 and 2**63-1")
    try:
        session, prior = load_export(Path(args.model_dir))
        count, size = write_faces(session, prior, args.seed, args.n, Path(args.out))
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Wrote {count} faces of {size}x{size} to {args.out}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
