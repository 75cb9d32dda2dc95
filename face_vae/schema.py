"""The typed schema of every config: one dataclass per config file, registered in Hydra's ConfigStore.

Each YAML file names its schema first in its defaults list (`- vae_schema`), so Hydra checks types
while it composes: `trainer.max_epochs=ten` fails there, and `config.compose` says so in one sentence.
The YAML files hold the values (every field here is MISSING until a file sets it); a schema holds
only the types and, in `RULES`, the ranges and choices of its own keys: one place per group.
Keys that take more than one type (`auto` or a number, a count or a fraction) are `Any` with a rule.
Nodes that `instantiate` builds (`_target_` subtrees) are `Any`: the built class checks them.
"""

# A schema has one field per key of its config file, however many that is.
# pylint: disable=too-many-instance-attributes
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

Rule = tuple[Callable[[Any], bool], str]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # True is an int to Python, not to a user


def _at_least(low: float, expected: str) -> Rule:
    return (lambda value: value >= low), expected


def _positive(expected: str) -> Rule:
    return (lambda value: value > 0), expected


def _one_of(*choices: object) -> Rule:
    # 1 == True in Python: a choice matches only a value of its own type.
    def allowed(value: object) -> bool:
        return any(value == choice and type(value) is type(choice) for choice in choices)

    return allowed, ", ".join(str(choice).lower() for choice in choices[:-1]) + f" or {str(choices[-1]).lower()}"


def _auto_or_positive_int(value: object) -> bool:
    return value == "auto" or (_is_int(value) and value > 0)


POSITIVE = _positive("a positive number")
AT_LEAST_0 = _at_least(0, "0 or more")
AUTO_OR_BOOL = _one_of("auto", True, False)
AUTO_OR_POSITIVE = (_auto_or_positive_int, "auto or a positive number")
SAMPLER = _one_of("auto", "gmm", "flow", "normal")
FRACTION = (lambda value: 0 <= value <= 1, "a fraction between 0 and 1")
PRECISIONS = ("auto", "32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true")


def _positive_widths(value: list) -> bool:
    return bool(value) and all(_is_int(width) and width > 0 for width in value)


# ---- groups -----------------------------------------------------------------------------------------


@dataclass
class Crop:
    """The crop box inside CelebA's 178x218 aligned image."""

    left: int = MISSING
    top: int = MISSING
    size: int = MISSING
    RULES: ClassVar[dict[str, Rule]] = {
        "left": AT_LEAST_0,
        "top": AT_LEAST_0,
        "size": _at_least(1, "a positive number of pixels"),
    }


@dataclass
class NumImages:
    """Drawn images per split."""

    train: int = MISSING
    val: int = MISSING
    test: int = MISSING
    RULES: ClassVar[dict[str, Rule]] = {"train": POSITIVE, "val": POSITIVE, "test": POSITIVE}


@dataclass
class Data:
    """What both data options share: the prepared folder, the loaders and the split names."""

    kind: str = MISSING
    image_size: int = MISSING
    prepared_dir: str = MISSING
    batch_size: int = MISSING
    num_workers: int = MISSING
    attributes_file: str = MISSING
    train_split: str = MISSING
    val_split: str = MISSING
    test_split: str = MISSING
    preparation: Any = MISSING
    datamodule: Any = MISSING
    RULES: ClassVar[dict[str, Rule]] = {
        "image_size": _at_least(8, "at least 8 pixels"),
        "batch_size": POSITIVE,
        "num_workers": AT_LEAST_0,
    }


@dataclass
class CelebAData(Data):
    """CelebA in its official layout."""

    source_dir: str = MISSING
    images_subdir: Optional[str] = MISSING
    crop: Crop = MISSING
    max_bad_fraction: float = MISSING
    prepare_workers: Any = MISSING
    RULES: ClassVar[dict[str, Rule]] = Data.RULES | {
        "max_bad_fraction": FRACTION,
        "prepare_workers": AUTO_OR_POSITIVE,
    }


@dataclass
class SyntheticData(Data):
    """Drawn face-like images."""

    num_images: NumImages = MISSING
    seed: int = MISSING
    RULES: ClassVar[dict[str, Rule]] = Data.RULES | {"seed": AT_LEAST_0}


@dataclass
class Model:
    """What both model options share."""

    name: str = MISSING
    latent_dim: int = MISSING
    channels: list[int] = MISSING
    lr: float = MISSING
    channels_last: Any = MISSING
    monitor: Optional[str] = MISSING
    gmm_components: int = MISSING
    ema_decay: float = MISSING
    lr_schedule: str = MISSING
    module: Any = MISSING
    RULES: ClassVar[dict[str, Rule]] = {
        "latent_dim": POSITIVE,
        "channels": (_positive_widths, "a list of positive widths"),
        "lr": _positive("a positive learning rate"),
        "channels_last": AUTO_OR_BOOL,
        "gmm_components": AT_LEAST_0,
        "ema_decay": (lambda value: 0 <= value < 1, "0 (off) or a decay below 1, e.g. 0.999"),
        "lr_schedule": _one_of("constant", "cosine"),
    }


