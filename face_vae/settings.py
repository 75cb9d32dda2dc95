"""Every setting of every command, declared once: default, type, rule and the comment `--help` shows.

Hydra composes each command from these dataclasses: `configs/<command>.yaml` names the command's groups
in its defaults list, and `register()` stores each dataclass in Hydra's ConfigStore under the name a
defaults list uses (`model: vae` -> VAEModel). A YAML file holds only a preset that differs from these
defaults (configs/trainer/ddp.yaml) or the arguments of a library's class (configs/callbacks/).
The code that uses a setting is the only other place that names it. None of this imports torch.
"""

# A settings class has one field per key, however many that is.
# pylint: disable=too-many-instance-attributes
from dataclasses import dataclass
from typing import Any, Optional

from hydra.core.config_store import ConfigStore

from face_vae.rules import (
    AT_LEAST_0,
    AUTO_OR_BOOL,
    AUTO_OR_POSITIVE,
    FRACTION,
    PATH,
    POSITIVE,
    SECONDS,
    SEED_RANGE,
    WIDTHS,
    at_least,
    one_of,
    positive,
    setting,
)
from face_vae.storage import StorageSettings
from face_vae.tracking.server import TrackingSettings

PRECISIONS = ("auto", "32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true")
SAMPLER = setting(
    "auto",
    "auto: the prior the model was trained with (a Gaussian mixture fitted to the training codes, "
    "docs/RESULTS.md); normal: N(0, I); gmm: the mixture, refused when the model has none",
    one_of("auto", "gmm", "normal"),
)
SEED = setting(0, "the same seed gives the same faces", SEED_RANGE)
BATCH_SIZE = setting(64, "images through the network at a time", POSITIVE)
MODEL_FILE = setting(
    "models/vae.pt",
    "the model `train` saved (pulled through models.dvc when missing), or a registered version: "
    "models:/face_vae/3, models:/face_vae@champion",
)
DEBUG = setting(False, "true: show the traceback of an error instead of one sentence")
FORCE = setting(False, "prepare the data again even when it is up to date")


# ---- groups -----------------------------------------------------------------------------------------


@dataclass
class Crop:
    """The crop box inside CelebA's 178x218 aligned image; (14, 34) centres it and needs no resampling."""

    left: int = setting(14, "", AT_LEAST_0)
    top: int = setting(34, "", AT_LEAST_0)
    size: int = setting(150, "", at_least(1, "a positive number of pixels"))


@dataclass
class Data:
    """What both data options share: the prepared folder, the loaders and the split names."""

    kind: str = setting("celeba")
    image_size: int = setting(
        150, "the crop is resized to this when it differs (64 works too)", at_least(8, "at least 8 pixels")
    )
    prepared_dir: str = setting(
        "prepared/celeba_${data.image_size}", "where `prepare` writes the crops (a subfolder per recipe)"
    )
    batch_size: int = setting(32, "", POSITIVE)
    num_workers: int = setting(
        0,
        "loader processes; measured on a CPU: workers hand batches over slower (~4k img/s) than the main "
        "process reads them (~10k); use 2-8 on a GPU machine",
        AT_LEAST_0,
    )
    attributes_file: str = setting(
        "${data.source_dir}/list_attr_celeba.txt", "CelebA's 40 attributes (train_classifier)"
    )
    train_split: str = setting("train")
    val_split: str = setting("val")
    test_split: str = setting("test")


@dataclass
class CelebAData(Data):
    """CelebA in its official layout: <source_dir>/img_align_celeba/*.jpg (178x218) or the official
    img_align_celeba.zip (read as it is), and <source_dir>/list_eval_partition.txt. data.dvc tracks data/,
    so `train` pulls it when missing; `python commands.py download` fetches it from the official files."""

    source_dir: str = setting("data/celeba")
    images_subdir: Optional[str] = setting(None, "null: img_align_celeba/, or images/ when that is what the folder has")
    crop: Crop = setting(Crop())
    max_bad_fraction: float = setting(0.01, "prepare fails when more images than this are missing or corrupt", FRACTION)
    prepare_workers: Any = setting("auto", "processes decoding JPEGs in prepare; auto: one per core", AUTO_OR_POSITIVE)


