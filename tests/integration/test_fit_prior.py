"""`fit_prior` fits the prior of a trained VAE again (another mixture, or N(0, I)) and saves it into a new model file
(or over the old one when asked), the weights as they were, so that the attribute classifier still reads its codes; with
tracking on it is a new registered version. What it cannot do is one sentence, with nothing changed."""

from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from face_vae import cli
from face_vae.core.models.model_file import load_model
from face_vae.core.models.priors import GaussianMixture, StandardNormal
from tests.conftest import FAST_TRAIN, error_line

NO_TRACKING = ["tracking.enabled=false", "storage.pull=false", "storage.add=false"]
DATA = [word for word in FAST_TRAIN if word.startswith("data")]


@pytest.fixture
def trained(workdir: Path) -> Path:
    cli.run("train", [*FAST_TRAIN, *NO_TRACKING, "data.image_size=32"])
    return workdir / "models" / "vae.pt"


def test_the_prior_is_fitted_again_and_the_weights_are_kept(trained):
    before, old_bytes = load_model(trained), trained.read_bytes()
    cli.run("fit_prior", [*DATA, *NO_TRACKING, "model.prior.components=3"])  # data.image_size comes from the model
    refitted = trained.parent / "vae_gaussian_mixture.pt"
    assert trained.read_bytes() == old_bytes, "a new file: the model it read is left as it was"
    after = load_model(refitted)
    assert isinstance(after.prior, GaussianMixture) and len(after.prior.weights) == 3
    assert len(before.prior.weights) != 3
    assert all(torch.equal(before.state_dict()[key], value) for key, value in after.state_dict().items())
    cli.run("infer", [*NO_TRACKING, "n=2", f"model_file={refitted}"])  # samples from the new prior
    cli.run("fit_prior", [*DATA, *NO_TRACKING, "model/prior=normal", "replace=true"])
    assert isinstance(load_model(trained).prior, StandardNormal), "replace=true: saved over model_file"


def test_the_attribute_classifier_stays_valid_for_the_refitted_model(workdir, capsys):
    words = [*FAST_TRAIN, *NO_TRACKING]
    cli.run("train", words)
    cli.run("train_classifier", [*DATA, *NO_TRACKING, "split=val", "trainer.max_epochs=1"])
    cli.run("fit_prior", [*DATA, *NO_TRACKING, "model.prior.components=2", "replace=true"])
    cli.run("infer", [*NO_TRACKING, "n=2", "attributes={Pale_Skin: 1}"])  # same weights: the same codes
    assert len(list((workdir / "result").glob("face_*.jpg"))) == 2
    capsys.readouterr()


def test_a_refit_is_logged_and_registered_as_a_new_version(workdir):
    cli.run("train", FAST_TRAIN)
    cli.run("fit_prior", [*DATA, "model.prior.components=2", "model_file=models:/face_vae/1"])
    assert (workdir / "models" / "model_gaussian_mixture.pt").is_file()
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")  # absolute: MLflow caches stores by URI
    versions = {version.version: version for version in client.search_model_versions("name='face_vae'")}
    assert sorted(versions) == [1, 2] and versions[2].tags["trained_on"] == "synthetic"
    (run,) = client.search_runs([client.get_experiment_by_name("fit_prior_VAE").experiment_id])
    assert run.data.params["model_version"] == "models:/face_vae/1"


def test_codes_of_other_data_than_the_model_was_trained_on_are_refused(trained, capsys):
    before = trained.read_bytes()
    line = error_line(capsys, "fit_prior", [*NO_TRACKING, "data=celeba", "data.source_dir=nowhere"])
    assert "models/vae.pt was trained on synthetic faces, and its prior would be fitted to celeba ones" in line
    assert trained.read_bytes() == before


def test_replacing_a_registered_version_or_naming_two_outputs_is_refused_before_any_work(workdir, capsys):
    line = error_line(capsys, "fit_prior", [*NO_TRACKING, "model_file=models:/face_vae/1", "replace=true"])
    assert "replace=true saves over model_file, and models:/face_vae/1 is a registered version" in line
    line = error_line(capsys, "fit_prior", [*NO_TRACKING, "output_file=models/a.pt", "replace=true"])
    assert "give one of them" in line
    assert not any(workdir.iterdir())
