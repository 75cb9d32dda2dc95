"""The `export` stage: the trained model as files that run without torch (format=onnx), and a page that draws
faces in the browser with them (format=web)."""

import functools
import logging
import shlex
from pathlib import Path

from omegaconf import DictConfig

from face_vae.models.classifier import load_classifier
from face_vae.serving import web_export
from face_vae.serving.onnx_export import SAMPLER_FILE, export_onnx
from face_vae.stages.shared import model_path, pulled_model, tracking_uri
from face_vae.tracking import provenance, runs

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> None:
    """Write `cfg.export_dir`/decoder.onnx, prior.npz and sample_faces.py (and the page); check the decoder."""
    uri = tracking_uri(cfg)
    model_file = model_path(cfg)
    network = pulled_model(cfg, model_file)
    folder = Path(cfg.export_dir)
    page = None
    if cfg.format == "web":
        page = functools.partial(
            web_export.write_page, attributes=_attribute_directions(cfg, model_file), ort_dir=cfg.ort_dir
        )
    difference = export_onnx(network, folder, page)
    files = sorted(path.name for path in folder.iterdir())
    log.info(
        "Wrote %s to %s (%s, %d px): the ONNX decoder matches torch's within %.2f/255 per pixel.",
        ", ".join(files),
        folder,
        network.prior.describe(),
        network.image_size,
        difference * 255,
    )
    log.info(
        "Sample without torch: pip install numpy pillow onnxruntime; python %s --n 16 --out faces",
        shlex.quote(str(folder / SAMPLER_FILE)),
    )
    if page:
        log.info(
            "The page: python -m http.server --bind 127.0.0.1 --directory %s, then open http://127.0.0.1:8000/",
            shlex.quote(str(folder)),
        )
    if uri is not None:
        params = provenance.model_params(cfg.model_file, model_file, cfg.storage.models_dvc)
        runs.log_stage_run(
            uri,
            cfg.tracking.experiment,
            params | {"format": cfg.format},
            {"max_pixel_difference": difference},
            [folder / name for name in files],
        )


def _attribute_directions(cfg: DictConfig, model_file: Path) -> dict | None:
    """Each attribute's direction in code space (a slider on the page), or None without a classifier."""
    if cfg.classifier_file is None or not Path(cfg.classifier_file).is_file():
        log.info(
            "No attribute classifier at %s: the page has no attribute sliders (train_classifier makes one).",
            cfg.classifier_file,
        )
        return None
    classifier = load_classifier(Path(cfg.classifier_file), model_file)
    return {name: classifier.shift({name: 1.0}).double().numpy() for name in classifier.attributes}
