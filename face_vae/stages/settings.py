"""The extras' commands (download, evaluate, train_classifier, fit_prior, reconstruct, interpolate, export,
serve, pull): their settings (defaults, rules, `--help` comments), the groups they compose and the module that runs
each, added to the core's registry (face_vae/core/settings.py) with the groups of tracking, storage and the automatic
runtime, the keys they add to the core's prepare, train and infer, train's hooks (face_vae/stages/train_hooks.py),
infer's (face_vae/stages/infer.py), the data's (DVC) and the hook that hides a tracking URI's
password. configs/extras.yaml names this module. Torch-free, as the core's.
"""

# A settings class has one field per key, however many that is.
# pylint: disable=too-many-instance-attributes
from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import DictConfig

from face_vae import credentials, hardware, storage
from face_vae.core import settings as core
from face_vae.core.rules import AT_LEAST_0, PATH, POSITIVE, at_least, one_of, positive, setting
from face_vae.core.settings import FORCE, SAMPLER, SEED, Command, add, group, groups, own
from face_vae.data.download import DownloadSettings
from face_vae.tracking.server import TrackingSettings

# The groups of MLflow tracking, DVC storage and the automatic runtime, and the option each starts from.
add(
    {},
    {
        "tracking": {"mlflow": TrackingSettings},
        "storage": {"default": storage.StorageSettings},
        "runtime": {"default": hardware.RuntimeSettings},
    },
    default_options={"tracking": "mlflow", "storage": "default", "runtime": "default"},
)
BATCH_SIZE = setting(64, "images through the network at a time", POSITIVE)
MODEL_FILE = setting(
    "models/vae.pt",
    "the model `train` saved (pulled through models.dvc when missing), or a registered version: "
    "models:/face_vae/3, models:/face_vae@champion",
)


@dataclass
class RunsTheNetwork(Command):
    """A command that loads a model: where it logs, how it pulls, how the network runs."""

    tracking: Any = group()
    storage: Any = group()
    runtime: Any = group()


@dataclass
class ReadsFaces(RunsTheNetwork):
    """A command that also reads face images (prepared crops, or photos cropped like them)."""

    data: Any = group()


@dataclass
class Trains(ReadsFaces):
    """A command that trains with Lightning."""

    trainer: Any = group()


@dataclass
class Prepare(core.Prepare):
    """Decode, crop and store the dataset once in a training-ready form (raw uint8 crops; reads the image folder
    or the zip)."""

    defaults: list[Any] = groups("data", "storage")
    storage: Any = group()


@dataclass
class Train(core.Train, Trains):
    """Train the VAE on the train split, validate on val, save models/vae.pt, log to MLflow."""

    defaults: list[Any] = groups("data", "model", "callbacks", "tracking", "storage", "runtime", "trainer")
    tracking: Any = own(experiment="train_VAE")
    resume: bool = setting(False, "true: continue from <checkpoints_dir>/last.ckpt")
    keep_previous_runs: int = setting(
        3,
        "a fresh run moves an earlier run's checkpoints to <checkpoints_dir>.previous-*; the newest this many stay "
        "(resumable), older ones are deleted: each holds two checkpoints (~50 MB for the default model)",
        AT_LEAST_0,
    )
    history_file: Optional[str] = setting(
        None, "a JSON file of the losses per epoch (the DVC pipeline's plot); null: none"
    )


@dataclass
class Infer(core.Infer, RunsTheNetwork):
    """Sample n faces from the trained model and write them as JPGs to result/ (attributes= steers them)."""

    defaults: list[Any] = groups("tracking", "storage", "runtime")
    tracking: Any = own(experiment="infer_VAE")
    attributes: Any = setting(
        None,
        'steering: attributes="{Smiling: 1.5, Eyeglasses: 1}" moves every face along each attribute\'s direction '
        "(1 = the average code difference between faces with and without it); needs `train_classifier` first",
    )
    classifier_file: str = setting("models/attributes.pt")
    attribute_sweep: Any = setting(
        [-2, -1, 0, 1, 2],
        "the strengths shown left to right in attribute_grid.jpg",
        (
            lambda sweep: bool(sweep)
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) and abs(x) <= 10 for x in sweep),
            "a list of numbers between -10 and 10 (as attributes' strengths)",
        ),
    )
    grid_faces: int = setting(2, "faces per attribute in attribute_grid.jpg", POSITIVE)
    model_file: str = MODEL_FILE


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
class Download(Command):
    """Fetch CelebA's official files (aligned images zip, partition, attributes) into data.source_dir, MD5-checked."""

    defaults: list[Any] = groups("data")
    data: Any = group()
    download: DownloadSettings = setting(DownloadSettings())


