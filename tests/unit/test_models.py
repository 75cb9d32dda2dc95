"""The networks on their own: shapes, the loss, the priors, and the model file (old files included)."""

import logging
import random
from functools import partial

import numpy as np
import pytest
import torch
from torch import nn

from face_vae.core.config import compose
from face_vae.core.errors import UserError
from face_vae.core.models.model_file import load_model, save_model
from face_vae.core.models.nets.resnet import VAE
from face_vae.core.models.priors import GaussianMixture, StandardNormal
from face_vae.core.models.vae_module import VAEModule, calibrated_sigma, kl_divergence, reconstruction_nll
from face_vae.data.synthetic import make_faces
from face_vae.evaluation.metrics import fid, kid, nyquist_share

SMALL = {"channels": [8, 16, 32, 64, 128], "latent_dim": 8}
MODULE = {
    "optimizer": partial(torch.optim.Adam, lr=0.001),
    "likelihood": "calibrated",
    "sigma": 0.1,
    "kl_warmup_steps": 0,
}


@pytest.mark.parametrize("size, feature_size", [(64, 2), (150, 5)])
def test_the_vae_draws_the_exact_image_size_by_upsampling_not_transposed_convolutions(size, feature_size):
    vae = VAE(size, [8, 16, 32, 64, 128], 12)
    assert vae.decoder.start_shape == (128, feature_size, feature_size)
    reconstructions, mean, log_var = vae(torch.rand(3, 3, size, size))
    assert reconstructions.shape == (3, 3, size, size) and mean.shape == log_var.shape == (3, 12)
    assert 0 <= reconstructions.min() and reconstructions.max() <= 1
    assert vae.sample(5).shape == (5, 3, size, size)
    assert not any(isinstance(layer, nn.ConvTranspose2d) for layer in vae.decoder.modules())


def test_the_vae_decodes_a_face_alone_as_in_a_batch_in_training_and_in_eval_mode():
    vae = VAE(64, **SMALL)
    latents = torch.randn(5, 8)
    for mode in (True, False):
        vae.train(mode)
        with torch.no_grad():
            assert torch.allclose(vae.decoder(latents[:1]), vae.decoder(latents)[:1], atol=1e-5)


def test_the_vae_refuses_an_image_size_its_layers_cannot_shrink():
    # The model says what is wrong with its own arguments; the config check says it in the user's keys.
    with pytest.raises(ValueError, match="image_size 16 is too small for 5 stride-2 layers"):
        VAE(16, **SMALL)
    with pytest.raises(UserError, match="data.image_size=16 is too small for 5 stride-2 layers"):
        compose("train", ["data.image_size=16"])


def test_kl_is_zero_exactly_at_the_prior_and_positive_elsewhere():
    zeros = torch.zeros(2, 4)
    assert torch.allclose(kl_divergence(zeros, zeros), torch.zeros(2))
    assert (kl_divergence(torch.ones(2, 4), zeros) > 0).all()


def test_reconstruction_nll_sums_squared_error_over_pixels_per_image():
    images = torch.zeros(2, 3, 4, 4)
    nll = reconstruction_nll(images, torch.full_like(images, 0.1), sigma=0.1)
    assert torch.allclose(nll, torch.full((2,), 48 * 0.01 / (2 * 0.01)))


def test_calibrated_sigma_is_the_rmse_of_the_batch():
    images = torch.zeros(2, 3, 4, 4)
    assert calibrated_sigma(images, torch.full_like(images, 0.2)).item() == pytest.approx(0.2)


def test_the_module_refuses_a_likelihood_it_does_not_know():
    with pytest.raises(ValueError, match="likelihood must be calibrated or fixed, not 'laplace'"):
        VAEModule(VAE(64, **SMALL), **(MODULE | {"likelihood": "laplace"}))


def test_the_module_loss_falls_on_a_fixed_batch():
    torch.manual_seed(0)
    module = VAEModule(VAE(64, **SMALL), **MODULE)
    optimizer = module.configure_optimizers()
    images = torch.from_numpy(make_faces(8, 64, seed=0)).permute(0, 3, 1, 2).float() / 255
    losses = []
    for _ in range(30):
        loss = module._elbo(images, 1.0)[0]  # pylint: disable=protected-access
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.2 * abs(losses[0])


def test_a_mixture_samples_where_the_codes_are_and_repeats_with_the_seed():
    codes = torch.cat([torch.randn(200, 4) * 0.1 + 5, torch.randn(200, 4) * 0.1 - 5])
    prior = GaussianMixture(components=2, max_codes=20_000).fit(codes)
    samples = prior.sample(100, seed=1)
    assert ((samples.abs() - 5).abs() < 1).all(), "every sample sits in one of the two clusters"
    assert (samples[:, 0] > 0).sum().item() in range(30, 71), "both clusters drawn, about as often as weighted"
    assert torch.equal(samples, prior.sample(100, seed=1)) and not torch.equal(samples, prior.sample(100, seed=2))
    assert torch.equal(samples[40:60], prior.sample(20, seed=1, first=40)), "code i depends on the seed and i only"
    assert GaussianMixture(components=50, max_codes=20_000).fit(codes[:10]).means.shape == (
        10,
        4,
    ), "no more components than codes"


def test_the_standard_normal_needs_no_codes_and_draws_the_code_size():
    prior = StandardNormal(6)
    assert not prior.needs_codes and GaussianMixture.needs_codes
    assert prior.sample(3).shape == (3, 6)


