"""Compose a command's Hydra config from `configs/` (compose API, no @hydra.main) and check its values.

Everything here runs before torch, Lightning or MLflow are imported: a bad value is answered in a
second, before any data, DVC remote or MLflow server is touched.
"""

import dataclasses
import difflib
import importlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.errors import HydraException, InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException, ValidationError
from omegaconf.nodes import BooleanNode, FloatNode, IntegerNode

from face_vae.core import settings
from face_vae.core.errors import UserError, mask_text

# Inside the package, so that an installed `face-vae` has them; `configs` at the project root links here.
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
for _extra in yaml.safe_load((CONFIG_DIR / "extras.yaml").read_text(encoding="utf-8")) or []:
    importlib.import_module(_extra)  # each adds its commands, groups and hooks to settings' registry
settings.register()
_WORDS_GIVEN: dict[str, list[str]] = {}  # command -> the override words of its last composition


def words_given(config_name: str) -> list[str]:
    """The override words the config of `config_name` was last composed with: what the user set, so that a command
    can fill in the rest from elsewhere (the data a model was trained on) and compose again."""
    return list(_WORDS_GIVEN.get(config_name, []))


def compose(config_name: str, overrides: Iterable[object] = ()) -> DictConfig:
    """Return the config `config_name` with `key=value` overrides applied, its types checked by the
    settings classes while Hydra composes it (face_vae/core/settings.py and the extras') and its values by their
    rules.

    fire turns a bare `8` into an int, so every override is converted back to text.
    """
    words = [str(word) for word in overrides]
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = hydra_compose(config_name=config_name, overrides=words)
        # Interpolations stay live (resolved on access), so that a value resolved at run time, such as
        # runtime.precision=auto, reaches every key that points at it.
        values = OmegaConf.to_container(cfg, resolve=True)
    except (HydraException, OmegaConfBaseException) as error:
        # Hydra's message quotes the override: a URL's password in it must not reach the screen
        raise UserError(mask_text(_one_sentence(error)) + _did_you_mean(error, config_name)) from error
    _check_group_words(cfg)
    check_values(cfg)
    _check_sizes(values)
    _WORDS_GIVEN[config_name] = words
    for hook in settings.AFTER_COMPOSE:
        hook(cfg)
    return cfg


TYPE_NAMES = {IntegerNode: "an int", FloatNode: "a float", BooleanNode: "a bool (true/false)"}


def _one_sentence(error: Exception) -> str:
    """A refused override in the user's words: the settings class's type, or Hydra's own first line (which names
    the bad key or value; the traceback adds nothing for a user)."""
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, ValidationError):
        cause = cause.__cause__
    if cause is not None and cause.full_key:
        expected = TYPE_NAMES.get(type(cause.child_node))
        if expected:
            return f"{cause.full_key} must be {expected}, not {cause.value!r}."
        return f"{cause.full_key}: {str(cause.msg).strip().splitlines()[0]}."
    lines = str(error).strip().splitlines()
    if lines[0].startswith("LexerNoViableAltException: ") and "=" in lines[0]:
        word = lines[0].split(": ", 1)[1]
        key, value = word.split("=", 1)
        return (
            f"Bad configuration override: {word} cannot be read: quote a value that holds spaces or letters beyond "
            f"ASCII, e.g. \"{key}='{value}'\"."
        )
    said = lines[0] if not lines[0].endswith(":") or len(lines) < 2 else f"{lines[0]} {lines[1].strip()}"
    return f"Bad configuration override: {said}"


def _did_you_mean(error: Exception, config_name: str) -> str:
    """' Did you mean KEY?' for a mistyped key (`trainer.max_epoch`), the closest key of the command's config."""
    mistyped = re.search(r"Could not override '([^']+)'", str(error))
    if not mistyped:
        return ""
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            keys = flat_values(hydra_compose(config_name=config_name))
    except (HydraException, OmegaConfBaseException):
        return ""
    close = difflib.get_close_matches(mistyped.group(1), list(keys), n=1, cutoff=0.75)
    return f" Did you mean {close[0]}? (`{config_name} --help` lists every key)" if close else ""


def flat_values(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as {'dotted.key': value} (lists stay values)."""
    return _flat(OmegaConf.to_container(cfg, resolve=True), "")


def _flat(node: object, prefix: str) -> dict[str, Any]:
    if isinstance(node, dict) and node:
        return {key: value for name, child in node.items() for key, value in _flat(child, f"{prefix}{name}.").items()}
    return {prefix.rstrip("."): node}


def _check_group_words(cfg: DictConfig) -> None:
    """Refuse `model.prior=normal` (a dot where the slash of `model/prior=normal` belongs): Hydra takes it as a
    word in place of the whole group, which would fail later as a class that cannot be built."""
    for group, options in settings.GROUPS.items():
        key = group.replace("/", ".")
        word = OmegaConf.select(cfg, key, default=None)
        if isinstance(word, str):
            choices = "|".join(sorted(options.keys() | {path.stem for path in (CONFIG_DIR / group).glob("*.yaml")}))
            raise UserError(
                f"{key}={word} would replace the whole {key} group with a word: choose an option with {group}={word} "
                f"({group}={choices}), or set one of its keys as {key}.KEY=VALUE."
            )


def _check_sizes(values: dict) -> None:
    """The one rule between two groups: the data's image size must survive the model's stride-2 layers."""
    model = values.get("model") or {}
    key, channels = (
        ("model.net.channels", model["net"].get("channels"))
        if "net" in model
        else ("model.channels", model.get("channels"))
    )
    image_size = (values.get("data") or {}).get("image_size")
    if isinstance(channels, list) and isinstance(image_size, int) and image_size < 2 ** len(channels):
        raise UserError(
            f"data.image_size={image_size} is too small for {len(channels)} stride-2 layers: "
            f"use at least {2 ** len(channels)} pixels or fewer {key}."
        )


def check_values(node: DictConfig, prefix: str = "") -> None:
    """Refuse a value outside its range in one sentence naming the key, by the rule declared with the
    key in its settings class."""
    node_type = OmegaConf.get_type(node)
    rules = (
        {f.name: f.metadata.get("rule") for f in dataclasses.fields(node_type)}
        if dataclasses.is_dataclass(node_type)
        else {}
    )
    for key in node:
        if OmegaConf.is_interpolation(node, key):
            continue
        value = node[key]
        if isinstance(value, DictConfig) and not rules.get(key):
            check_values(value, f"{prefix}{key}.")
        elif rules.get(key) and value is not None:
            allowed, expected = rules[key]
            if isinstance(value, (ListConfig, DictConfig)):
                value = OmegaConf.to_container(value, resolve=True)
            try:
                ok = allowed(value)
            except TypeError:  # text where a number belongs, in a key that takes both (`auto` or a number)
                ok = False
            if not ok:
                shown = (
                    repr(value) if len(repr(value)) <= 80 else f"{repr(value)[:60]}... ({len(str(value))} characters)"
                )
                raise UserError(f"{prefix}{key} must be {expected}, not {shown}.")


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
