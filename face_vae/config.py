"""Compose a command's Hydra config from `configs/` (compose API, no @hydra.main)."""

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.errors import HydraException, InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from face_vae.errors import UserError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def compose(config_name: str, overrides: Iterable[object] = ()) -> DictConfig:
    """Return the resolved config `config_name` with `key=value` overrides applied.

    fire turns a bare `8` into an int, so every override is converted back to text.
    """
    words = [str(word) for word in overrides]
    # Group choices (`data=synthetic`) decide which defaults the other overrides are checked against.
    group_choices = [word for word in words if "." not in word.split("=", 1)[0]]
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = hydra_compose(config_name=config_name, overrides=words)
            defaults = hydra_compose(config_name=config_name, overrides=group_choices)
        OmegaConf.resolve(cfg)
        OmegaConf.resolve(defaults)
    except (HydraException, OmegaConfBaseException) as error:
        # Hydra's own first line names the bad key or value; the traceback adds nothing for a user.
        first_line = str(error).strip().splitlines()[0]
        raise UserError(f"Bad configuration override: {first_line}") from error
    _check_types(OmegaConf.to_container(defaults), OmegaConf.to_container(cfg), "")
    return cfg


def _check_types(defaults: object, values: object, key: str) -> None:
    """A number or a switch in the defaults must stay one: `trainer.max_epochs=ten` is refused here,
    in one sentence, rather than deep inside Lightning."""
    if isinstance(defaults, dict) and isinstance(values, dict):
        for name, value in values.items():
            if name in defaults:
                _check_types(defaults[name], value, f"{key}{name}.")
        return
    expected = type(defaults)
    allowed = {bool: (bool,), int: (int,), float: (int, float)}.get(expected)
    if (
        allowed
        and values is not None
        and (not isinstance(values, allowed) or (expected is not bool and isinstance(values, bool)))
    ):
        raise UserError(
            f"{key.rstrip('.')} must be {'a' if expected is not int else 'an'} {expected.__name__}, not {values!r}."
        )


def build(node: DictConfig, **kwargs: object) -> Any:
    """`hydra.utils.instantiate`, with a refused value turned into one sentence naming the config key."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as error:
        cause = error.__cause__
        if isinstance(cause, UserError):
            raise cause from error
        reason = str(cause or error).strip().splitlines()[0]
        raise UserError(f"Cannot build {node.get('_target_')} from the config: {reason}") from error
