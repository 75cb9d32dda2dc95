"""The CLI edge: compose the config, run the stage, turn user errors into one printed line."""

import importlib
import logging
import sys
from collections.abc import Iterable

from omegaconf import DictConfig

from face_vae.config import compose
from face_vae.errors import UserError


def run(command: str, overrides: Iterable[object]) -> None:
    """Run `command` with Hydra `overrides`; exit 1 with one line on a UserError.

    With `debug=true` in the config it re-raises instead, to show the traceback.
    """
    words = [str(word) for word in overrides]
    _show_progress_messages()
    cfg = None
    try:
        cfg = compose(command, words)
        # The stage (torch, Lightning, MLflow) is imported only once the config has been checked.
        importlib.import_module(f"face_vae.stages.{command}").run(cfg)
    except UserError as error:
        if _debug(cfg, words):
            raise
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


def _debug(cfg: DictConfig | None, words: list[str]) -> bool:
    """Whether the user asked for tracebacks: `debug=true` (or True, 1), read from the config when it composed."""
    if cfg is not None:
        return bool(cfg.get("debug"))
    return any(word.lower() in ("debug=true", "debug=1") for word in words)


def _show_progress_messages() -> None:
    """Print face_vae's INFO messages on the current stderr (Lightning and MLflow have their own)."""
    logger = logging.getLogger("face_vae")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    # A library that configures the root logger (basicConfig) would print every message a second time.
    logger.propagate = False
