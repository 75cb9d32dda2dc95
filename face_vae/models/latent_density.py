"""Ex-post density sampling: a Gaussian mixture fitted to the encoder means of the training images.

A VAE's aggregate posterior rarely fills N(0, I): decoding prior samples from its holes gives the
blurry, odd faces. Sampling from a density fitted to where the training images really land (the
two-stage / RAE idea) avoids them. The mixture is stored in the model file as plain tensors.
"""

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from face_vae.data.face_crops import FaceCrops, as_floats, batched


@torch.inference_mode()
def encoder_means(
    encoder: nn.Module, images: FaceCrops, batch_size: int = 128, desc: str = "encode train"
) -> torch.Tensor:
    """The encoder's mean code of every image of `images`, as (N, latent_dim)."""
    encoder.eval()
    weight = next(encoder.parameters())
    means = []
    for batch in tqdm(DataLoader(images, batch_size=batch_size, collate_fn=batched), desc=desc):
        means.append(encoder(as_floats(batch.to(weight.device)).to(weight.dtype))[0].float().cpu())
    return torch.cat(means)


def fit_gmm(means: torch.Tensor, components: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Fit a full-covariance Gaussian mixture to latent codes; return its weights, means and Cholesky factors."""
    from sklearn.mixture import GaussianMixture  # pylint: disable=import-outside-toplevel  # only after training

    # A tiny training set (a smoke run) cannot support more components than it has codes.
    mixture = GaussianMixture(min(components, len(means)), covariance_type="full", reg_covar=1e-4, random_state=seed)
    mixture.fit(means.double().numpy())
    return {
        "weights": torch.from_numpy(mixture.weights_).float(),
        "means": torch.from_numpy(mixture.means_).float(),
        "cholesky": torch.linalg.cholesky(torch.from_numpy(mixture.covariances_)).float(),
    }


def sample_gmm(density: dict[str, torch.Tensor], count: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """`count` latent codes drawn from the stored mixture."""
    component = torch.multinomial(density["weights"], count, replacement=True, generator=generator)
    noise = torch.randn(count, density["means"].shape[1], generator=generator)
    return density["means"][component] + (density["cholesky"][component] @ noise.unsqueeze(-1)).squeeze(-1)
