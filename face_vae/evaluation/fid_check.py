"""Model selection by quality (`selection.fid_every_n_epochs > 0`): an FID of samples during training.

The validation loss measures reconstructions; what users look at is samples. Every N epochs this
callback fits the same kind of Gaussian mixture `train` fits at the end (on the codes of a fixed
subset of train images), decodes a fixed number of its samples and logs their FID against the
Inception features of a fixed subset of val images (computed once) as `fid_val`, which the best
checkpoint can monitor. At small n the FID is biased upwards, but the same n each time, so it ranks.
"""

import lightning as L
import numpy as np
import torch

from face_vae.evaluation.metrics import fid, inception_features, load_inception
from face_vae.models.latent_density import fit_gmm, sample_gmm

FID_SIZE = 64  # the comparison resolution: the usual one, and the cheapest


class FIDCheck(L.Callback):
    """Log `fid_val` every `every_n_epochs` epochs (from the validation epoch's end, so checkpoints see it)."""

    def __init__(  # pylint: disable=too-many-arguments
        self,
        real_images: torch.Tensor,
        train_images: torch.Tensor,
        every_n_epochs: int,
        samples: int,
        gmm_components: int,
        seed: int = 0,
    ):
        super().__init__()
        self.real_images = real_images
        self.train_images = train_images
        self.every_n_epochs = every_n_epochs
        self.samples = samples
        self.gmm_components = gmm_components
        self.seed = seed
        self._inception: torch.jit.ScriptModule | None = None
        self._real_features: np.ndarray | None = None

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        if self._inception is None:
            self._inception = load_inception()
            self._real_features = inception_features(self._inception, self.real_images, FID_SIZE)
        pl_module.log("fid_val", self.score(pl_module.network), prog_bar=True, on_epoch=True)

    @torch.inference_mode()
    def score(self, network: torch.nn.Module) -> float:
        """FID of `samples` faces from a mixture fitted to the train subset's codes."""
        generator = torch.Generator().manual_seed(self.seed)
        if self.gmm_components > 0:
            codes = torch.cat([network.encode(batch) for batch in self.train_images.split(64)])
            density = fit_gmm(codes, self.gmm_components, seed=self.seed)
            latents = sample_gmm(density, self.samples, generator)
        else:
            latents = torch.randn(self.samples, network.latent_dim, generator=generator)
        faces = torch.cat([network.decode(batch) for batch in latents.split(64)]).cpu()
        return fid(self._real_features, inception_features(self._inception, faces, FID_SIZE))
