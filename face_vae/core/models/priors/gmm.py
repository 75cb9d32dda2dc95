"""prior=gmm: a full-covariance Gaussian mixture fitted to the encoder means of the training images."""

import numpy as np
import torch

from face_vae.core.errors import UserError
from face_vae.core.models.priors.base import Prior

MAX_PRIOR_VALUE = 1e6  # codes of a trained encoder lie within tens of 0; far beyond, every decoded face is black


class GaussianMixture(Prior):
    """A full-covariance Gaussian mixture fitted to the encoder means of the training images."""

    NAME = "gaussian_mixture"

    # No defaults: the config (face_vae/core/models/settings.py MixturePrior) is the one place that chooses them.
    def __init__(self, components: int, max_codes: int):
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

        if len(codes) < 2:
            raise UserError(
                f"A Gaussian mixture is fitted to 2 codes or more, and there {'is' if len(codes) == 1 else 'are'} "
                f"{len(codes)}: use a larger train split, or model.prior=normal."
            )
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

    @classmethod
    def from_state(cls, state: dict) -> "GaussianMixture":
        prior = cls(len(state["weights"]), max(1, len(state["weights"])))
        prior.weights, prior.means, prior.cholesky = state["weights"], state["means"], state["cholesky"]
        prior.latent_dim = prior.means.shape[1]
        return prior

    @classmethod
    def state_problem(cls, state: dict, latent_dim: int) -> str | None:
        arrays = {key: state.get(key) for key in ("weights", "means", "cholesky")}
        shapes = {key: tuple(value.shape) for key, value in arrays.items() if isinstance(value, torch.Tensor)}
        components = shapes.get("weights", (0,))[0]
        expected = {"weights": (components,), "means": (components, latent_dim)}
        expected["cholesky"] = (components, latent_dim, latent_dim)
        if len(shapes) < 3 or not components or shapes != expected:
            return f"a prior whose arrays do not fit its {latent_dim}-dimensional codes ({shapes or 'no tensors'})"
        if not all(value.isfinite().all() and value.abs().max() <= MAX_PRIOR_VALUE for value in arrays.values()):
            return "a prior with NaN, infinite or huge values (it would draw black faces)"
        return None

    def describe(self) -> str:
        return f"a {len(self.weights) if self.weights is not None else self.components}-component Gaussian mixture"
