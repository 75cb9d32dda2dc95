"""Shared fixtures: a scratch working folder and small, fast config overrides."""

import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# pylint: disable-next=unused-import  # the tests' name for it
from face_vae.data.synthetic import write_celeba_layout as write_fake_celeba  # noqa: F401

# The CelebA sample the tests that need real faces read (they skip without it): FACE_VAE_CELEBA_SAMPLE, or the
# shared folder beside the project.
SHARED_SAMPLE = Path(
    os.environ.get("FACE_VAE_CELEBA_SAMPLE")
    or Path(__file__).resolve().parents[2] / "shared" / "data" / "celeba_sample"
)

# A narrow network and a few synthetic faces: a whole train run takes seconds on a CPU.
FAST_TRAIN = [
    "data=synthetic",
    "data.num_images.train=64",
    "data.num_images.val=32",
    "data.num_images.test=16",
    "data.batch_size=16",
    "model.channels=[8,16,32,64,128]",
    "model.latent_dim=16",
    "trainer.max_epochs=1",
    "trainer.log_every_n_steps=1",
    "trainer.enable_model_summary=false",
]


def subprocess_env(project_root: Path) -> dict[str, str]:
    """The environment for a commands.py subprocess: the project importable, and none of the
    MLFLOW_* variables that MLflow's fluent API sets in this process (experiment id, tracking URI)
    while earlier tests ran in it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    return {**env, "PYTHONPATH": str(project_root)}


@pytest.fixture(autouse=True)
def _no_mlflow_state_from_earlier_tests(monkeypatch: pytest.MonkeyPatch):
    """MLflow's fluent API leaves MLFLOW_EXPERIMENT_ID and MLFLOW_TRACKING_URI in os.environ."""
    for key in [key for key in os.environ if key.startswith("MLFLOW_")]:
        monkeypatch.delenv(key)


@pytest.fixture(autouse=True)
def _library_logs_to_the_process_stderr():
    """Lightning's and MLflow's log handlers keep the stream they were created with, which under
    pytest is one test's capture buffer, closed after it; point them at the process's stderr."""
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):
            if type(handler) is logging.StreamHandler:  # pylint: disable=unidiomatic-typecheck  # not FileHandler
                handler.stream = sys.__stderr__  # not setStream: it flushes the closed one


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test inside an empty folder, as a user would run the commands in the project root."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def image_array(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)