@pytest.mark.parametrize("prior", [StandardNormal(4), GaussianMixture(3, max_codes=20_000).fit(torch.randn(50, 4))])
def test_the_prior_travels_in_the_model_file(tmp_path, prior):
    vae = VAE(64, [8, 16, 32, 64, 128], 4).eval()
    vae.prior = prior
    save_model(vae, tmp_path / "vae.pt")
    loaded = load_model(tmp_path / "vae.pt")
    assert type(loaded.prior) is type(prior)
    assert torch.equal(loaded.prior.sample(3, seed=5), prior.sample(3, seed=5))
    assert torch.equal(loaded.decoder.project.weight, vae.decoder.project.weight)


def _first_format_file(tmp_path, architecture: str, flow: dict | None = None):
    """A VAE file in the first format, as models.dvc holds it."""
    vae = VAE(64, [8, 16, 32, 64, 128], 4)
    density = GaussianMixture(2, max_codes=20_000).fit(torch.randn(20, 4)).to_state()
    del density["name"]
    saved = {"format": "face_vae.VAE/1", "hparams": vae.config | {"architecture": architecture},
             "state_dict": vae.state_dict(), "latent_density": density, "latent_flow": flow}  # fmt: skip
    torch.save(saved, tmp_path / "old.pt")
    return tmp_path / "old.pt"


def test_a_resnet_file_of_the_first_format_loads_with_its_mixture(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        loaded = load_model(_first_format_file(tmp_path, "resnet", flow={"layers": 6}))
    assert isinstance(loaded.prior, GaussianMixture) and len(loaded.prior.weights) == 2
    assert (
        "also holds a latent flow, which face_vae no longer samples: drawing from its Gaussian mixture" in caplog.text
    )


def test_a_conv_decoder_file_is_refused_in_one_sentence(tmp_path):
    with pytest.raises(UserError, match="no longer builds \\(the `conv` decoder\\): train a new model"):
        load_model(_first_format_file(tmp_path, "conv"))


def test_a_dcgan_file_is_refused_in_one_sentence(tmp_path):
    torch.save({"format": "face_vae.DCGAN/1", "hparams": {}, "state_dict": {}}, tmp_path / "dcgan.pt")
    with pytest.raises(UserError, match="holds a face_vae.DCGAN/1 file, not a VAE"):
        load_model(tmp_path / "dcgan.pt")


def test_the_model_file_names_its_network_and_the_arguments_it_was_built_with(tmp_path):
    save_model(VAE(32, [8, 16], 4), tmp_path / "vae.pt")
    saved = torch.load(tmp_path / "vae.pt", weights_only=True)
    assert saved["network"] == "resnet" and saved["hparams"] == {"image_size": 32, "channels": [8, 16], "latent_dim": 4}


def test_a_file_of_a_network_that_is_not_here_is_refused_by_its_name(tmp_path):
    save_model(VAE(32, [8, 16], 4), tmp_path / "vae.pt")
    saved = torch.load(tmp_path / "vae.pt", weights_only=True) | {"network": "someone_elses"}
    torch.save(saved, tmp_path / "vae.pt")
    with pytest.raises(UserError, match="There is no network named 'someone_elses' \\(known: resnet"):
        load_model(tmp_path / "vae.pt")


def test_loading_a_missing_or_damaged_model_says_what_to_do(tmp_path):
    with pytest.raises(UserError, match="There is no model at"):
        load_model(tmp_path / "none.pt")
    (tmp_path / "bad.pt").write_text("not a model")
    with pytest.raises(UserError, match="not a model file saved by face_vae"):
        load_model(tmp_path / "bad.pt")


def test_fid_and_kid_are_near_zero_for_one_distribution_and_grow_with_a_shift():
    rng = np.random.default_rng(0)
    real, same = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    shifted = rng.normal(size=(400, 8)) + 1.0
    assert fid(real, real) == pytest.approx(0, abs=1e-6)
    assert fid(real, same) < 0.5 < 7 < fid(real, shifted)
    assert abs(kid(real, same)) < 0.05 < kid(real, shifted)


def test_nyquist_share_finds_stripes_and_checkerboards_but_not_smooth_faces():
    rows = torch.arange(64.0).view(1, 1, 64, 1)
    smooth = (0.5 + 0.4 * torch.sin(rows / 10)).expand(2, 3, 64, 64)
    striped = smooth + 0.05 * (rows % 2)  # every other row a little brighter
    checkered = smooth + 0.05 * ((rows + torch.arange(64.0).view(1, 1, 1, 64)) % 2)
    assert nyquist_share(smooth) < 1e-3
    assert nyquist_share(striped) > 10 * nyquist_share(smooth) + 1e-3
    assert nyquist_share(checkered) > 10 * nyquist_share(smooth) + 1e-3
    assert nyquist_share(torch.rand(2, 3, 64, 64)) == pytest.approx(127 / 4096, rel=0.2), "white noise: its share"


def test_a_checkpoint_saved_on_more_gpus_than_there_are_restores_the_ones_there(monkeypatch):
    module = VAEModule(VAE(64, **SMALL), **MODULE)
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device: restored.append(device))
    states = {"torch": torch.get_rng_state(), "python": random.getstate(), "cuda": ["s0", "s1", "s2"]}
    module.on_load_checkpoint({"rng_states": states})
    assert restored == [0], "one GPU here: its state only, not a failure on the other two"
