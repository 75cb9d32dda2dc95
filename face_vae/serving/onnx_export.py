"""The decoder as ONNX and the prior as numpy arrays: what `sample_faces.py` needs to draw faces without torch."""

import contextlib
import io
import json
import shutil
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from face_vae import file_guards
from face_vae.core.errors import UserError
from face_vae.core.models import face_vae_stream

DECODER_FILE, PRIOR_FILE, SAMPLER_FILE = "decoder.onnx", "prior.npz", "sample_faces.py"
STREAM_FILE = "face_vae_stream.py"  # the random stream sample_faces.py imports, from face_vae/core/models/
MANIFEST_FILE = "manifest.json"  # what the export holds, with checksums: the sampler checks them before drawing
TOLERANCE = 2 / 255  # per pixel: what the export promises against the torch decoder


def export_onnx(network: torch.nn.Module, folder: Path, page: Optional[Callable[[Path, dict], dict]] = None) -> float:
    """Write decoder.onnx, prior.npz, sample_faces.py (with face_vae_stream.py) and their manifest as the folder
    `folder`, all at once (an earlier export there is replaced whole; a folder holding anything else is refused);
    return the largest per-pixel difference between onnxruntime's faces and torch's for the same latents.
    `page(folder, prior)` adds files (the web page) and returns what the manifest says of them."""
    try:
        import onnxruntime
    except ImportError as error:
        raise UserError(
            "export format=onnx needs onnx, onnxscript and onnxruntime: install them with `poetry install --extras "
            "export` (or `pip install face-vae[export]`)."
        ) from error
    from face_vae.serving.sample_faces import sha256

    prior = network.prior.arrays()
    if prior is None:
        raise UserError(
            f"The model's prior {network.prior.NAME!r} ({network.prior.describe()}) cannot be exported: the export "
            "and the page draw only priors that state their sampling as N(0, I) or a Gaussian mixture (`arrays`); "
            "refit it first, e.g. `python commands.py fit_prior model/prior=gmm`."
        )
    if not all(np.isfinite(array).all() for array in prior.values() if array.dtype.kind == "f"):
        raise UserError("The model's prior holds values that are not finite: fit it again (train) before exporting.")
    with file_guards.new_folder(folder, MANIFEST_FILE, "export_dir") as tmp:
        difference = _write_decoder(network, tmp / DECODER_FILE, onnxruntime)
        with open(tmp / PRIOR_FILE, "wb") as file:
            # float32, as the model holds them (half the size of float64; the sampler widens them back, exactly).
            np.savez(file, **{key: array.astype(np.float32) if array.dtype == np.float64 else array
                              for key, array in prior.items()})  # fmt: skip
        shutil.copyfile(Path(__file__).with_name(SAMPLER_FILE), tmp / SAMPLER_FILE)
        shutil.copyfile(Path(face_vae_stream.__file__), tmp / STREAM_FILE)
        web = {"web": page(tmp, prior)} if page else {}
        files = {path.name: {"sha256": sha256(path)} for path in sorted(tmp.iterdir())}
        manifest = {
            "written_by": "face_vae export",
            "files": files,
            "latent_dim": network.latent_dim,
            "image_size": network.image_size,
            "prior": network.prior.describe(),
        } | web
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return difference


def _write_decoder(network: torch.nn.Module, path: Path, onnxruntime) -> float:
    """Export the decoder to `path`; return its largest per-pixel difference from torch's faces."""
    decoder = _Decode(network.float().cpu()).eval()
    latents = network.prior.sample(8)
    # torch's exporter prints its steps on stdout: the command's own lines say what was written.
    with contextlib.redirect_stdout(io.StringIO()), torch.inference_mode():
        torch.onnx.export(
            decoder,
            (latents,),
            str(path),
            input_names=["latents"],
            output_names=["images"],
            dynamic_shapes=({0: torch.export.Dim("batch", min=1)},),  # any number of faces per call
            external_data=False,  # one file: the weights inside (a 150 px decoder is ~30 MB, under ONNX's 2 GB)
            dynamo=True,
        )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    exported = session.run(["images"], {"latents": latents.numpy()})[0]
    with torch.inference_mode():
        difference = float(np.abs(exported - decoder(latents).numpy()).max())
    if difference > TOLERANCE:
        raise UserError(f"The ONNX decoder differs from torch's by {difference * 255:.1f}/255 per pixel: report it.")
    return difference


class _Decode(torch.nn.Module):
    """The network's `decode` as a module's forward: what the exporter traces, for any network."""

    def __init__(self, network: torch.nn.Module):
        super().__init__()
        self.network = network

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """The images of `latents`."""
        return self.network.decode(latents)