@dataclass
class Evaluate(ReadsFaces):
    """Score a trained model: FID, KID, face-detection rate of samples; reconstruction error of real faces."""

    defaults: list[Any] = groups("data", "tracking", "storage", "runtime")
    tracking: Any = own(experiment="evaluate_VAE")
    split: str = setting("test", "official split to compare with (the shared sample has no test images: split=val)")
    metrics_file: Optional[str] = setting(None, "also write the scores as JSON here (the DVC pipeline's metrics)")
    stats_dir: Optional[str] = setting(
        None, "where the real images' Inception statistics are cached; null: beside the prepared data"
    )
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
    """Pull data.dvc and models.dvc from the DVC remote, failing in seconds (not waiting for a browser sign-in)."""

    defaults: list[Any] = groups("storage")
    storage: Any = group()
    targets: list[str] = setting(["data.dvc", "models.dvc"], "the .dvc files whose data is pulled")
    force: bool = setting(
        False, "true: replace local files that differ from the .dvc record when DVC's cache holds a copy"
    )


@dataclass
class Export(RunsTheNetwork):
    """Export the trained model to run without torch: format=onnx writes decoder.onnx, prior.npz, sample_faces.py;
    format=web adds index.html, a page that draws faces in the browser (docs/SERVING.md)."""

    defaults: list[Any] = groups("tracking", "storage", "runtime")
    tracking: Any = own(experiment="export_VAE")
    format: str = setting(
        "onnx",
        "onnx: decoder.onnx, prior.npz and sample_faces.py (numpy + onnxruntime); web: "
        "those and index.html, a page that draws faces in the browser",
        one_of("onnx", "web"),
    )
    model_file: str = MODEL_FILE
    export_dir: str = setting("export", "where the files go (replaced when they are face_vae's)", PATH)
    ort_dir: Optional[str] = setting(
        None,
        "web: onnxruntime-web's dist folder, copied beside the page for use "
        "offline; null: the page loads it from a pinned CDN URL",
    )
    classifier_file: Optional[str] = setting(
        "models/attributes.pt", "web: attribute sliders from this classifier (none when the file is absent, or null)"
    )


@dataclass
class FitPrior(ReadsFaces):
    """Fit the prior of a trained VAE again (e.g. model.prior.components=500, or model/prior=normal for N(0, I))
    without retraining it."""

    defaults: list[Any] = groups("model/prior", "data", "tracking", "storage", "runtime")
    tracking: Any = own(experiment="fit_prior_VAE")
    model_file: str = setting("models/vae.pt", "the VAE whose prior is fitted again (a file or a registered version)")
    output_file: Optional[str] = setting(
        None, "where the model with its new prior is saved; null: beside model_file, named after the prior"
    )
    replace: bool = setting(False, "true: save over model_file itself (a local file) instead of a new file")
    model: Any = group()  # holds model.prior, the group train reads too
    seed: int = SEED


@dataclass
class Serve(Command):
    """Serve a registered version over REST: MLflow's scoring server, behind limits on body size and JSON nesting."""

    defaults: list[Any] = groups("tracking")
    tracking: Any = group()
    model_uri: str = setting("models:/face_vae@champion", "the registered version served (models:/NAME/N or @ALIAS)")
    host: str = setting("127.0.0.1", "the address to listen on (0.0.0.0: every interface of this machine)")
    port: int = setting(5001, "the port to listen on", ((lambda value: 1 <= value <= 65535), "a port from 1 to 65535"))
    workers: int = setting(
        1,
        "processes answering requests, each with its own copy of the model (as `mlflow models serve -w`)",
        ((lambda value: 1 <= value <= 64), "a number of processes from 1 to 64"),
    )
    timeout_s: int = setting(
        60,
        "a request still unanswered after this many seconds gets a 504 (MLflow's own limit, `mlflow models serve -t`)",
        ((lambda value: 1 <= value <= 3600), "a number of seconds from 1 to 3600"),
    )


