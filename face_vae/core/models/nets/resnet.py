"""The default network (`model/net=resnet`): a Gaussian-latent VAE with a residual encoder and a residual upsampling
decoder, as plain torch modules (testable alone)."""

from collections.abc import Sequence

import torch
from torch import nn

from face_vae.core.models.nets import register
from face_vae.core.models.nets.resnet_layers import ResidualDecoderLayers, ResidualEncoder
from face_vae.core.models.priors import StandardNormal

LOG_VAR_MIN, LOG_VAR_MAX = -12.0, 6.0  # std from 0.0025 to 20: far wider than any useful code


def conv_sizes(image_size: int, depth: int) -> list[int]:
    """Spatial sizes after each stride-2 convolution (kernel 3, padding 1): 150 -> 75 -> 38 -> 19 -> 10 -> 5."""
    sizes = [image_size]
    for _ in range(depth):
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


def check_size(image_size: int, channels: Sequence[int]) -> None:
    """Refuse an image size the stride-2 layers would shrink to nothing."""
    if image_size < 2 ** len(channels):
        raise ValueError(f"image_size {image_size} is too small for {len(channels)} stride-2 layers")


def latent_projection(image_size: int, channels: Sequence[int], latent_dim: int):
    """What a decoder starts from: the encoder's sizes and widths reversed (smallest first: 5, 10, 19, 38, 75,
    150), the shape of its first feature map, and the linear layer from a code to that map."""
    sizes = conv_sizes(image_size, len(channels))[::-1]
    widths = list(channels)[::-1]
    start_shape = (widths[0], sizes[0], sizes[0])
    return sizes, widths, start_shape, nn.Linear(latent_dim, widths[0] * sizes[0] ** 2)


class Encoder(nn.Module):
    """Image (N, 3, H, W) in [0, 1] -> mean and log-variance of q(z | x), each (N, latent_dim)."""

    def __init__(self, image_size: int, channels: Sequence[int], latent_dim: int):
        super().__init__()
        self.features = ResidualEncoder(channels)
        features = channels[-1] * conv_sizes(image_size, len(channels))[-1] ** 2
        self.mean = nn.Linear(features, latent_dim)
        self.log_var = nn.Linear(features, latent_dim)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (mean, log_var) of the latent code of each image."""
        features = self.features(images)
        # Bounded log-variance: one wild batch once sent exp(log_var), and the KL term, to millions.
        return self.mean(features), self.log_var(features).clamp(LOG_VAR_MIN, LOG_VAR_MAX)


class Decoder(nn.Module):
    """Latent (N, latent_dim) -> image (N, 3, H, W) in [0, 1], mirroring the encoder's sizes exactly."""

    def __init__(self, image_size: int, channels: Sequence[int], latent_dim: int):
        super().__init__()
        sizes, widths, self.start_shape, self.project = latent_projection(image_size, channels, latent_dim)
        self.layers = ResidualDecoderLayers(widths, sizes)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """Return the images decoded from `latents`."""
        return self.layers(self.project(latents).view(-1, *self.start_shape))


@register("resnet")
class VAE(nn.Module):
    """A Gaussian-latent VAE trained with prior N(0, I): residual encoder, residual upsampling decoder, and the
    prior its codes are drawn from (train replaces N(0, I) with the one it fits)."""

    # No defaults: the config (face_vae/core/models/settings.py ResNetSettings) is the one place that chooses them.
    def __init__(self, image_size: int, channels: Sequence[int], latent_dim: int):
        super().__init__()
        check_size(image_size, channels)
        self.image_size = image_size
        self.latent_dim = latent_dim
        self.prior = StandardNormal(latent_dim)
        self.encoder = Encoder(image_size, channels, latent_dim)
        self.decoder = Decoder(image_size, channels, latent_dim)

    @torch.inference_mode()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] (float32) decoded from latent codes (moved to the model's device and type)."""
        weight = next(self.parameters())
        return self.decoder(latents.to(weight.device, weight.dtype)).float()

    @torch.inference_mode()
    def sample(self, count: int, seed: int = 0) -> torch.Tensor:
        """Decode `count` codes drawn from the model's prior with `seed` into images in [0, 1]."""
        return self.decode(self.prior.sample(count, seed))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return (reconstruction, mean, log_var) of a batch of images."""
        mean, log_var = self.encoder(images)
        latents = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)  # reparameterisation trick
        return self.decoder(latents), mean, log_var

    @torch.inference_mode()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """The mean latent code of each image in [0, 1]: the deterministic code used to edit real photos."""
        weight = next(self.parameters())
        return self.encoder(images.to(weight.device, weight.dtype))[0].float()
