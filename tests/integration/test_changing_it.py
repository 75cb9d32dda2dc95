"""The README's "Changing it" recipes, each followed as written in a copy of the package: the files it adds or edits
are exactly the ones the recipe names, and the commands then train, reload, draw and export with the change."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import subprocess_env

PROJECT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
OFF = ["tracking.enabled=false"]
TINY_DATA = ["data=synthetic", "data.image_size=16", "data.num_images.train=48", "data.num_images.val=16",
             "data.num_images.test=16", "data.batch_size=16"]  # fmt: skip
TINY_TRAIN = [*TINY_DATA, *OFF, "storage.add=false", "trainer.max_epochs=1", "model.net.channels=[8,16]",
              "model.net.latent_dim=4", "model.prior.components=2"]  # fmt: skip


class Copy:
    """The package and commands.py copied to follow a recipe in, and a working folder to run the commands in."""

    def __init__(self, root: Path):
        self.root = root
        shutil.copytree(PROJECT / "face_vae", root / "face_vae", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(PROJECT / "commands.py", root)
        self.work = root.parent / "work"
        self.work.mkdir()
        self.before = self._files()

    def _files(self) -> dict[str, bytes]:
        package = self.root / "face_vae"
        return {
            path.relative_to(self.root).as_posix(): path.read_bytes()
            for path in package.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        }

    def write(self, path: str, text: str) -> None:
        (self.root / path).parent.mkdir(parents=True, exist_ok=True)
        (self.root / path).write_text(text, encoding="utf-8")

    def edit(self, path: str, old: str, new: str) -> None:
        text = (self.root / path).read_text(encoding="utf-8")
        assert text.count(old) == 1, f"the recipe's place in {path} is not where the README says"
        (self.root / path).write_text(text.replace(old, new), encoding="utf-8")

    def touched(self) -> set[str]:
        after = self._files()
        return {path for path in after if self.before.get(path) != after[path]} | (self.before.keys() - after.keys())

    def run(self, *words: str) -> str:
        done = subprocess.run(
            [sys.executable, str(self.root / "commands.py"), *words],
            cwd=self.work,
            env=subprocess_env(self.root),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stderr

    def model(self) -> dict:
        return torch.load(self.work / "models" / "vae.pt", weights_only=True)


@pytest.fixture
def copy(tmp_path) -> Copy:
    return Copy(tmp_path / "project")


def test_a_model_knob_is_one_field_and_one_argument_and_older_model_files_still_load(copy):
    copy.run("train", *TINY_TRAIN)  # a model file saved before the knob exists
    shutil.copy(copy.work / "models" / "vae.pt", copy.work / "before.pt")
    copy.edit(
        "face_vae/core/models/settings.py",
        """    channels: list[int] = setting(""",
        """    code_noise: float = setting(1.0, "scale of the noise added to the codes in training (0: an autoencoder)")
    channels: list[int] = setting(""",
    )
    network = "face_vae/core/models/nets/resnet.py"
    copy.edit(
        network,
        "chooses them.\n    def __init__(self, image_size: int, channels: Sequence[int], latent_dim: int):",
        "chooses them.\n    def __init__(\n"
        "        self, image_size: int, channels: Sequence[int], latent_dim: int, code_noise: float = 1.0\n    ):",
    )
    copy.edit(
        network,
        "        self.latent_dim = latent_dim\n",
        "        self.latent_dim = latent_dim\n        self.code_noise = code_noise\n",
    )
    copy.edit(network, "torch.randn_like(mean) * torch.exp", "self.code_noise * torch.randn_like(mean) * torch.exp")
    copy.run("train", *TINY_TRAIN, "model.net.code_noise=0.5")
    assert copy.model()["hparams"]["code_noise"] == 0.5
    assert "Wrote 2 faces" in copy.run("infer", "n=2", *OFF, "model_file=before.pt")
    assert copy.touched() == {"face_vae/core/models/settings.py", network}


HELLO_SETTINGS = '''

@dataclass
class Hello(Command):
    """Say the code size of a trained model."""

    model_file: str = MODEL_FILE
'''
HELLO_RUN = '''"""The `hello` command: the code size of a trained model."""

from pathlib import Path

from face_vae.core.models.model_file import load_model


def run(cfg):
    """Load the model and print its code size."""
    print(f"{cfg.model_file} draws codes of {load_model(Path(cfg.model_file)).latent_dim} numbers.")
'''


def test_a_command_is_its_settings_class_and_its_run(copy):
    copy.run("train", *TINY_TRAIN)
    copy.edit(
        "face_vae/stages/settings.py",
        "\n\nCOMMANDS: dict[str, type[Command]] = {",
        HELLO_SETTINGS + "\n\nCOMMANDS: dict[str, type[Command]] = {",
    )
    copy.edit("face_vae/stages/settings.py", '    "pull": Pull,\n', '    "pull": Pull,\n    "hello": Hello,\n')
    copy.write("face_vae/stages/hello.py", HELLO_RUN)
    done = subprocess.run(
        [sys.executable, str(copy.root / "commands.py"), "hello"], cwd=copy.work, env=subprocess_env(copy.root),
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and "models/vae.pt draws codes of 4 numbers." in done.stdout, done.stderr[-2000:]
    assert copy.touched() == {"face_vae/stages/settings.py", "face_vae/stages/hello.py"}


DIAGONAL_PRIOR = '''"""model/prior=diagonal: one Gaussian with a diagonal covariance, fitted to the codes."""

import numpy as np
import torch

from face_vae.core.models.priors import Prior


class DiagonalGaussian(Prior):
    """The codes' mean and standard deviation per dimension."""

    NAME = "diagonal_gaussian"

    def __init__(self, min_std: float):
        super().__init__()
        self.min_std = min_std
        self.mean = self.std = None

    def fit(self, codes: torch.Tensor, seed: int = 0) -> "DiagonalGaussian":
        self.latent_dim = codes.shape[1]
        self.mean, self.std = codes.mean(0), codes.std(0).clamp_min(self.min_std)
        return self

    def arrays(self) -> dict:
        # A one-component mixture: drawn from the shared random stream, so the exports and the page draw it too.
        return {"name": np.array(self.NAME), "latent_dim": np.array(self.latent_dim), "weights": np.ones(1),
                "means": self.mean[None].double().numpy(), "cholesky": torch.diag(self.std)[None].double().numpy()}

    def to_state(self) -> dict:
        return {"name": self.NAME, "mean": self.mean, "std": self.std}

    @classmethod
    def from_state(cls, state: dict) -> "DiagonalGaussian":
        prior = cls(0.0)
        prior.mean, prior.std, prior.latent_dim = state["mean"], state["std"], len(state["mean"])
        return prior

    def describe(self) -> str:
        return "a diagonal Gaussian"
'''


def test_a_prior_is_one_module_and_its_config_and_every_command_draws_from_it(copy):
    copy.write("face_vae/core/models/priors/diagonal.py", DIAGONAL_PRIOR)
    copy.write(
        "face_vae/configs/model/prior/diagonal.yaml",
        "_target_: face_vae.core.models.priors.diagonal.DiagonalGaussian\nmin_std: 0.01\n",
    )
    train = [word for word in TINY_TRAIN if not word.startswith("model.prior.")]
    copy.run("train", *train, "model/prior=diagonal")
    saved = copy.model()["prior"]
    assert saved["name"] == "diagonal_gaussian" and saved["std"].shape == (4,)
    assert "Wrote 3 faces" in copy.run("infer", "n=3", *OFF)
    copy.run("export", *OFF)
    assert (copy.work / "export" / "decoder.onnx").is_file()
    copy.run("fit_prior", *TINY_DATA, *OFF, "model/prior=normal", "replace=true")
    copy.run("fit_prior", *TINY_DATA, *OFF, "model/prior=diagonal", "model.prior.min_std=0.5", "replace=true")
    assert float(copy.model()["prior"]["std"].min()) >= 0.5, "fit_prior reads the same group as train"
    assert copy.touched() == {"face_vae/core/models/priors/diagonal.py", "face_vae/configs/model/prior/diagonal.yaml"}


TINY_NETWORK = '''"""model/net=tiny: a fully connected VAE, small enough for 16 px faces."""

import torch
from torch import nn

from face_vae.core.models.nets import register


@register("tiny")
class TinyVAE(nn.Module):
    """Pixels -> hidden -> (mean, log_var); code -> hidden -> pixels."""

    def __init__(self, image_size: int, latent_dim: int, hidden: int):
        super().__init__()
        self.image_size, self.latent_dim = image_size, latent_dim
        pixels = 3 * image_size * image_size
        self.encoder = nn.Sequential(
            nn.Flatten(), nn.Linear(pixels, hidden), nn.SiLU(), nn.Linear(hidden, 2 * latent_dim)
        )
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.SiLU(), nn.Linear(hidden, pixels), nn.Sigmoid())

    def forward(self, images):
        mean, log_var = self.encoder(images).chunk(2, dim=1)
        codes = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
        return self.decoder(codes).view(-1, 3, self.image_size, self.image_size), mean, log_var

    @torch.inference_mode()
    def encode(self, images):
        weight = next(self.parameters())
        return self.encoder(images.to(weight.device, weight.dtype)).chunk(2, dim=1)[0].float()

    @torch.inference_mode()
    def decode(self, codes):
        weight = next(self.parameters())
        images = self.decoder(codes.to(weight.device, weight.dtype))
        return images.view(-1, 3, self.image_size, self.image_size).float()
'''


def test_a_network_is_one_module_and_its_config_and_trains_reloads_draws_and_exports(copy):
    copy.write("face_vae/core/models/nets/tiny.py", TINY_NETWORK)
    copy.write(
        "face_vae/configs/model/net/tiny.yaml",
        "_target_: face_vae.core.models.nets.tiny.TinyVAE\nimage_size: ${data.image_size}\nlatent_dim: 6\nhidden: 32\n",
    )
    train = [word for word in TINY_TRAIN if not word.startswith("model.net.")]
    copy.run("train", *train, "model/net=tiny")
    saved = copy.model()
    assert saved["network"] == "tiny" and saved["hparams"] == {"image_size": 16, "latent_dim": 6, "hidden": 32}
    assert "Wrote 3 faces of 16x16" in copy.run("infer", "n=3", *OFF)  # a new process: the network found by name
    assert len(list((copy.work / "result").glob("face_*.jpg"))) == 3
    copy.run("evaluate", *TINY_DATA, *OFF, "split=val", "fid_sizes=[16]")
    copy.run("export", *OFF)
    assert (copy.work / "export" / "decoder.onnx").is_file()
    assert copy.touched() == {"face_vae/core/models/nets/tiny.py", "face_vae/configs/model/net/tiny.yaml"}


STRIPES_SOURCE = '''"""data=stripes: coloured stripes drawn from a seed."""

from dataclasses import dataclass

import numpy as np

from face_vae.core.data.preparation import write_arrays
from face_vae.core.data.sources import Source


@dataclass
class StripesSource(Source):
    """`count` images per split of stripes in random colours."""

    KIND = "stripes"
    image_size: int
    count: int

    @classmethod
    def from_settings(cls, data):
        return cls(data["image_size"], data["count"])

    def recipe(self):
        return {"kind": self.KIND, "image_size": self.image_size, "count": self.count}

    def write(self, prepared_dir):
        counts = {}
        for seed, split in enumerate(("train", "val", "test")):
            colours = np.random.default_rng(seed).integers(0, 256, (self.count, 1, 1, 3), dtype=np.uint8)
            rows = (np.arange(self.image_size) // 2 % 2).astype(np.uint8)[None, :, None, None]
            shape = (self.count, self.image_size, self.image_size, 3)
            images = np.ascontiguousarray(np.broadcast_to(colours * rows, shape))
            counts[split] = write_arrays(prepared_dir, split, [f"{split}_{i}" for i in range(self.count)], images)
        return counts
'''


def test_a_dataset_is_one_module_and_its_config_and_touches_no_command(copy):
    copy.write("face_vae/core/data/sources/stripes.py", STRIPES_SOURCE)
    copy.write("face_vae/configs/data/stripes.yaml", "defaults:\n  - base\n  - _self_\nkind: stripes\ncount: 40\n")
    data = ["data=stripes", "data.image_size=16", "data.batch_size=8"]
    train = [word for word in TINY_TRAIN if not word.startswith("data")]
    log = copy.run("train", *train, *data)
    assert "Prepared 40 train, 40 val, 40 test" in log
    assert copy.model()["trained_on"] == "stripes"
    copy.run("infer", "n=2", *OFF)
    copy.run("reconstruct", *OFF, "input=result")  # photos cropped and resized as the model's data
    assert copy.touched() == {"face_vae/core/data/sources/stripes.py", "face_vae/configs/data/stripes.yaml"}
