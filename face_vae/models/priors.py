"""The densities latent codes are drawn from, behind one small interface: `fit` to training codes, `arrays`
(a Gaussian mixture's weights, means and Cholesky factors, or N(0, I)), `describe`. Drawing is shared: `sample`
reads the random stream of serving/sample_faces.py, so infer, the served model, the ONNX export and the web page
draw the same codes for a seed.

A VAE's aggregate posterior rarely fills N(0, I): decoding prior samples from its holes gives the blurry, odd
faces. Sampling from a density fitted to where the training images really land (the two-stage / RAE idea) avoids
them. A new prior is one class whose `fit` sets `weights`, `means` and `cholesky` (see GaussianMixture), and its
config; the model file stores those tensors, so loading needs no list of priors.
"""

import numpy as np
import torch

from face_vae.serving.sample_faces import face_latents


class StandardNormal:
    """N(0, I): the prior the VAE is trained with; nothing to fit."""

    NAME = "standard_normal"
    needs_codes = False  # train skips encoding the training images for it

    def __init__(self, latent_dim: int = 0):
        self.latent_dim = latent_dim

    def fit(self, codes: torch.Tensor, seed: int = 0) -> "StandardNormal":
        """Nothing to learn but the code size."""
        del seed
        self.latent_dim = codes.shape[1]
        return self

    def arrays(self) -> dict[str, np.ndarray]:
        """What the shared sampler and the export read."""
        return {"name": np.array(self.NAME), "latent_dim": np.array(self.latent_dim)}

    def sample(self, count: int, seed: int = 0, first: int = 0) -> torch.Tensor:
        """Codes `first` ... `first+count-1` of `seed` (float32, on the CPU): code i depends on seed and i only."""
        return torch.from_numpy(face_latents(self.arrays(), seed, first, count))

    def to_state(self) -> dict:
        """What the model file stores."""
        return {"name": self.NAME, "latent_dim": self.latent_dim}

    def describe(self) -> str:
        """A few words for messages and logs."""
        return "N(0, I)"


class GaussianMixture(StandardNormal):
    """A full-covariance Gaussian mixture fitted to the encoder means of the training images."""

    NAME = "gaussian_mixture"
    needs_codes = True

    def __init__(self, components: int = 200, max_codes: int = 20_000):
        super().__init__()
        if components < 1 or max_codes < 1:
            raise ValueError(f"a mixture needs at least 1 component and 1 code, not {components} and {max_codes}")
        self.components, self.max_codes = components, max_codes
        self.weights = self.means = self.cholesky = None

    def fit(self, codes: torch.Tensor, seed: int = 0) -> "GaussianMixture":
        """Fit the mixture to `codes` (N, latent_dim) with scikit-learn's EM, on at most `max_codes` of them
        drawn at random: EM's cost grows with the codes, and 20,000 codes fill 200 components of 128
        dimensions well (all of CelebA's 162,770 would take many minutes on a CPU for the same density)."""
        from sklearn.mixture import GaussianMixture as SKMixture

        if len(codes) > self.max_codes:
            codes = codes[torch.randperm(len(codes), generator=torch.Generator().manual_seed(seed))[: self.max_codes]]
        # A tiny training set (a smoke run) cannot support more components than it has codes.
        mixture = SKMixture(min(self.components, len(codes)), covariance_type="full", reg_covar=1e-4, random_state=seed)
        mixture.fit(codes.double().cpu().numpy())
        self.latent_dim = codes.shape[1]
        self.weights = torch.from_numpy(mixture.weights_).float()
        self.means = torch.from_numpy(mixture.means_).float()
        self.cholesky = torch.linalg.cholesky(torch.from_numpy(mixture.covariances_)).float()
        return self

    def arrays(self) -> dict[str, np.ndarray]:
        if self.means is None:
            raise ValueError("the mixture has not been fitted")
        fitted = {key: getattr(self, key).double().numpy() for key in ("weights", "means", "cholesky")}
        return {"name": np.array(self.NAME), "latent_dim": np.array(self.latent_dim)} | fitted

    def to_state(self) -> dict:
        return {"name": self.NAME, "weights": self.weights, "means": self.means, "cholesky": self.cholesky}

    def describe(self) -> str:
        return f"a {len(self.weights) if self.weights is not None else self.components}-component Gaussian mixture"


def prior_from_state(state: dict) -> StandardNormal:
    """The prior a model file stores: N(0, I), or the mixture any fitted prior is drawn from."""
    if state.get("name") == StandardNormal.NAME:
        return StandardNormal(int(state["latent_dim"]))
    prior = GaussianMixture(len(state["weights"]))
    prior.weights, prior.means, prior.cholesky = state["weights"], state["means"], state["cholesky"]
    prior.latent_dim = prior.means.shape[1]
    return prior