@dataclass
class NumImages:
    """Drawn images per split."""

    train: int = setting(256, "", POSITIVE)
    val: int = setting(64, "", POSITIVE)
    test: int = setting(64, "", POSITIVE)


@dataclass
class SyntheticData(Data):
    """Face-like images drawn by face_vae/data/synthetic.py: the whole pipeline offline, in seconds."""

    kind: str = setting("synthetic")
    prepared_dir: str = setting("prepared/synthetic_${data.image_size}", "where `prepare` draws the faces")
    attributes_file: str = setting(
        "${data.prepared_dir}/list_attr_synthetic.txt",
        "written by prepare: hair colour, pale skin, wide mouth, a coin flip",
    )
    num_images: NumImages = setting(NumImages())
    seed: int = setting(0, "", SEED_RANGE)


@dataclass
class MixturePrior:
    """The Gaussian mixture fitted to the training codes (face_vae/models/priors.py builds itself from these)."""

    _target_: str = "face_vae.models.priors.GaussianMixture"
    components: int = setting(200, "200 beat 10 (FID 74.6 vs 78.6, docs/RESULTS.md)", POSITIVE)
    max_codes: int = setting(
        20000, "fitted to at most this many codes, drawn at random (benchmarks/prior_fit.py)", POSITIVE
    )


@dataclass
class VAEModel:
    """The VAE and its training loss (face_vae/models/vae_module.py builds itself from these keys)."""

    _target_: str = "face_vae.models.vae_module.VAEModule"
    latent_dim: int = setting(128, "size of the latent code", POSITIVE)
    channels: list[int] = setting(
        [16, 32, 64, 128, 256], "one stride-2 level per entry in the residual encoder, mirrored in the decoder", WIDTHS
    )
    lr: float = setting(0.001, "Adam's learning rate", positive("a positive learning rate"))
    likelihood: str = setting(
        "calibrated",
        "calibrated: sigma = the batch's RMSE each step (sigma-VAE; the winner in docs/RESULTS.md); fixed: sigma below",
        one_of("calibrated", "fixed"),
    )
    sigma: float = setting(
        0.1,
        "decoder std of the Gaussian likelihood with likelihood=fixed: balances reconstruction against KL",
        positive("positive (it is the decoder's standard deviation)"),
    )
    kl_warmup_steps: int = setting(0, "KL weight ramps 0 -> 1 over these steps (0: none)", AT_LEAST_0)
    prior: Optional[MixturePrior] = setting(
        MixturePrior(),
        "fitted to the training codes after training, sampled by infer (face_vae/models/priors.py); "
        "model.prior=null: N(0, I)",
    )
    compile: bool = setting(False, "torch.compile the VAE's forward (minutes of compilation first)")


@dataclass
class DCGANModel:
    """The DCGAN baseline of docs/RESULTS.md: transposed convolutions up, stride-2 convolutions down,
    trained adversarially (`python commands.py train model=dcgan`; face_vae/models/gan_module.py)."""

    _target_: str = "face_vae.models.gan_module.GANModule"
    latent_dim: int = setting(128, "", POSITIVE)
    channels: list[int] = setting([32, 64, 128, 256, 512], "", WIDTHS)
    lr: float = setting(0.0002, "the DCGAN paper's Adam settings", positive("a positive learning rate"))
    betas: list[float] = setting(
        [0.5, 0.999], "", (lambda value: len(value) == 2 and all(0 <= b < 1 for b in value), "two numbers in [0, 1)")
    )


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
class Runtime:
    """How the network runs on this machine; `auto` is resolved at the start of the command
    (face_vae/hardware.py), printed, and logged to MLflow as resolved.*. An explicit value always wins."""

    precision: str = setting(
        "auto",
        "auto: bf16-mixed on CUDA with bfloat16 and on CPUs with native bfloat16 (AMX, AVX512-BF16), 16-mixed "
        "on older GPUs, 32-true on other CPUs",
        one_of(*PRECISIONS),
    )
    channels_last: Any = setting("auto", "NHWC memory layout; auto: where it measured faster", AUTO_OR_BOOL)
    threads: Any = setting(
        "auto", "CPU threads for torch's maths; auto: every core this process may use", AUTO_OR_POSITIVE
    )