@dataclass
class Flow:
    """The RealNVP latent flow fitted after training."""

    epochs: int = MISSING
    layers: int = MISSING
    hidden: int = MISSING
    RULES: ClassVar[dict[str, Rule]] = {"epochs": AT_LEAST_0, "layers": POSITIVE, "hidden": POSITIVE}


@dataclass
class VAEModel(Model):
    """The VAE and its training loss."""

    architecture: str = MISSING
    sigma: float = MISSING
    likelihood: str = MISSING
    frequency_weight: float = MISSING
    kl_warmup_steps: int = MISSING
    flow: Flow = MISSING
    adversarial_weight: float = MISSING
    adversarial_start: int = MISSING
    critic_start: int = MISSING
    feature_matching: float = MISSING
    discriminator_channels: list[int] = MISSING
    compile: bool = MISSING
    RULES: ClassVar[dict[str, Rule]] = Model.RULES | {
        "architecture": _one_of("conv", "resnet"),
        "sigma": _positive("positive (it is the decoder's standard deviation)"),
        "likelihood": _one_of("fixed", "calibrated", "laplace"),
        "frequency_weight": AT_LEAST_0,
        "kl_warmup_steps": AT_LEAST_0,
        "adversarial_weight": AT_LEAST_0,
        "adversarial_start": AT_LEAST_0,
        "critic_start": AT_LEAST_0,
        "feature_matching": AT_LEAST_0,
        "discriminator_channels": (_positive_widths, "a list of positive widths"),
    }


@dataclass
class DCGANModel(Model):
    """The DCGAN baseline."""

    betas: list[float] = MISSING
    RULES: ClassVar[dict[str, Rule]] = Model.RULES | {
        "betas": (lambda value: len(value) == 2 and all(0 <= b < 1 for b in value), "two numbers in [0, 1)")
    }


@dataclass
class Trainer:
    """The Lightning Trainer's arguments this project sets (others can be added: `+trainer.KEY=VALUE`)."""

    _target_: str = MISSING
    accelerator: str = MISSING
    strategy: str = MISSING
    devices: Any = MISSING
    num_nodes: int = MISSING
    max_epochs: int = MISSING
    max_time: Optional[str] = MISSING
    precision: str = MISSING
    threads: Any = MISSING
    log_every_n_steps: int = MISSING
    limit_train_batches: Any = MISSING
    limit_val_batches: Any = MISSING
    enable_checkpointing: bool = MISSING
    enable_model_summary: bool = MISSING
    RULES: ClassVar[dict[str, Rule]] = {
        "devices": AUTO_OR_POSITIVE,
        "num_nodes": POSITIVE,
        "max_epochs": _at_least(1, "a positive number of epochs"),
        "precision": _one_of(*PRECISIONS),
        "threads": AUTO_OR_POSITIVE,
        "log_every_n_steps": POSITIVE,
        "limit_train_batches": _positive("a positive fraction or number of batches"),
        "limit_val_batches": AT_LEAST_0,
    }


@dataclass
class Target:
    """A node that `instantiate` builds."""

    _target_: str = MISSING


@dataclass
class Checkpoint(Target):
    """Lightning's ModelCheckpoint arguments this project sets (a None is Lightning's own default)."""

    dirpath: str = MISSING
    filename: Optional[str] = None
    monitor: Optional[str] = None
    save_top_k: int = MISSING
    every_n_epochs: Optional[int] = None
    every_n_train_steps: Optional[int] = None
    save_last: bool = MISSING
    enable_version_counter: bool = MISSING
    RULES: ClassVar[dict[str, Rule]] = {
        "save_top_k": _at_least(-1, "-1 (all), 0 or more"),
        "every_n_epochs": AT_LEAST_0,
        "every_n_train_steps": POSITIVE,
    }


@dataclass
class Averaging(Target):
    """The EMA callback's node."""

    decay: float = MISSING


@dataclass
class LearningRateDecay(Target):
    """The learning-rate decay callback's node."""

    schedule: str = MISSING


@dataclass
class ProgressCallbacks:
    """`train_classifier`'s callbacks: the progress line only."""

    progress: Target = MISSING


