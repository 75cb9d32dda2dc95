"""The export's web page (format=web): index.html and faces.js beside decoder.onnx, the prior as little-endian
float64 numbers (prior.bin), the attribute directions (attributes.json), and onnxruntime-web, loaded from a pinned
CDN URL with its integrity hash or copied beside the page (`ort_dir`) for use offline."""

import base64
import hashlib
import json
import logging
import shutil
from pathlib import Path

import numpy as np

from face_vae.core.errors import UserError

log = logging.getLogger(__name__)

PAGE_DIR = Path(__file__).with_name("web")
PAGE_FILES = ("index.html", "faces.js")
PRIOR_BINARY, ATTRIBUTES_FILE = "prior.bin", "attributes.json"
ORT_VERSION = "1.23.0"
# ort.wasm.min.js (the CPU build) fetches the other two from its own folder when the first faces are drawn.
ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
ORT_URL = f"https://cdn.jsdelivr.net/npm/onnxruntime-web@{ORT_VERSION}/dist/{ORT_FILES[0]}"
# sha384 of ort.wasm.min.js in the npm package onnxruntime-web@1.23.0, whose bytes jsDelivr serves: a browser runs
# the script only when the bytes it got have this hash (test_web_page.py checks it against the npm package).
ORT_INTEGRITY = "sha384-Uvpo3KshAzID7bmsY+Pz2/tiNWwl6Y5XeDTPpktDx73e0o/1TdssZDScTVHxpLYv"
ORT_PLACEHOLDER = "<!-- onnxruntime-web: written by the export"


def write_page(
    folder: Path, prior: dict[str, np.ndarray], attributes: dict[str, np.ndarray] | None, ort_dir: str | None
) -> dict:
    """Write the page's files into `folder` (the export's temporary folder); return the manifest's `web` part.
    `prior` holds the arrays of prior.npz; `attributes` maps each attribute to its direction in code space."""
    header = {"name": str(prior["name"]), "latent_dim": int(prior["latent_dim"])}
    if "weights" in prior:
        lower = np.tril_indices(header["latent_dim"])  # the Cholesky factors' lower triangles, row by row
        numbers = [prior["weights"], prior["means"].ravel(), prior["cholesky"][:, lower[0], lower[1]].ravel()]
        (folder / PRIOR_BINARY).write_bytes(np.concatenate(numbers).astype("<f8").tobytes())
        header["components"] = len(prior["weights"])
    if attributes:
        directions = {"names": list(attributes), "directions": [vector.tolist() for vector in attributes.values()]}
        (folder / ATTRIBUTES_FILE).write_text(json.dumps(directions), encoding="utf-8")
    (folder / "faces.js").write_bytes((PAGE_DIR / "faces.js").read_bytes())
    page = (PAGE_DIR / "index.html").read_text(encoding="utf-8")
    placeholder = page[page.index(ORT_PLACEHOLDER) :].split("\n", 1)[0]
    (folder / "index.html").write_text(page.replace(placeholder, _ort_script(folder, ort_dir)), encoding="utf-8")
    return {"prior": header, "attributes": bool(attributes), "onnxruntime_web": "copied" if ort_dir else ORT_URL}


def _ort_script(folder: Path, ort_dir: str | None) -> str:
    """The page's <script> for onnxruntime-web: the pinned CDN URL, or the files of `ort_dir` copied beside it."""
    if ort_dir is None:
        return f'<script data-ort src="{ORT_URL}" integrity="{ORT_INTEGRITY}" crossorigin="anonymous"></script>'
    missing = [name for name in ORT_FILES if not (Path(ort_dir) / name).is_file()]
    if missing:
        raise UserError(
            f"ort_dir={ort_dir} lacks {', '.join(missing)}: point it at the dist folder of onnxruntime-web "
            f"{ORT_VERSION} (`npm pack onnxruntime-web@{ORT_VERSION}`, then unpack it: package/dist)."
        )
    for name in ORT_FILES:
        shutil.copyfile(Path(ort_dir) / name, folder / name)
    if sri_sha384(folder / ORT_FILES[0]) != ORT_INTEGRITY:
        log.warning(
            "ort_dir=%s holds another build of onnxruntime-web than the %s the page is tested with.",
            ort_dir,
            ORT_VERSION,
        )
    return f'<script data-ort src="{ORT_FILES[0]}"></script>'


def sri_sha384(path: Path) -> str:
    """A file's subresource-integrity value (sha384, base64), as a browser checks it."""
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode("ascii")