# ---- commands ---------------------------------------------------------------------------------------


@dataclass
class Command:
    """What every command has. Its groups are `Any` here: each is typed by its own settings class."""

    debug: bool = DEBUG


@dataclass
class RunsTheNetwork(Command):
    """A command that loads a model: where it logs, how it pulls, how the network runs."""

    tracking: Any = None
    storage: Any = None
    runtime: Any = None


@dataclass
class ReadsFaces(RunsTheNetwork):
    """A command that also reads face images (prepared crops, or photos cropped like them)."""

    data: Any = None


@dataclass
class Trains(ReadsFaces):
    """A command that trains with Lightning."""

    trainer: Any = None
    callbacks: Any = None


@dataclass
class Prepare(Command):
    """configs/prepare.yaml."""

    data: Any = None
    storage: Any = None
    force: bool = FORCE


@dataclass
class OfficialFile:
    """One of CelebA's official files: its name, Google Drive id and published MD5."""

    name: str = setting("")
    id: str = setting("")
    md5: str = setting("")


@dataclass
class OfficialFiles:
    """CelebA's official Google Drive files and their MD5s (the list torchvision's CelebA uses)."""

    images: OfficialFile = setting(
        OfficialFile("img_align_celeba.zip", "0B7EVK8r0v71pZjFTYXZWM3FlRnM", "00d2c5bc6d35e252742224ab0c1e8fcb"),
        "1.4 GB: the 202,599 aligned JPEGs; prepare reads the zip as it is",
    )
    partition: OfficialFile = setting(
        OfficialFile("list_eval_partition.txt", "0B7EVK8r0v71pY0NSMzRuSXJEVkk", "d32c9cbf5e040fd4025c592c306e6668")
    )
    attributes: OfficialFile = setting(
        OfficialFile("list_attr_celeba.txt", "0B7EVK8r0v71pblRyaVFSWGxPY0U", "75e246fa4810816ffd6ee81facbd244c")
    )


@dataclass
class DownloadSettings:
    """Where CelebA's official files come from and how they are fetched."""

    drive_url: str = setting("https://drive.google.com/uc?id=", "+ each file's id")
    mirror: Optional[str] = setting(
        None, "a team's own copy, e.g. download.mirror=https://files.example.org/celeba/ : mirror + each file's name"
    )
    files: OfficialFiles = setting(OfficialFiles())
    timeout_s: float = setting(60.0, "seconds without an answer before a connection is given up", SECONDS)
    retries: int = setting(3, "a dropped connection is resumed this many times before the command stops", AT_LEAST_0)
    manual_page: str = setting("https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html")


@dataclass
class Download(Command):
    """configs/download.yaml."""

    data: Any = None
    download: DownloadSettings = setting(DownloadSettings())


@dataclass
class Train(Trains):
    """configs/train.yaml."""

    model: Any = None
    seed: int = setting(42, "", SEED_RANGE)
    force: bool = FORCE
    resume: bool = setting(False, "true: continue from <checkpoints_dir>/last.ckpt")
    model_file: Optional[str] = setting(None, "null: models/vae.pt, or models/dcgan.pt with model=dcgan")
    checkpoints_dir: str = setting("checkpoints", "", PATH)
    history_file: Optional[str] = setting(
        None, "a JSON file of the losses per epoch (the DVC pipeline's plot); null: none"
    )


