"""The prior inside a model file is checked when the file is read: a NaN, huge, changed or misshapen mixture is one
sentence, never black faces or a matrix-shape traceback."""

import pytest
import torch

from face_vae.core.errors import UserError
from face_vae.core.models.model_file import load_model, save_model
from face_vae.core.models.nets.resnet import VAE
from face_vae.core.models.priors import GaussianMixture

LATENT = 4


@pytest.fixture
def model_file(tmp_path):
    network = VAE(32, [8, 16], LATENT)
    network.prior = GaussianMixture(3, max_codes=20_000).fit(torch.randn(50, LATENT))
    path = tmp_path / "vae.pt"
    save_model(network, path)
    return path


def _edited(path, edit, keep_checksum=False):
    saved = torch.load(path, weights_only=True)
    edit(saved["prior"])
    if not keep_checksum:
        saved.pop("prior_checksum")  # a file made by hand, or written before the checksum was recorded
    torch.save(saved, path)
    return path


def test_a_saved_prior_loads_as_it_was(model_file):
    prior = load_model(model_file).prior
    assert isinstance(prior, GaussianMixture) and prior.means.shape == (3, LATENT)


@pytest.mark.parametrize(
    "edit, said",
    [
        (lambda prior: prior["means"].fill_(float("nan")), "NaN, infinite or huge values"),
        (lambda prior: prior["cholesky"].mul_(1e30), "NaN, infinite or huge values"),
        (lambda prior: prior.update(means=torch.zeros(3, LATENT + 1)), "do not fit its 4-dimensional codes"),
        (lambda prior: prior.update(weights=[0.5, 0.5]), "do not fit its 4-dimensional codes"),
    ],
    ids=["NaN", "1e30", "wrong dimension", "lists"],
)
def test_a_broken_prior_is_one_sentence(model_file, edit, said):
    with pytest.raises(UserError, match=said):
        load_model(_edited(model_file, edit))


def test_a_prior_changed_after_saving_is_refused(model_file):
    with pytest.raises(UserError, match="its prior does not match the checksum it records"):
        load_model(_edited(model_file, lambda prior: prior["means"].add_(0.5), keep_checksum=True))


@pytest.mark.parametrize(
    "content",
    [torch.ones(3), {"format": "face_vae.VAE/2", "hparams": {"image_size": 32, "channels": [], "latent_dim": 4},
                     "state_dict": {}}],
    ids=["a bare tensor", "empty channels"],
)  # fmt: skip
def test_a_hand_made_model_file_is_one_sentence(tmp_path, content):
    torch.save(content, tmp_path / "vae.pt")
    with pytest.raises(UserError, match="is not a model saved by face_vae train, or is damaged"):
        load_model(tmp_path / "vae.pt")
