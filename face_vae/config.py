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
    check_values(cfg, config_name)
    _check_sizes(values)
    return cfg


def flat_values(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as {'dotted.key': value} (lists stay values)."""
    return _flat(OmegaConf.to_container(cfg, resolve=True), "")


def _flat(node: object, prefix: str) -> dict[str, Any]:
    if isinstance(node, dict) and node:
        return {key: value for name, child in node.items() for key, value in _flat(child, f"{prefix}{name}.").items()}
    return {prefix.rstrip("."): node}


def config_groups() -> set[str]:
    """The config groups (folders of configs/): `data`, `model`, `trainer`, ..."""
    return {path.name for path in CONFIG_DIR.iterdir() if path.is_dir()}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # True is an int to Python, not to a user


def _positive(value: object) -> bool:
    return value > 0


def _at_least(low: float) -> Callable[[Any], bool]:
    return lambda value: value >= low


def _one_of(*choices: object) -> Callable[[Any], bool]:
    # 1 == True in Python: a choice matches only a value of its own type.
    return lambda value: any(value == choice and isinstance(value, type(choice)) and
                             isinstance(choice, bool) == isinstance(value, bool) for choice in choices)  # fmt: skip


Rule = tuple[Callable[[Any], bool], str]
PRECISIONS = ("auto", "32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true")
POSITIVE: Rule = (_positive, "a positive number")
AT_LEAST_0: Rule = (_at_least(0), "0 or more")
AUTO_OR_BOOL: Rule = (_one_of("auto", True, False), "auto, true or false")

# Values a type check cannot refuse, in one place: by a key's last name wherever it stands (`lr` in
# `model.lr` and in `model.module.optimizer.lr`), then by the whole key. Checked for every command.
NAME_RULES: dict[str, Rule] = {
    "n": (_positive, "a positive number of faces"),
    "n_reconstruct": (_positive, "a positive number of images"),
    "steps": (_at_least(2), "at least 2 (the two ends)"),
    "batch_size": POSITIVE,
    "grid_faces": POSITIVE,
    "seed": AT_LEAST_0,
    "image_size": (_at_least(8), "at least 8 pixels"),
    "num_workers": AT_LEAST_0,
    "prepare_workers": (lambda v: v == "auto" or (_is_int(v) and v > 0), "auto or a positive number"),
    "max_bad_fraction": (lambda v: 0 <= v <= 1, "a fraction between 0 and 1"),
    "latent_dim": POSITIVE,
    "lr": (_positive, "a positive learning rate"),
    "sigma": (_positive, "positive (it is the decoder's standard deviation)"),
    "likelihood": (_one_of("fixed", "calibrated"), "fixed or calibrated"),
    "kl_warmup_steps": AT_LEAST_0,
    "ema_decay": (lambda v: 0 <= v < 1, "0 (off) or a decay below 1, e.g. 0.999"),
    "gmm_components": AT_LEAST_0,
    "channels": (lambda v: bool(v) and all(isinstance(c, int) and c > 0 for c in v), "a list of positive widths"),
    "betas": (lambda v: len(v) == 2 and all(0 <= b < 1 for b in v), "two numbers in [0, 1), e.g. [0.5, 0.999]"),
    "precision": (_one_of(*PRECISIONS), f"one of {', '.join(PRECISIONS)}"),
    "channels_last": AUTO_OR_BOOL,
    "threads": (lambda v: v == "auto" or (_is_int(v) and v > 0), "auto or a positive number"),
    "max_epochs": (_positive, "a positive number of epochs"),
    "devices": (lambda v: v == "auto" or (_is_int(v) and v > 0), "auto or a positive number"),
    "num_nodes": POSITIVE,
    "limit_train_batches": (_positive, "a positive fraction or number of batches"),
    "limit_val_batches": AT_LEAST_0,
    "log_every_n_steps": POSITIVE,
    "every_n_train_steps": POSITIVE,
    "save_top_k": (_at_least(-1), "-1 (all), 0 or more"),
    "sampler": (_one_of("auto", "gmm", "flow", "normal"), "auto, gmm, flow or normal"),
    "architecture": (_one_of("conv", "resnet"), "conv or resnet"),
    "adversarial_weight": AT_LEAST_0,
    "adversarial_start": AT_LEAST_0,
    "feature_matching": AT_LEAST_0,
    "fid_every_n_epochs": AT_LEAST_0,
    "fid_samples": (_at_least(2), "at least 2 faces"),
    "layers": POSITIVE,
    "epochs": AT_LEAST_0,
    "add": AUTO_OR_BOOL,
    "hidden": POSITIVE,
    "dropout": (lambda v: 0 <= v < 1, "between 0 and 1"),
    "weight_decay": AT_LEAST_0,
    "health_timeout_s": (_positive, "a positive number of seconds"),
    "timeout_s": (_positive, "a positive number of seconds"),
    "retries": AT_LEAST_0,
    "fid_sizes": (lambda v: bool(v) and all(_is_int(size) and size >= 8 for size in v), "a list of sizes >= 8"),
    "attribute_sweep": (lambda v: bool(v) and all(isinstance(x, (int, float)) for x in v), "a list of numbers"),
}
KEY_RULES: dict[str, Rule] = {
    "data.crop.size": (_positive, "a positive number of pixels"),
    "data.crop.left": AT_LEAST_0,
    "data.crop.top": AT_LEAST_0,
    "data.num_images.train": POSITIVE,
    "data.num_images.val": POSITIVE,
    "data.num_images.test": POSITIVE,
}
# Rules of one command that are stricter than the general ones.
COMMAND_RULES: dict[str, dict[str, Rule]] = {
    "evaluate": {"n": (_at_least(2), "at least 2 (FID compares two sets of faces)")},
}


def _check_sizes(values: dict) -> None:
    """The one rule between two groups: the data's image size must survive the model's stride-2 layers."""
    channels = values.get("model", {}).get("channels")
    image_size = values.get("data", {}).get("image_size")
    if isinstance(channels, list) and isinstance(image_size, int) and image_size < 2 ** len(channels):
        raise UserError(
            f"data.image_size={image_size} is too small for {len(channels)} stride-2 layers: "
            f"use at least {2 ** len(channels)} pixels or fewer model.channels."
        )


def check_values(cfg: DictConfig, command: str = "") -> None:
    """Refuse a value outside its key's range in one sentence naming the key. A key that only points at
    another (`trainer.precision: ${runtime.precision}`) is checked where it points."""
    for key, value in _flat(OmegaConf.to_container(cfg, resolve=False), "").items():
        rule = COMMAND_RULES.get(command, {}).get(key) or KEY_RULES.get(key) or NAME_RULES.get(key.rsplit(".", 1)[-1])
        if rule is None or value is None or (isinstance(value, str) and "${" in value):
            continue
        allowed, expected = rule
        try:
            ok = allowed(value)
        except TypeError:  # a string where a number belongs: the type check names it unless the default is null
            ok = False
        if not ok:
            raise UserError(f"{key} must be {expected}, not {value!r}.")


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


def command_names() -> list[str]:
    """The commands: one per file in configs/ (prepare, train, infer, ...)."""
    return sorted(path.stem for path in CONFIG_DIR.glob("*.yaml"))


def command_summary(command: str) -> str:
    """The first comment line of the command's config: what the command does, in one sentence."""
    first = (CONFIG_DIR / f"{command}.yaml").read_text(encoding="utf-8").splitlines()[0]
    return first.lstrip("# ").strip()


def config_help(command: str) -> str:
    """The keys of `command`'s config with their defaults and the comment beside each, group by group,
    read from the YAML files (no compose: `--help` stays instant)."""
    own = (CONFIG_DIR / f"{command}.yaml").read_text(encoding="utf-8").splitlines()
    sections, groups, in_defaults = [], [], False
    for line in own:
        if line.startswith("defaults:"):
            in_defaults = True
        elif in_defaults and line.startswith("  - ") and ":" in line:
            group, choice = (part.strip() for part in line[4:].split("#")[0].split(":", 1))
            groups.append((group, choice))
        elif not line.startswith(" "):
            in_defaults = False
    body = _without_defaults(own[1:])  # the first line is the summary
    sections.append(f"Keys of {command} (override as KEY=VALUE):\n" + "\n".join(f"  {line}" for line in body))
    for group, choice in groups:
        choices = sorted(path.stem for path in (CONFIG_DIR / group).glob("*.yaml"))
        text = _without_defaults((CONFIG_DIR / group / f"{choice}.yaml").read_text(encoding="utf-8").splitlines())
        sections.append(
            f"Group {group} (default {choice}; choose with {group}={'|'.join(choices)}; "
            f"override as {group}.KEY=VALUE):\n" + "\n".join(f"  {line}" for line in text)
        )
    return "\n\n".join(sections)


def _without_defaults(lines: list[str]) -> list[str]:
    """The lines of a config file without its defaults list, blank lines and Hydra's own `_self_` entry."""
    kept, skipping = [], False
    for line in lines:
        if line.startswith("defaults:"):
            skipping = True
            continue
        if skipping and (line.startswith(" ") or not line.strip()):
            continue
        skipping = False
        if line.strip():
            kept.append(line)
    return kept
