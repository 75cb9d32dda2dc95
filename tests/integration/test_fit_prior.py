"""`fit_prior` fits the prior of a trained VAE again (another mixture, or N(0, I)) and saves it into the model file,
leaving the weights as they were; what it cannot do is one sentence, with nothing changed."""

from pathlib import Path

import pytest
import torch

from face_vae import cli
from face_vae.models.model_file import load_model
from face_vae.models.priors import GaussianMixture, StandardNormal
from tests.conftest import FAST_TRAIN, error_line

NO_TRACKING = ["tracking.enabled=false", "storage.pull=false", "storage.add=false"]
DATA = [word for word in FAST_TRAIN if word.startswith("data")]


@pytest.fixture
def trained(workdir: Path) -> Path:
    cli.run("train", [*FAST_TRAIN, *NO_TRACKING, "data.image_size=32"])
    return workdir / "models" / "vae.pt"


def test_the_prior_is_fitted_again_and_the_weights_are_kept(trained):
    before = load_model(trained)
    cli.run("fit_prior", [*DATA, *NO_TRACKING, "model.prior.components=3"])  # data.image_size comes from the model
    after = load_model(trained)
    assert isinstance(after.prior, GaussianMixture) and len(after.prior.weights) == 3
    assert len(before.prior.weights) != 3
    assert all(torch.equal(before.state_dict()[key], value) for key, value in after.state_dict().items())
    cli.run("infer", [*NO_TRACKING, "n=2"])  # samples from the new prior
    cli.run("fit_prior", [*DATA, *NO_TRACKING, "model/prior=normal"])
    assert isinstance(load_model(trained).prior, StandardNormal)


def test_codes_of_other_data_than_the_model_was_trained_on_are_refused(trained, capsys):
    before = trained.read_bytes()
    line = error_line(capsys, "fit_prior", [*NO_TRACKING, "data=celeba", "data.source_dir=nowhere"])
    assert "models/vae.pt was trained on synthetic faces, and its prior would be fitted to celeba ones" in line
    assert trained.read_bytes() == before


def test_a_registered_version_is_refused_before_any_work(workdir, capsys):
    line = error_line(capsys, "fit_prior", [*NO_TRACKING, "model_file=models:/face_vae/1"])
    assert "fit_prior saves the model file it fits, and models:/face_vae/1 is a registered version" in line
