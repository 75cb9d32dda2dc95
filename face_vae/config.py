"""Compose a command's Hydra config from `configs/` (compose API, no @hydra.main) and check its values.

Everything here runs before torch, Lightning or MLflow are imported: a bad value is answered in a
second, before any data, DVC remote or MLflow server is touched.
"""

from collections.abc import Callable, Iterable
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
    group_choices = [word for word in words if word.split("=", 1)[0].lstrip("+~") in config_groups()]
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = hydra_compose(config_name=config_name, overrides=words)
            defaults = hydra_compose(config_name=config_name, overrides=group_choices)
        # Interpolations stay live (resolved on access), so that a value resolved at run time, such as
        # runtime.precision=auto, reaches every key that points at it.
        values = OmegaConf.to_container(cfg, resolve=True)
        default_values = OmegaConf.to_container(defaults, resolve=True)
    except (HydraException, OmegaConfBaseException) as error:
        # Hydra's own first line names the bad key or value; the traceback adds nothing for a user.
        first_line = str(error).strip().splitlines()[0]
        raise UserError(f"Bad configuration override: {first_line}") from error
    _check_types(default_values, values, "")
    check_values(values)
    return cfg


def config_groups() -> set[str]:
    """The config groups (folders of configs/): `data`, `model`, `trainer`, ..."""
    return {path.name for path in CONFIG_DIR.iterdir() if path.is_dir()}


def _positive(value: object) -> bool:
    return value > 0


def _at_least(low: float):
    return lambda value: value >= low


PRECISIONS = ("auto", "32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true")

# Values a type check cannot refuse, checked once here for every command that has the key.
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "n": (_positive, "a positive number of faces"),
    "n_reconstruct": (_positive, "a positive number of images"),
    "batch_size": (_positive, "a positive number"),
    "steps": (_at_least(2), "at least 2 (the two ends)"),
    "grid_faces": (_positive, "a positive number"),
    "data.batch_size": (_positive, "a positive number"),
    "data.image_size": (_at_least(8), "at least 8 pixels"),
    "data.num_workers": (_at_least(0), "0 or more"),
    "data.max_bad_fraction": (lambda v: 0 <= v <= 1, "a fraction between 0 and 1"),
    "data.crop.size": (_positive, "a positive number of pixels"),
    "data.crop.left": (_at_least(0), "0 or more"),
    "data.crop.top": (_at_least(0), "0 or more"),
    "model.latent_dim": (_positive, "a positive number"),
    "model.lr": (_positive, "a positive learning rate"),
    "model.sigma": (_positive, "positive (it is the decoder's standard deviation)"),
    "model.likelihood": (lambda v: v in ("fixed", "calibrated"), "fixed or calibrated"),
    "model.kl_warmup_steps": (_at_least(0), "0 or more"),
    "model.ema_decay": (lambda v: 0 <= v < 1, "0 (off) or a decay below 1, e.g. 0.999"),
    "model.gmm_components": (_at_least(0), "0 or more"),
    "model.channels": (lambda v: bool(v) and all(isinstance(c, int) and c > 0 for c in v), "a list of positive widths"),
    "runtime.precision": (lambda v: v in PRECISIONS, f"one of {', '.join(PRECISIONS)}"),
    "runtime.channels_last": (lambda v: v in ("auto", True, False), "auto, true or false"),
    "model.channels_last": (lambda v: v in ("auto", True, False), "auto, true or false"),
    "runtime.threads": (lambda v: v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and v > 0),
                        "auto or a positive number"),  # fmt: skip
    "trainer.max_epochs": (_positive, "a positive number of epochs"),
    "trainer.devices": (lambda v: v == "auto" or (isinstance(v, int) and v > 0), "auto or a positive number"),
    "trainer.limit_train_batches": (_positive, "a positive fraction or number of batches"),
    "trainer.limit_val_batches": (_at_least(0), "0 or more"),
    "trainer.log_every_n_steps": (_positive, "a positive number"),
    "trainer.precision": (lambda v: v in PRECISIONS, f"one of {', '.join(PRECISIONS)}"),
    "sampler": (lambda v: v in ("auto", "gmm", "normal"), "auto, gmm or normal"),
    "classifier.hidden": (_positive, "a positive number"),
    "classifier.dropout": (lambda v: 0 <= v < 1, "between 0 and 1"),
    "classifier.lr": (_positive, "a positive learning rate"),
    "classifier.batch_size": (_positive, "a positive number"),
    "tracking.health_timeout_s": (_positive, "a positive number of seconds"),
}


def check_values(values: dict) -> None:
    """Refuse a value outside its key's range (RULES) in one sentence naming the key."""
    for key, (allowed, expected) in RULES.items():
        node: object = values
        for part in key.split("."):
            node = node.get(part, _MISSING) if isinstance(node, dict) else _MISSING
        if node is _MISSING or node is None:
            continue
        try:
            ok = allowed(node)
        except TypeError:  # a string where a number belongs: the type check names it unless the default is null
            ok = False
        if not ok:
            raise UserError(f"{key} must be {expected}, not {node!r}.")


_MISSING = object()


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
        kind = {bool: "a bool (true/false)", int: "an int", float: "a float"}[expected]
        raise UserError(f"{key.rstrip('.')} must be {kind}, not {values!r}.")


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
