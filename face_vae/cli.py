"""The CLI edge: compose the config, run the stage, turn user errors into one printed line."""

import importlib
import logging
import sys
from collections.abc import Iterable

from face_vae.config import compose
from face_vae.errors import UserError

STAGES = {
    "prepare": "face_vae.stages.prepare",
    "train": "face_vae.stages.train",
    "infer": "face_vae.stages.infer",
    "evaluate": "face_vae.stages.evaluate",
    "train_classifier": "face_vae.stages.train_classifier",
    "reconstruct": "face_vae.stages.reconstruct",
    "interpolate": "face_vae.stages.interpolate",
}


def run(command: str, overrides: Iterable[object]) -> None:
    """Run `command` with Hydra `overrides`; exit 1 with one line on a UserError.

    `debug=true` among the overrides re-raises instead, to show the traceback.
    """
    words = [str(word) for word in overrides]
    _show_progress_messages()
    try:
        cfg = compose(command, words)
        importlib.import_module(STAGES[command]).run(cfg)
    except UserError as error:
        if "debug=true" in words:
            raise
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


def _show_progress_messages() -> None:
    """Print face_vae's INFO messages on the current stderr (Lightning and MLflow have their own)."""
    logger = logging.getLogger("face_vae")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