@dataclass
class TrainCallbacks(ProgressCallbacks):
    """`train`'s callbacks."""

    best: Checkpoint = MISSING
    last: Checkpoint = MISSING
    ema: Averaging = MISSING
    lr_decay: LearningRateDecay = MISSING


@dataclass
class Tracking:
    """Where a command logs (face_vae/tracking/server.py TrackingSettings)."""

    enabled: bool = MISSING
    uri: str = MISSING
    local_uri: str = MISSING
    fallback_local: bool = MISSING
    health_timeout_s: float = MISSING
    experiment: str = MISSING
    RULES: ClassVar[dict[str, Rule]] = {"health_timeout_s": _positive("a positive number of seconds")}


@dataclass
class LoggerRun(Target):
    """The partial node of the MLflow logger."""

    _partial_: bool = MISSING
    experiment: str = MISSING


@dataclass
class Pictures(Target):
    """The partial node of the training-pictures callback."""

    _partial_: bool = MISSING
    grid_size: int = MISSING
    RULES: ClassVar[dict[str, Rule]] = {"grid_size": POSITIVE}


@dataclass
class Logger:
    """`train`'s MLflow logger and the pictures callback: partial nodes the stage completes."""

    run: LoggerRun = MISSING
    pictures: Pictures = MISSING


@dataclass
class Storage:
    """How data and models move through DVC (face_vae/storage.py StorageSettings)."""

    remote: Optional[str] = MISSING
    pull: bool = MISSING
    add: Any = MISSING
    push: bool = MISSING
    data_dvc: str = MISSING
    models_dvc: str = MISSING
    RULES: ClassVar[dict[str, Rule]] = {"add": AUTO_OR_BOOL}


@dataclass
class Runtime:
    """How the network runs on this machine; `auto` is resolved by face_vae/hardware.py."""

    precision: str = MISSING
    channels_last: Any = MISSING
    threads: Any = MISSING
    RULES: ClassVar[dict[str, Rule]] = {
        "precision": _one_of(*PRECISIONS),
        "channels_last": AUTO_OR_BOOL,
        "threads": AUTO_OR_POSITIVE,
    }


# ---- commands ---------------------------------------------------------------------------------------


@dataclass
class Command:
    """What every command has: `debug`. Its groups are `Any` here: each is typed by its own schema."""

    debug: bool = MISSING


@dataclass
class Prepare(Command):
    """configs/prepare.yaml."""

    data: Any = MISSING
    storage: Any = MISSING
    force: bool = MISSING


@dataclass
class DownloadSettings:
    """CelebA's official files and how they are fetched."""

    drive_url: str = MISSING
    mirror: Optional[str] = MISSING
    files: Any = MISSING
    timeout_s: float = MISSING
    retries: int = MISSING
    manual_page: str = MISSING
    RULES: ClassVar[dict[str, Rule]] = {
        "timeout_s": _positive("a positive number of seconds"),
        "retries": AT_LEAST_0,
    }


@dataclass
class Download(Command):
    """configs/download.yaml."""

    data: Any = MISSING
    download: DownloadSettings = MISSING


@dataclass
class Selection:
    """Model selection by FID during training."""

    fid_every_n_epochs: int = MISSING
    fid_samples: int = MISSING
    check: Any = MISSING
    RULES: ClassVar[dict[str, Rule]] = {
        "fid_every_n_epochs": AT_LEAST_0,
        "fid_samples": _at_least(2, "at least 2 faces"),
    }


@dataclass
class Train(Command):
    """configs/train.yaml."""

    data: Any = MISSING
    model: Any = MISSING
    trainer: Any = MISSING
    callbacks: Any = MISSING
    tracking: Any = MISSING
    logger: Any = MISSING
    storage: Any = MISSING
    runtime: Any = MISSING
    seed: int = MISSING
    force: bool = MISSING
    resume: bool = MISSING
    model_file: str = MISSING
    checkpoints_dir: str = MISSING
    selection: Selection = MISSING
    RULES: ClassVar[dict[str, Rule]] = {"seed": AT_LEAST_0}


@dataclass
class Infer(Command):
    """configs/infer.yaml."""

    tracking: Any = MISSING
    storage: Any = MISSING
    runtime: Any = MISSING
    n: int = MISSING
    seed: int = MISSING
    sampler: str = MISSING
    batch_size: int = MISSING
    attributes: Any = MISSING
    classifier_file: str = MISSING
    attribute_sweep: Any = MISSING
    grid_faces: int = MISSING
    model_file: str = MISSING
    result_dir: str = MISSING
    RULES: ClassVar[dict[str, Rule]] = {
        "n": _at_least(1, "a positive number of faces"),
        "seed": AT_LEAST_0,
        "sampler": SAMPLER,
        "batch_size": POSITIVE,
        "attribute_sweep": (
            lambda sweep: bool(sweep) and all(isinstance(x, (int, float)) for x in sweep),
            "a list of numbers",
        ),
        "grid_faces": POSITIVE,
    }


