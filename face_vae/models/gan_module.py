"""The LightningModule that trains the DCGAN baseline: two optimisers, stepped by hand."""

from collections.abc import Sequence

import lightning as L
import torch
from torch.nn.functional import binary_cross_entropy_with_logits

from face_vae.models.dcgan import DCGAN


class GANModule(L.LightningModule):
    """Non-saturating GAN training: each batch, one discriminator step (real -> 1, generated -> 0),
    then one generator step (generated -> 1). Manual optimisation, since the two losses need their
    own optimisers, stepped in this order."""

    file_name = "dcgan"  # train's model_file: models/dcgan.pt
    monitor = None  # a GAN has no validation loss to pick the best epoch by: the last weights are kept

    # The config's keys (face_vae/settings.py DCGANModel), each passed by name by Hydra's instantiate.
    def __init__(
        self,
        *,
        image_size: int,
        channels: Sequence[int],
        latent_dim: int,
        lr: float,
        betas: Sequence[float],
        channels_last: bool = False,
    ):
        super().__init__()
        self.automatic_optimization = False
        gan = DCGAN(image_size, channels, latent_dim)
        self.gan = gan.to(memory_format=torch.channels_last) if channels_last else gan
        self.lr, self.betas = lr, tuple(betas)
        self.channels_last = channels_last

    @property
    def network(self) -> DCGAN:
        """What `train` saves and samples from."""
        return self.gan

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        generator_optimizer, discriminator_optimizer = self.optimizers()
        real = batch.contiguous(memory_format=torch.channels_last) if self.channels_last else batch
        fake = self.gan.generator(torch.randn(len(real), self.gan.latent_dim, device=self.device))

        real_logits = self.gan.discriminator(real).float()
        fake_logits = self.gan.discriminator(fake.detach()).float()
        discriminator_loss = _bce(real_logits, 1.0) + _bce(fake_logits, 0.0)
        discriminator_optimizer.zero_grad()
        self.manual_backward(discriminator_loss)
        discriminator_optimizer.step()

        generator_loss = _bce(self.gan.discriminator(fake).float(), 1.0)
        generator_optimizer.zero_grad()
        self.manual_backward(generator_loss)
        generator_optimizer.step()

        self.log("loss_generator", generator_loss, prog_bar=True, on_step=True, on_epoch=True)
        self.log("loss_discriminator", discriminator_loss, prog_bar=True, on_step=True, on_epoch=True)
        # How often the discriminator is right: near 1 means the generator is losing the game.
        self.log("accuracy_discriminator_real", (real_logits > 0).float().mean(), on_step=False, on_epoch=True)
        self.log("accuracy_discriminator_fake", (fake_logits < 0).float().mean(), on_step=False, on_epoch=True)

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        return [
            torch.optim.Adam(self.gan.generator.parameters(), lr=self.lr, betas=self.betas),
            torch.optim.Adam(self.gan.discriminator.parameters(), lr=self.lr, betas=self.betas),
        ]


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))