@dataclass
class Interpolate(ReadsFaces):
    """Walk the latent space between two photos (start=, end=) or two samples: a strip JPG and a GIF."""

    defaults: list[Any] = groups("data", "tracking", "storage", "runtime")
    tracking: Any = own(experiment="interpolate_VAE")
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
    """Encode real photos (input=FOLDER or FILE) and write original | reconstruction JPGs to result/."""

    defaults: list[Any] = groups("data", "tracking", "storage", "runtime")
    tracking: Any = own(experiment="reconstruct_VAE")
    input: Any = setting(None, "a folder of photos, one photo, or a list: input=[a.jpg,b.jpg]")
    model_file: str = MODEL_FILE
    result_dir: str = setting(
        "result", "<photo>_reconstruction.jpg (original | reconstruction) and reconstructions.jpg", PATH
    )
    batch_size: int = BATCH_SIZE


@dataclass
class TrainClassifier(Trains):
    """Train a classifier of CelebA's 40 attributes on the VAE's codes; print its per-attribute scores."""

    defaults: list[Any] = groups("data", "tracking", "storage", "runtime", "trainer")
    # Only `train` registers VAE versions unless asked: a classifier is not a new VAE (set a name to register a
    # version that also steers attributes when served).
    tracking: Any = own(experiment="train_classifier_VAE", registered_model=None)
    split: str = setting(
        "test", "the split the classifier is scored on (the shared sample has no test images: split=val)"
    )
    model_file: str = setting("models/vae.pt", "the VAE whose codes are classified")
    classifier_file: str = setting("models/attributes.pt", "saved beside the VAE: models.dvc versions both")
    seed: int = SEED
    force: bool = FORCE
    classifier: Classifier = setting(Classifier())
    trainer: Any = own(max_epochs=30, log_every_n_steps=5, enable_checkpointing=False, enable_model_summary=False)


COMMANDS: dict[str, type[Command]] = {
    "download": Download,
    "train_classifier": TrainClassifier,
    "fit_prior": FitPrior,
    "evaluate": Evaluate,
    "interpolate": Interpolate,
    "reconstruct": Reconstruct,
    "export": Export,
    "serve": Serve,
    "pull": Pull,
}


def hide_tracking_passwords(cfg: DictConfig) -> None:
    """From here on the config (logged, saved, printed) holds no password: `tracking.uri`'s goes to MLflow's
    variables, `tracking.local_uri`'s is kept in this process (face_vae/credentials.py)."""
    if "tracking" in cfg:
        for key in ("uri", "local_uri"):
            cfg.tracking[key] = credentials.hide_tracking_credentials(cfg.tracking[key], f"tracking.{key}")


add(
    COMMANDS | {"prepare": Prepare, "train": Train, "infer": Infer},  # the core's three, with the keys added here
    runs={name: f"face_vae.stages.{name}" for name in COMMANDS},
    hooks={
        # train: its run folder and locks, the precision for this machine, the progress bar, MLflow, DVC
        "training": [f"face_vae.stages.train_hooks.{name}" for name in
                     ("RunFolder", "Precision", "ProgressBar", "MLflowRun", "DVCVersions")],  # fmt: skip
        # infer: steering along attributes, the precision for this machine, a registered or DVC-tracked model, MLflow
        "inference": [f"face_vae.stages.infer.{name}" for name in ("Steering", "Runtime", "ModelSource", "MLflowLog")],
        "write_pictures": ["face_vae.outputs.write_images"],  # never replaces a file that is not face_vae's
        "before_prepare": ["face_vae.stages.shared.pull_shared_folder"],
        "fetch_data": ["face_vae.stages.shared.pull_missing_data"],
    },
    after_compose=(hide_tracking_passwords,),
)
