"""The core's settings: the commands `prepare`, `train` and `infer` (defaults, rules, `--help` comments), the groups
they compose, and the registry of commands (and the module that runs each), groups and hooks that the extras add theirs
to. Each group's own settings live beside its code (face_vae/core/data/settings.py, core/models/settings.py); an
extra's (tracking, storage, runtime) beside its. A YAML file in configs/ holds only a preset (configs/trainer/gpu.yaml)
or a library class's arguments (configs/callbacks/). Torch-free: the command line checks a config in a second, before
anything heavy loads.
"""

# A settings class has one field per key, however many that is.
# pylint: disable=too-many-instance-attributes
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from face_vae.core.data import settings as data_settings
from face_vae.core.hooks import HOOKS
from face_vae.core.models import settings as model_settings
from face_vae.core.rules import (
    AT_LEAST_0,
    AUTO_OR_POSITIVE,
    PATH,
    POSITIVE,
    SEED_RANGE,
    at_least,
    one_of,
    positive,
    setting,
)

DEBUG = setting(False, "true: show the traceback of an error instead of one sentence")
FORCE = setting(False, "prepare the data again even when it is up to date")
# The option each group starts from; `group=option` on the command line picks another. The extras add their groups'
# (tracking, storage, runtime) with `add`.
DEFAULT_OPTIONS = {"model/prior": "gmm", "data": "celeba", "model": "vae", "callbacks": "default", "trainer": "default"}


def group() -> Any:
    """A group's slot in a command: filled by the option its defaults list names."""
    return setting({})


def groups(*names: str) -> Any:
    """A command's defaults list: each group's default option, in this order, then the command's own values."""
    return setting([{name: DEFAULT_OPTIONS[name]} for name in names] + ["_self_"])


def own(**values: Any) -> Any:
    """Values a command sets in one of its groups (over the group's defaults, under the user's overrides)."""
    return setting(dict(values))


@dataclass
class Trainer:
    """Lightning's Trainer (more of its arguments can be added: `+trainer.KEY=VALUE`); the precision is
    runtime.precision."""

    _target_: str = "lightning.Trainer"
    accelerator: str = setting("auto", "auto: CUDA when present, else the CPU")
    strategy: str = setting("auto", "ddp: see trainer=ddp")
    devices: Any = setting(1, "", AUTO_OR_POSITIVE)
    num_nodes: int = setting(1, "", POSITIVE)
    max_epochs: int = setting(10, "", at_least(1, "a positive number of epochs"))
    max_time: Optional[str] = setting(
        None, "a wall-clock budget, DD:HH:MM:SS (e.g. 00:00:20:00); training stops at whichever comes first"
    )
    log_every_n_steps: int = setting(10, "", POSITIVE)
    limit_train_batches: Any = setting(
        1.0, "a fraction, or a number of batches", positive("a positive fraction or number of batches")
    )
    limit_val_batches: Any = setting(1.0, "", AT_LEAST_0)
    enable_checkpointing: bool = setting(True)
    enable_model_summary: bool = setting(True)


@dataclass
class Command:
    """What every command has. Its groups are `Any` here: each is typed by its own settings class."""

    debug: bool = DEBUG


@dataclass
class Prepare(Command):
    """Decode, crop and store the dataset once in a training-ready form (raw uint8 crops; reads the image folder
    or the zip)."""

    defaults: list[Any] = groups("data")
    data: Any = group()
    force: bool = FORCE


@dataclass
class Train(Command):
    """Train the VAE on the train split, validate on val, save models/vae.pt."""

    defaults: list[Any] = groups("data", "model", "callbacks", "trainer")
    data: Any = group()
    model: Any = group()
    callbacks: Any = group()
    trainer: Any = group()
    seed: int = setting(42, "", SEED_RANGE)
    force: bool = FORCE
    model_file: str = setting("models/vae.pt", "where the trained model is saved")
    checkpoints_dir: str = setting("checkpoints", "", PATH)  # configs/callbacks/ writes best.ckpt and last.ckpt here


