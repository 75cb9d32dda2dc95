"""The DCGAN baseline as plain torch modules (Radford et al. 2016): stride-2 transposed convolutions up,
stride-2 convolutions down, at the sizes the VAE's encoder uses.

It is the plain-convolution VAE's decoder and encoder of docs/RESULTS.md's first rows (the `conv`
architecture, measured at commit 1651096), trained adversarially: the comparison is of training, not
of capacity.
"""

from collections.abc import Sequence

import torch
from torch import nn

from face_vae.models.vae import LatentImageModel, conv_sizes, latent_projection


class Generator(nn.Module):
    """Latent (N, latent_dim) -> image (N, 3, H, W) in [0, 1]: a stride-2 transposed convolution per
    entry of `channels` (widest first), batch norm and leaky ReLU between them."""

    def __init__(self, image_size: int, channels: Sequence[int], latent_dim: int):
        super().__init__()
        sizes, channels, self.start_shape, self.project = latent_projection(image_size, channels, latent_dim)
        layers: list[nn.Module] = []
        for index, (in_channels, out_channels) in enumerate(zip(channels, channels[1:] + [3])):
            # A transposed conv (kernel 3, stride 2, padding 1) gives 2n - 1 + output_padding pixels;
            # output_padding 0 or 1 lands on the encoder's size, so odd sizes such as 75 come out exact.
            output_padding = sizes[index + 1] - (2 * sizes[index] - 1)
            layers.append(nn.ConvTranspose2d(in_channels, out_channels, 3, 2, 1, output_padding))
            is_last = index == len(channels) - 1
            layers += [nn.Sigmoid()] if is_last else [nn.BatchNorm2d(out_channels), nn.LeakyReLU(0.2)]
        self.layers = nn.Sequential(*layers)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """The images drawn from `latents`."""
        return self.layers(self.project(latents).view(-1, *self.start_shape))


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
    """Generator and discriminator; its codes come from N(0, I), the prior it was trained on (it has no
    encoder, so no codes to fit another to)."""

    FORMAT = "face_vae.DCGAN/1"

    def __init__(self, image_size: int = 64, channels: Sequence[int] = (32, 64, 128, 256, 512), latent_dim: int = 128):
        super().__init__(image_size, channels, latent_dim)
        self.generator = Generator(image_size, channels, latent_dim)
        self.discriminator = Discriminator(image_size, channels)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """The generated images of `latents`."""
        return self.generator(latents)

    @property
    def decoder(self) -> nn.Module:
        """The generator, under the name the VAE gives its latent -> image network."""
        return self.generator
