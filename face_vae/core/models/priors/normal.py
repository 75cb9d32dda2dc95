"""prior=normal: N(0, I), the prior the VAE is trained with."""

import numpy as np
import torch

from face_vae.core.models.priors.base import Prior


class StandardNormal(Prior):
    """N(0, I): nothing to fit but the code size."""

    NAME = "standard_normal"
    needs_codes = False

    def __init__(self, latent_dim: int = 0):
        super().__init__()
        self.latent_dim = latent_dim  # 0 until fitted: the config does not know the network's code size

    def fit(self, codes: torch.Tensor, seed: int = 0) -> "StandardNormal":
        del seed
        self.latent_dim = codes.shape[1]
        return self

    def arrays(self) -> dict[str, np.ndarray]:
        return {"name": np.array(self.NAME), "latent_dim": np.array(self.latent_dim)}

    def to_state(self) -> dict:
        return {"name": self.NAME, "latent_dim": self.latent_dim}

    @classmethod
    def from_state(cls, state: dict) -> "StandardNormal":
        return cls(int(state["latent_dim"]))

    def describe(self) -> str:
        return "N(0, I)"
