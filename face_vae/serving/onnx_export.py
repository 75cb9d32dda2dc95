"""The decoder as ONNX and the prior as numpy arrays: what `sample_faces.py` needs to draw faces without torch."""

import contextlib
import io
import shutil
from pathlib import Path

import numpy as np
import torch

from face_vae import atomic
from face_vae.errors import UserError
from face_vae.models.vae import LatentImageModel

DECODER_FILE, PRIOR_FILE, SAMPLER_FILE = "decoder.onnx", "prior.npz", "sample_faces.py"
TOLERANCE = 2 / 255  # per pixel: what the export promises against the torch decoder


def export_onnx(network: LatentImageModel, folder: Path) -> float:
    """Write decoder.onnx, prior.npz and sample_faces.py into `folder` (only those three files are replaced);
    return the largest per-pixel difference between onnxruntime's faces and torch's for the same latents."""
    try:
        import onnxruntime  # pylint: disable=import-outside-toplevel
    except ImportError as error:
        raise UserError(
            "export format=onnx needs onnx, onnxscript and onnxruntime: install them with `poetry install --extras "
            "export` (or `pip install face-vae[export]`)."
        ) from error
    decoder = network.decoder.float().cpu().eval()
    latents = network.prior.sample(8, torch.Generator().manual_seed(0))
    with atomic.atomic_path(folder / DECODER_FILE) as tmp_path:
        # torch's exporter prints its steps on stdout: the command's own lines say what was written.
        with contextlib.redirect_stdout(io.StringIO()), torch.inference_mode():
            torch.onnx.export(
                decoder,
                (latents,),
                str(tmp_path),
                input_names=["latents"],
                output_names=["images"],
                dynamic_shapes=({0: torch.export.Dim("batch", min=1)},),  # any number of faces per call
                external_data=False,  # one file: the weights inside (a 150 px decoder is ~30 MB, under ONNX's 2 GB)
                dynamo=True,
            )
        session = onnxruntime.InferenceSession(str(tmp_path), providers=["CPUExecutionProvider"])
        exported = session.run(["images"], {"latents": latents.numpy()})[0]
    with torch.inference_mode():
        difference = float(np.abs(exported - decoder(latents).numpy()).max())
    if difference > TOLERANCE:
        raise UserError(f"The ONNX decoder differs from torch's by {difference * 255:.1f}/255 per pixel: report it.")
    with atomic.atomic_path(folder / PRIOR_FILE) as tmp_path, open(tmp_path, "wb") as file:
        np.savez(file, **prior_arrays(network))
    with atomic.atomic_path(folder / SAMPLER_FILE) as tmp_path:
        shutil.copyfile(Path(__file__).with_name(SAMPLER_FILE), tmp_path)
    return difference


def prior_arrays(network: LatentImageModel) -> dict[str, np.ndarray]:
    """The prior's state as numpy arrays (its name, and the mixture's weights, means and Cholesky factors)."""
    state = network.prior.to_state()
    arrays = {"name": np.array(state["name"]), "latent_dim": np.array(network.latent_dim)}
    for key in ("weights", "means", "cholesky"):
        if state.get(key) is not None:
            arrays[key] = state[key].double().numpy()
    return arrays