@dataclass
class Evaluate(Command):
    """configs/evaluate.yaml."""

    data: Any = MISSING
    tracking: Any = MISSING
    storage: Any = MISSING
    runtime: Any = MISSING
    split: str = MISSING
    n: int = MISSING
    n_reconstruct: int = MISSING
    fid_sizes: list[int] = MISSING
    sampler: str = MISSING
    seed: int = MISSING
    batch_size: int = MISSING
    model_file: str = MISSING
    force: bool = MISSING
    RULES: ClassVar[dict[str, Rule]] = {
        "n": _at_least(2, "at least 2 (FID compares two sets of faces)"),
        "n_reconstruct": _at_least(1, "a positive number of images"),
        "fid_sizes": (lambda sizes: bool(sizes) and all(size >= 8 for size in sizes), "a list of sizes >= 8"),
        "sampler": SAMPLER,
        "seed": AT_LEAST_0,
        "batch_size": POSITIVE,
    }


@dataclass
class Interpolate(Command):
    """configs/interpolate.yaml."""

    data: Any = MISSING
    tracking: Any = MISSING
    storage: Any = MISSING
    runtime: Any = MISSING
    start: Optional[str] = MISSING
    end: Optional[str] = MISSING
    steps: int = MISSING
    seed: int = MISSING
    sampler: str = MISSING
    model_file: str = MISSING
    result_dir: str = MISSING
    batch_size: int = MISSING
    RULES: ClassVar[dict[str, Rule]] = {
        "steps": _at_least(2, "at least 2 (the two ends)"),
        "seed": AT_LEAST_0,
        "sampler": SAMPLER,
        "batch_size": POSITIVE,
    }


@dataclass
class Reconstruct(Command):
    """configs/reconstruct.yaml."""

    data: Any = MISSING
    tracking: Any = MISSING
    storage: Any = MISSING
    runtime: Any = MISSING
    input: Any = MISSING
    model_file: str = MISSING
    result_dir: str = MISSING
    batch_size: int = MISSING
    RULES: ClassVar[dict[str, Rule]] = {"batch_size": POSITIVE}


@dataclass
class Classifier:
    """The attribute classifier of `train_classifier`."""

    hidden: int = MISSING
    dropout: float = MISSING
    balanced: bool = MISSING
    lr: float = MISSING
    weight_decay: float = MISSING
    batch_size: int = MISSING
    RULES: ClassVar[dict[str, Rule]] = {
        "hidden": POSITIVE,
        "dropout": (lambda value: 0 <= value < 1, "between 0 and 1"),
        "lr": _positive("a positive learning rate"),
        "weight_decay": AT_LEAST_0,
        "batch_size": POSITIVE,
    }


@dataclass
class TrainClassifier(Command):
    """configs/train_classifier.yaml."""

    data: Any = MISSING
    trainer: Any = MISSING
    callbacks: Any = MISSING
    tracking: Any = MISSING
    storage: Any = MISSING
    runtime: Any = MISSING
    split: str = MISSING
    model_file: str = MISSING
    classifier_file: str = MISSING
    seed: int = MISSING
    force: bool = MISSING
    classifier: Classifier = MISSING
    RULES: ClassVar[dict[str, Rule]] = {"seed": AT_LEAST_0}


COMMANDS: dict[str, type[Command]] = {
    "download": Download,
    "prepare": Prepare,
    "train": Train,
    "train_classifier": TrainClassifier,
    "infer": Infer,
    "evaluate": Evaluate,
    "interpolate": Interpolate,
    "reconstruct": Reconstruct,
}
GROUPS: dict[str, dict[str, type]] = {
    "data": {"celeba": CelebAData, "synthetic": SyntheticData},
    "model": {"vae": VAEModel, "dcgan": DCGANModel},
    "trainer": {"trainer": Trainer},
    "callbacks": {"default": TrainCallbacks, "progress": ProgressCallbacks},
    "tracking": {"tracking": Tracking},
    "logger": {"mlflow": Logger},
    "storage": {"storage": Storage},
    "runtime": {"runtime": Runtime},
}


def register() -> None:
    """Store every schema where the YAML files' defaults lists name it: `<command>_schema` at the top,
    `<group>/<option>_schema` in a group."""
    store = ConfigStore.instance()
    for command, schema in COMMANDS.items():
        store.store(name=f"{command}_schema", node=schema)
    for group, options in GROUPS.items():
        for option, schema in options.items():
            store.store(group=group, name=f"{option}_schema", node=schema)
