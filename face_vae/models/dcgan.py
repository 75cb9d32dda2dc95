"""The DCGAN baseline as plain torch modules, built from the VAE's own layers for a fair comparison.

The generator is the VAE's decoder (latent -> image in [0, 1]) and the discriminator is the VAE's
encoder stack of stride-2 convolutions ending in one real/fake logit: the two models differ in how
they are trained, not in their capacity.
"""

from collections.abc import Sequence

import torch
from torch import nn

from face_vae.models.vae import Decoder, LatentImageModel, conv_sizes


class Discriminator(nn.Module):
    """Image (N, 3, H, W) in [0, 1] -> one logit per image (> 0: judged real)."""

    def __init__(self, image_size: int, channels: Sequence[int]):
        super().__init__()
        layers, in_channels = [], 3
        for index, out_channels in enumerate(channels):
            layers.append(nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1))
            if index > 0:  # DCGAN: no batch norm on the discriminator's input layer
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.LeakyReLU(0.2))
            in_channels = out_channels
        features = channels[-1] * conv_sizes(image_size, len(channels))[-1] ** 2
        self.layers = nn.Sequential(*layers, nn.Flatten(), nn.Linear(features, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Return the logits, shape (N,)."""
        return self.layers(images).squeeze(1)


class DCGAN(LatentImageModel):
    """Generator and discriminator; samples come from the prior N(0, I) only (it has no encoder)."""

    FORMAT = "face_vae.DCGAN/1"

    def __init__(self, image_size: int = 64, channels: Sequence[int] = (32, 64, 128, 256, 512), latent_dim: int = 128):
        super().__init__(image_size, channels, latent_dim)
        self.generator = Decoder(image_size, channels, latent_dim)
        self.discriminator = Discriminator(image_size, channels)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """The generated images of `latents`."""
        return self.generator(latents)

    @property
    def decoder(self) -> nn.Module:
        """The generator, under the name the VAE gives its latent -> image network."""
        return self.generator

    def sample_latents(
        self, count: int, generator: torch.Generator | None = None, sampler: str = "auto"
    ) -> torch.Tensor:
        """`count` codes from N(0, I), the only distribution the generator was trained on."""
        if sampler not in ("auto", "normal"):
            raise ValueError(f"a DCGAN samples from N(0, I) only, not {sampler!r}")
        return torch.randn(count, self.latent_dim, generator=generator)
