"""The `Prior` interface and the registry of priors by name (priors/__init__.py says how to add one)."""

import numpy as np
import torch

from face_vae.core.by_name import registered
from face_vae.core.models.face_vae_stream import face_latents

PRIORS: dict[str, type["Prior"]] = {}


class Prior:
    """A density over latent codes: fitted to codes, drawn from the shared random stream, saved by name."""

    NAME = ""  # what the model file records; a subclass with its own NAME is registered under it
    needs_codes = True  # False: train and fit_prior skip encoding the training images

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.NAME:
            PRIORS[cls.NAME] = cls

    def __init__(self) -> None:
        self.latent_dim = 0

    def fit(self, codes: torch.Tensor, seed: int = 0) -> "Prior":
        """Fit to `codes` (N, latent_dim); return self."""
        raise NotImplementedError

    def arrays(self) -> dict[str, np.ndarray] | None:
        """The prior as the shared sampler and the exports read it, or None when it cannot be stated that way."""
        return None  # pylint: disable=useless-return  # the answer of a prior that draws its own way

    def sample(self, count: int, seed: int = 0, first: int = 0) -> torch.Tensor:
        """Codes `first` ... `first+count-1` of `seed` (float32, on the CPU): code i depends on seed and i only."""
        arrays = self.arrays()  # pylint: disable=assignment-from-none  # subclasses state them
        if arrays is None:
            raise NotImplementedError(f"{type(self).__name__} states no arrays: it must override sample")
        return torch.from_numpy(face_latents(arrays, seed, first, count))

    def to_state(self) -> dict:
        """What the model file stores: {"name": NAME, ...tensors and numbers}."""
        raise NotImplementedError

    @classmethod
    def from_state(cls, state: dict) -> "Prior":
        """The prior `to_state` described."""
        raise NotImplementedError

    @classmethod
    def state_problem(cls, state: dict, latent_dim: int) -> str | None:
        """What is wrong with a stored state for codes of `latent_dim` (None: nothing): checked before sampling."""
        del state, latent_dim  # a prior with nothing to check: no problem

    def describe(self) -> str:
        """A few words for messages and logs."""
        return self.NAME


def prior_class(name: str) -> type[Prior]:
    """The prior registered as `name`, looked up among the modules of this folder."""
    advice = (
        "add its module to face_vae/core/models/priors/, or refit the model's prior with `python commands.py fit_prior`"
    )
    return registered(PRIORS, name, [str(__package__)], "prior", advice)