SAMPLER = setting(
    "auto",
    "auto: the prior the model was trained with (a Gaussian mixture fitted to the training codes, "
    "docs/RESULTS.md); normal: N(0, I); gmm: the mixture, refused when the model has none",
    one_of("auto", "gmm", "normal"),
)
SEED = setting(0, "the same seed gives the same faces", SEED_RANGE)


@dataclass
class Infer(Command):
    """Sample n faces from the trained model and write them as JPGs to result/."""

    defaults: list[Any] = groups()
    n: int = setting(16, "faces to generate", at_least(1, "a positive number of faces"))
    seed: int = SEED
    sampler: str = SAMPLER
    batch_size: int = setting(
        16, "faces decoded at a time (why 16: docs/PERFORMANCE.md, benchmarks/infer.py)", POSITIVE
    )
    model_file: str = setting("models/vae.pt", "the model `train` saved")
    result_dir: str = setting("result", "", PATH)


# The registry: the core's commands and groups; each extra listed in configs/extras.yaml adds its own (`add`).
COMMANDS: dict[str, type[Command]] = {"prepare": Prepare, "train": Train, "infer": Infer}
# The module whose `run(cfg)` carries out each command.
RUNS: dict[str, str] = {command: f"face_vae.core.{command}" for command in COMMANDS}
# The options of each group that are settings classes (YAML presets live in configs/<group>/).
GROUPS: dict[str, dict[str, type]] = {
    "data": data_settings.OPTIONS,
    "model": {"vae": model_settings.VAEModel},
    "model/prior": model_settings.PRIORS,  # inside model=vae
    "model/net": model_settings.NETS,  # inside model=vae
    "trainer": {"default": Trainer},
}
# Called with every composed config, in order (an extra's: hide a tracking URI's password before anything logs it).
AFTER_COMPOSE: list[Callable[[DictConfig], None]] = []


def add(  # pylint: disable=too-many-arguments  # each a kind of thing an extra can add
    commands: Mapping[str, type[Command]] = MappingProxyType({}),
    options: Mapping[str, dict[str, type]] = MappingProxyType({}),
    *,
    default_options: Mapping[str, str] = MappingProxyType({}),
    runs: Mapping[str, str] = MappingProxyType({}),
    hooks: Mapping[str, Iterable[str]] = MappingProxyType({}),
    after_compose: Iterable[Callable[[DictConfig], None]] = (),
) -> None:
    """An extra's commands (with the module that runs each; a subclass of a core command's settings, under its name,
    adds keys to it), group options and the option each new group starts from, and hooks (face_vae/core/hooks.py,
    each by its dotted path), added to the registry from the module configs/extras.yaml names."""
    COMMANDS.update(commands)
    DEFAULT_OPTIONS.update(default_options)
    RUNS.update(runs)
    for name, settings_classes in options.items():
        GROUPS.setdefault(name, {}).update(settings_classes)
    for name, paths in hooks.items():
        HOOKS[name].extend(paths)
    AFTER_COMPOSE.extend(after_compose)


def group_fields() -> tuple[str, ...]:
    """The fields of a command that are config groups, each typed by its own settings class (or YAML files)."""
    return tuple(DEFAULT_OPTIONS)


def register() -> None:
    """Store every settings class where Hydra looks for it: a command under its name, a group's option as
    `<group>/<option>`."""
    store = ConfigStore.instance()
    for command, settings in COMMANDS.items():
        store.store(name=command, node=settings)
    for name, options in GROUPS.items():
        for option, settings in options.items():
            store.store(group=name, name=option, node=settings)
    # What a new data source's YAML starts from, as plain values: its own keys (a folder, a count) join them.
    store.store(group="data", name="base", node=OmegaConf.to_container(OmegaConf.structured(data_settings.Data)))
