"""The VAE on its own: shapes at the sizes we support, training signal, saving and loading."""

import pytest
import torch

from face_vae.config import compose
from face_vae.data.synthetic import make_faces
from face_vae.errors import UserError
from face_vae.models.model_file import load_model, save_model
from face_vae.models.vae import VAE
from face_vae.models.vae_module import kl_divergence, reconstruction_nll


@pytest.mark.parametrize("size", [64, 150])
def test_vae_maps_images_to_latents_and_back_at_the_same_size(size):
    vae = VAE(image_size=size, channels=[8, 16, 32, 64, 128], latent_dim=12, architecture="conv")
    images = torch.rand(3, 3, size, size)
    reconstructions, mean, log_var = vae(images)
    assert reconstructions.shape == images.shape
    assert mean.shape == log_var.shape == (3, 12)
    assert vae.sample(5).shape == (5, 3, size, size)
    assert 0 <= reconstructions.min() and reconstructions.max() <= 1


def test_vae_refuses_an_image_size_its_layers_cannot_shrink():
    # The model says what is wrong with its own arguments; the config check says it in the user's keys.
    with pytest.raises(ValueError, match="image_size 16 is too small for 5 stride-2 layers"):
        VAE(image_size=16, channels=[8, 16, 32, 64, 128], latent_dim=12, architecture="conv")
    with pytest.raises(UserError, match="data.image_size=16 is too small for 5 stride-2 layers"):
        compose("train", ["data.image_size=16"])


def test_kl_is_zero_exactly_at_the_prior_and_positive_elsewhere():
    zeros = torch.zeros(2, 4)
    assert torch.allclose(kl_divergence(zeros, zeros), torch.zeros(2))
    assert (kl_divergence(torch.ones(2, 4), zeros) > 0).all()


def test_reconstruction_nll_sums_squared_error_over_pixels_per_image():
    images = torch.zeros(2, 3, 4, 4)
    reconstructions = torch.full_like(images, 0.1)
    nll = reconstruction_nll(images, reconstructions, sigma=0.1)
    assert torch.allclose(nll, torch.full((2,), 48 * 0.01 / (2 * 0.01)))


def test_loss_decreases_on_a_fixed_batch():
    torch.manual_seed(0)
    vae = VAE(image_size=64, channels=[8, 16, 32, 64, 128], latent_dim=16, architecture="conv")
    optimizer = torch.optim.Adam(vae.parameters(), lr=1e-3)
    images = torch.from_numpy(make_faces(8, 64, seed=0)).permute(0, 3, 1, 2).float() / 255
    losses = []
    for _ in range(30):
        reconstructions, mean, log_var = vae(images)
        loss = (reconstruction_nll(images, reconstructions, 0.1) + kl_divergence(mean, log_var)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_saved_model_loads_on_cpu_with_the_same_weights_and_architecture(tmp_path):
    vae = VAE(image_size=64, channels=[8, 16, 32, 64, 128], latent_dim=10, architecture="conv").eval()
    save_model(vae, tmp_path / "vae.pt")
    loaded = load_model(tmp_path / "vae.pt")
    latents = torch.randn(2, 10)
    assert loaded.hparams == vae.hparams
    with torch.inference_mode():
        assert torch.equal(loaded.decoder(latents), vae.decoder(latents))
    assert not list(tmp_path.glob(".*tmp*")), "no temporary file is left behind"


def test_loading_a_missing_or_damaged_model_says_what_to_do(tmp_path):
    with pytest.raises(UserError, match="There is no model"):
        load_model(tmp_path / "nothing.pt")
    (tmp_path / "broken.pt").write_bytes(b"not a model")
    with pytest.raises(UserError, match="is not a model file saved by face_vae \\(it is not a torch archive\\)"):
        load_model(tmp_path / "broken.pt")


def test_a_model_file_from_before_the_architecture_argument_loads_as_the_conv_model(tmp_path):
    vae = VAE(image_size=64, channels=[8, 16, 32, 64, 128], latent_dim=10, architecture="conv")
    save_model(vae, tmp_path / "vae.pt")
    saved = torch.load(tmp_path / "vae.pt", weights_only=True)
    del saved["hparams"]["architecture"]  # what files written before 2026-11-25 hold
    torch.save(saved, tmp_path / "old.pt")
    assert load_model(tmp_path / "old.pt").hparams["architecture"] == "conv"
