"""Compose a command's Hydra config from `configs/` (compose API, no @hydra.main)."""

from collections.abc import Iterable
from pathlib import Path

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from face_vae.errors import UserError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def compose(config_name: str, overrides: Iterable[object] = ()) -> DictConfig:
    """Return the resolved config `config_name` with `key=value` overrides applied.

    fire turns a bare `8` into an int, so every override is converted back to text.
    """
    words = [str(word) for word in overrides]
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = hydra_compose(config_name=config_name, overrides=words)
        OmegaConf.resolve(cfg)
    except (HydraException, OmegaConfBaseException) as error:
        # Hydra's own first line names the bad key or value; the traceback adds nothing for a user.
        first_line = str(error).strip().splitlines()[0]
        raise UserError(f"Bad configuration override: {first_line}") from error
    return cfg