@dataclass
class Infer(RunsTheNetwork):
    """configs/infer.yaml."""

    n: int = setting(16, "faces to generate", at_least(1, "a positive number of faces"))
    seed: int = SEED
    sampler: str = SAMPLER
    batch_size: int = setting(
        16, "faces decoded at a time: measured fastest on a 2-core CPU (benchmarks/infer.py)", POSITIVE
    )
    attributes: Any = setting(
        None,
        'steering: attributes="{Smiling: 1.5, Eyeglasses: 1}" moves every face along each attribute\'s direction '
        "(1 = the average code difference between faces with and without it); needs `train_classifier` first",
    )
    classifier_file: str = setting("models/attributes.pt")
    attribute_sweep: Any = setting(
        [-2, -1, 0, 1, 2],
        "the strengths shown left to right in attribute_grid.jpg",
        (lambda sweep: bool(sweep) and all(isinstance(x, (int, float)) for x in sweep), "a list of numbers"),
    )
    grid_faces: int = setting(2, "faces per attribute in attribute_grid.jpg", POSITIVE)
    model_file: str = MODEL_FILE
    result_dir: str = setting("result", "", PATH)


@dataclass
class Evaluate(ReadsFaces):
    """configs/evaluate.yaml."""

    split: str = setting("test", "official split to compare with (the shared sample has no test images: split=val)")
    metrics_file: Optional[str] = setting(None, "also write the scores as JSON here (the DVC pipeline's metrics)")
    stats_dir: Optional[str] = setting(None, "where the real images' Inception statistics are cached; null: beside the "
                                       "prepared data")  # fmt: skip
    n: int = setting(
        1000,
        "generated faces for FID, KID and face detection (and at most this many real ones)",
        at_least(2, "at least 2 (FID compares two sets of faces)"),
    )
    n_reconstruct: int = setting(
        1000, "real images reconstructed for MSE, log-cosh and SSIM", at_least(1, "a positive number of images")
    )
    fid_sizes: list[int] = setting(
        [64, 150],
        "resolutions of the comparison (64 px is the usual one); those above the model's own are left out",
        (lambda sizes: bool(sizes) and all(size >= 8 for size in sizes), "a list of sizes >= 8"),
    )
    sampler: str = SAMPLER
    seed: int = SEED
    batch_size: int = BATCH_SIZE
    model_file: str = MODEL_FILE
    force: bool = FORCE
    promote: bool = setting(
        False,
        "true (model_file=models:/NAME/N): record the FID on the version and make it NAME@champion when it beats "
        "the champion's FID of the same size, split and n",
    )


@dataclass
class Pull(Command):
    """configs/pull.yaml."""

    storage: Any = None
    targets: list[str] = setting(["data.dvc", "models.dvc"], "the .dvc files whose data is pulled")
    force: bool = setting(
        False, "true: replace local files that differ from the .dvc record when DVC's cache holds a copy"
    )


@dataclass
class Export(RunsTheNetwork):
    """configs/export.yaml."""

    format: str = setting("onnx", "onnx: decoder.onnx, prior.npz and sample_faces.py (numpy + onnxruntime); web: "
                          "those and index.html, a page that draws faces in the browser",
                          one_of("onnx", "web"))  # fmt: skip
    model_file: str = MODEL_FILE
    export_dir: str = setting("export", "where the files go (replaced when they are face_vae's)", PATH)
    ort_dir: Optional[str] = setting(None, "web: onnxruntime-web's dist folder, copied beside the page for use "
                                     "offline; null: the page loads it from a pinned CDN URL")  # fmt: skip
    classifier_file: Optional[str] = setting("models/attributes.pt", "web: attribute sliders from this classifier "
                                             "(none when the file is absent, or null)")  # fmt: skip


@dataclass
class FitPrior(ReadsFaces):
    """configs/fit_prior.yaml."""

    model_file: str = setting("models/vae.pt", "the VAE whose prior is fitted again, and saved back into it")
    prior: Optional[MixturePrior] = setting(
        MixturePrior(), "the density fitted to the training codes (as train's model.prior); prior=null: N(0, I)"
    )
    seed: int = SEED


