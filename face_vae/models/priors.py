"""The densities latent codes are drawn from: each fits itself to training codes, samples, and saves its state.

A VAE's aggregate posterior rarely fills N(0, I): decoding prior samples from its holes gives the
blurry, odd faces. Sampling from a density fitted to where the training images really land (the
two-stage / RAE idea) avoids them. The model file stores one prior as `to_state()`: plain tensors.
"""

import torch


class StandardNormal:
    """N(0, I): the prior the VAE (and the DCGAN) are trained with; nothing to fit."""

    NAME = "standard_normal"
    needs_codes = False  # train skips encoding the training images for it

    def __init__(self, latent_dim: int = 0):
        self.latent_dim = latent_dim

    def fit(self, codes: torch.Tensor, seed: int = 0) -> "StandardNormal":
        """Nothing to learn but the code size."""
        del seed
        self.latent_dim = codes.shape[1]
        return self

    def sample(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """`count` codes (on the CPU)."""
        return torch.randn(count, self.latent_dim, generator=generator)

    def to_state(self) -> dict:
        """What the model file stores."""
        return {"name": self.NAME, "latent_dim": self.latent_dim}

    @classmethod
    def from_state(cls, state: dict) -> "StandardNormal":
        """The prior `to_state` described."""
        return cls(int(state["latent_dim"]))

    def describe(self) -> str:
        """A few words for messages and logs."""
        return "N(0, I)"


class GaussianMixture(StandardNormal):
    """A full-covariance Gaussian mixture fitted to the encoder means of the training images."""

    NAME = "gaussian_mixture"
    needs_codes = True

    # pylint: disable-next=too-many-arguments  # the settings, then the fitted state from_state restores
    def __init__(self, components: int = 200, max_codes: int = 20_000, weights=None, means=None, cholesky=None):
        super().__init__(0 if means is None else means.shape[1])
        if components < 1 or max_codes < 1:
            raise ValueError(f"a mixture needs at least 1 component and 1 code, not {components} and {max_codes}")
        self.components, self.max_codes = components, max_codes
        self.weights, self.means, self.cholesky = weights, means, cholesky

    def fit(self, codes: torch.Tensor, seed: int = 0) -> "GaussianMixture":
        """Fit the mixture to `codes` (N, latent_dim) with scikit-learn's EM, on at most `max_codes` of them
        drawn at random: EM's cost grows with the codes, and 20,000 codes fill 200 components of 128
        dimensions well (all of CelebA's 162,770 would take many minutes on a CPU for the same density)."""
        from sklearn.mixture import GaussianMixture as SKMixture  # pylint: disable=import-outside-toplevel

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

    def sample(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """`count` codes (on the CPU): a component by its weight, then a draw from its Gaussian."""
        if self.means is None:
            raise ValueError("the mixture has not been fitted")
        component = torch.multinomial(self.weights, count, replacement=True, generator=generator)
        noise = torch.randn(count, self.latent_dim, generator=generator)
        return self.means[component] + (self.cholesky[component] @ noise.unsqueeze(-1)).squeeze(-1)

    def to_state(self) -> dict:
        return {"name": self.NAME, "weights": self.weights, "means": self.means, "cholesky": self.cholesky}

    @classmethod
    def from_state(cls, state: dict) -> "GaussianMixture":
        return cls(len(state["weights"]), weights=state["weights"], means=state["means"], cholesky=state["cholesky"])

    def describe(self) -> str:
        return f"a {len(self.weights) if self.weights is not None else self.components}-component Gaussian mixture"


PRIORS = {prior.NAME: prior for prior in (StandardNormal, GaussianMixture)}


def prior_from_state(state: dict) -> StandardNormal:
    """The prior a model file stores (KeyError for a name this code does not know)."""
    return PRIORS[state["name"]].from_state(state)
