"""The `export` stage: the trained model as files that run without torch (format=onnx)."""

import logging
import shlex
from pathlib import Path

from omegaconf import DictConfig

from face_vae.serving.onnx_export import (
    DECODER_FILE,
    MANIFEST_FILE,
    PRIOR_FILE,
    SAMPLER_FILE,
    export_onnx,
)
from face_vae.stages.shared import model_path, pulled_model, tracking_uri
from face_vae.tracking import provenance, runs

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> None:
    """Write `cfg.export_dir`/decoder.onnx, prior.npz and sample_faces.py; check the decoder against torch's."""
    uri = tracking_uri(cfg)
    model_file = model_path(cfg)
    network = pulled_model(cfg, model_file)
    folder = Path(cfg.export_dir)
    difference = export_onnx(network, folder)
    log.info("Wrote %s, %s, %s and their checksums to %s (%s, %d px): the ONNX decoder matches torch's within "
             "%.2f/255 per pixel.",
             DECODER_FILE, PRIOR_FILE, SAMPLER_FILE, folder, network.prior.describe(), network.image_size,
             difference * 255)  # fmt: skip
    log.info("Sample without torch: pip install numpy pillow onnxruntime; python %s --n 16 --out faces",
             shlex.quote(str(folder / SAMPLER_FILE)))  # fmt: skip
    if uri is not None:
        params = provenance.model_params(cfg.model_file, model_file, cfg.storage.models_dvc)
        files = [folder / name for name in (DECODER_FILE, PRIOR_FILE, SAMPLER_FILE, MANIFEST_FILE)]
        runs.log_stage_run(uri, cfg.tracking.experiment, params | {"format": cfg.format},
                           {"max_pixel_difference": difference}, files)  # fmt: skip