@dataclass
class Serve(Command):
    """configs/serve.yaml."""

    tracking: Any = None
    model_uri: str = setting("models:/face_vae@champion", "the registered version served (models:/NAME/N or @ALIAS)")
    host: str = setting("127.0.0.1", "the address to listen on (0.0.0.0: every interface of this machine)")
    port: int = setting(5001, "the port to listen on", ((lambda value: 1 <= value <= 65535), "a port from 1 to 65535"))


@dataclass
class Interpolate(ReadsFaces):
    """configs/interpolate.yaml."""

    start: Optional[str] = setting(None, "a photo to start from; null (with end null): two faces sampled with `seed`")
    end: Optional[str] = setting(None, "the photo to end at")
    steps: int = setting(8, "faces in the strip, both ends included", at_least(2, "at least 2 (the two ends)"))
    seed: int = SEED
    sampler: str = SAMPLER
    model_file: str = MODEL_FILE
    result_dir: str = setting("result", "interpolation.jpg (the strip) and interpolation.gif", PATH)
    batch_size: int = BATCH_SIZE


@dataclass
class Reconstruct(ReadsFaces):
    """configs/reconstruct.yaml."""

    input: Any = setting(None, "a folder of photos, one photo, or a list: input=[a.jpg,b.jpg]")
    model_file: str = MODEL_FILE
    result_dir: str = setting(
        "result", "<photo>_reconstruction.jpg (original | reconstruction) and reconstructions.jpg", PATH
    )
    batch_size: int = BATCH_SIZE


@dataclass
class Classifier:
    """The attribute classifier of `train_classifier`."""

    hidden: int = setting(256, "one hidden layer: latent code -> hidden -> one logit per attribute", POSITIVE)
    dropout: float = setting(0.2, "", (lambda value: 0 <= value < 1, "between 0 and 1"))
    balanced: bool = setting(
        True, "weigh positives by negatives/positives: best balanced accuracy; false: best plain accuracy"
    )
    lr: float = setting(0.001, "", positive("a positive learning rate"))
    weight_decay: float = setting(0.0001, "", AT_LEAST_0)
    batch_size: int = setting(256, "", POSITIVE)


@dataclass
class TrainClassifier(Trains):
    """configs/train_classifier.yaml."""

    split: str = setting(
        "test", "the split the classifier is scored on (the shared sample has no test images: split=val)"
    )
    model_file: str = setting("models/vae.pt", "the VAE whose codes are classified")
    classifier_file: str = setting("models/attributes.pt", "saved beside the VAE: models.dvc versions both")
    seed: int = SEED
    force: bool = FORCE
    classifier: Classifier = setting(Classifier())


# The fields of a command that are config groups, each typed by its own settings class (or YAML files).
GROUP_FIELDS = ("data", "model", "trainer", "callbacks", "tracking", "storage", "runtime")
COMMANDS: dict[str, type[Command]] = {
    "download": Download,
    "prepare": Prepare,
    "train": Train,
    "train_classifier": TrainClassifier,
    "fit_prior": FitPrior,
    "infer": Infer,
    "evaluate": Evaluate,
    "interpolate": Interpolate,
    "reconstruct": Reconstruct,
    "export": Export,
    "serve": Serve,
    "pull": Pull,
}
# The options of each group that are settings classes (YAML presets live in configs/<group>/).
GROUPS: dict[str, dict[str, type]] = {
    "data": {"celeba": CelebAData, "synthetic": SyntheticData},
    "model": {"vae": VAEModel, "dcgan": DCGANModel},
    "trainer": {"default": Trainer},
    "tracking": {"mlflow": TrackingSettings},
    "storage": {"default": StorageSettings},
    "runtime": {"default": Runtime},
}


def register() -> None:
    """Store every settings class where the defaults lists name it: `<command>_settings` at the top of a
    command's file, `<group>/<option>` for a group's option."""
    store = ConfigStore.instance()
    for command, settings in COMMANDS.items():
        store.store(name=f"{command}_settings", node=settings)
    for group, options in GROUPS.items():
        for option, settings in options.items():
            store.store(group=group, name=option, node=settings)
