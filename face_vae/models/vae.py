"""The convolutional VAE as plain torch modules: Encoder, Decoder and VAE (testable alone)."""

from collections.abc import Sequence

import torch
from torch import nn

from face_vae.models.latent_density import sample_gmm
from face_vae.models.latent_flow import LatentFlow
from face_vae.models.resnet import ResidualDecoderLayers, ResidualEncoder

ARCHITECTURES = ("conv", "resnet")  # plain stride-2 convolutions (the first default), or residual blocks
SAMPLERS = ("auto", "normal", "gmm", "flow")
LOG_VAR_MIN, LOG_VAR_MAX = -12.0, 6.0  # std from 0.0025 to 20: far wider than any useful code


def conv_sizes(image_size: int, depth: int) -> list[int]:
    """Spatial sizes after each stride-2 convolution (kernel 3, padding 1): 150 -> 75 -> 38 -> 19 -> 10 -> 5."""
    sizes = [image_size]
    for _ in range(depth):
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


def smallest_image_size(channels: Sequence[int]) -> int:
    """Each stride-2 layer halves the image: the smallest size that does not vanish before the last one."""
    return 2 ** len(channels)


def check_size(image_size: int, channels: Sequence[int]) -> None:
    """Refuse an image size the stride-2 layers would shrink to nothing."""
    if image_size < smallest_image_size(channels):
        raise ValueError(f"image_size {image_size} is too small for {len(channels)} stride-2 layers")


def check_architecture(architecture: str) -> None:
    """Refuse an architecture name the encoder and decoder do not know."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}, not {architecture!r}")


def conv_features(channels: Sequence[int]) -> nn.Sequential:
    """The `conv` encoder body: stride-2 conv, batch norm, leaky ReLU per entry of `channels`."""
    layers, in_channels = [], 3
    for out_channels in channels:
        layers += [
            nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.LeakyReLU(0.2),
        ]
        in_channels = out_channels
    return nn.Sequential(*layers, nn.Flatten())


def conv_decoder_layers(channels: Sequence[int], sizes: Sequence[int]) -> nn.Sequential:
    """The `conv` decoder body: a stride-2 transposed conv per entry of `channels` (widest first)."""
    layers = []
    channels = list(channels)
    for index, (in_channels, out_channels) in enumerate(zip(channels, channels[1:] + [3])):
        # A transposed conv (kernel 3, stride 2, padding 1) gives 2n - 1 + output_padding pixels;
        # output_padding 0 or 1 lands on the encoder's size, so odd sizes such as 75 come out exact.
        output_padding = sizes[index + 1] - (2 * sizes[index] - 1)
        layers.append(nn.ConvTranspose2d(in_channels, out_channels, 3, 2, 1, output_padding))
        is_last = index == len(channels) - 1
        layers += [nn.Sigmoid()] if is_last else [nn.BatchNorm2d(out_channels), nn.LeakyReLU(0.2)]
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """Image (N, 3, H, W) in [0, 1] -> mean and log-variance of q(z | x), each (N, latent_dim)."""

    def __init__(self, image_size: int, channels: Sequence[int], latent_dim: int, architecture: str = "conv"):
        super().__init__()
        check_architecture(architecture)
        self.features = conv_features(channels) if architecture == "conv" else ResidualEncoder(channels)
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

    def __init__(self, image_size: int, channels: Sequence[int], latent_dim: int, architecture: str = "conv"):
        super().__init__()
        check_architecture(architecture)
        sizes = conv_sizes(image_size, len(channels))[::-1]  # e.g. 5, 10, 19, 38, 75, 150
        channels = list(channels)[::-1]
        self.start_shape = (channels[0], sizes[0], sizes[0])
        self.project = nn.Linear(latent_dim, channels[0] * sizes[0] ** 2)
        if architecture == "conv":
            self.layers = conv_decoder_layers(channels, sizes)
        else:
            self.layers = ResidualDecoderLayers(channels, sizes)

    @property
    def last_layer(self) -> torch.Tensor:
        """The weight of the layer that draws the pixels: where the adversarial term's weight is balanced."""
        if isinstance(self.layers, ResidualDecoderLayers):
            return self.layers.to_rgb.weight
        return self.layers[-2].weight

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """Return the images decoded from `latents`."""
        return self.layers(self.project(latents).view(-1, *self.start_shape))


class LatentImageModel(nn.Module):
    """What the VAE and the DCGAN baseline share: the sizes they are built for (what a model file
    stores), and turning latent codes into images. Each says how its codes are drawn."""

    FORMAT = ""  # how model files name the class (face_vae.models.model_file)
    decoder: nn.Module  # latent (N, latent_dim) -> image (N, 3, H, W) in [0, 1]

    def __init__(self, image_size: int, channels: Sequence[int], latent_dim: int):
        super().__init__()
        check_size(image_size, channels)
        self.hparams = {"image_size": image_size, "channels": list(channels), "latent_dim": latent_dim}
        self.image_size = image_size
        self.latent_dim = latent_dim
        # Set after training by latent_density.fit_gmm: {weights, means, cholesky}; None means N(0, I) only.
        self.latent_density: dict[str, torch.Tensor] | None = None

    def sample_latents(
        self, count: int, generator: torch.Generator | None = None, sampler: str = "auto"
    ) -> torch.Tensor:
        """`count` latent codes (on the CPU) drawn by `sampler`."""
        raise NotImplementedError

    @torch.inference_mode()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] (float32) decoded from latent codes (moved to the model's device and type)."""
        weight = next(self.parameters())
        return self.decoder(latents.to(weight.device, weight.dtype)).float()

    @torch.inference_mode()
    def sample(self, count: int, generator: torch.Generator | None = None, sampler: str = "auto") -> torch.Tensor:
        """Decode `count` latents from `sample_latents` into images in [0, 1]."""
        return self.decode(self.sample_latents(count, generator, sampler))


class VAE(LatentImageModel):
    """A Gaussian-latent VAE with prior N(0, I)."""

    FORMAT = "face_vae.VAE/1"

    # No defaults: the config (configs/model/vae.yaml) is the one place that chooses them.
    def __init__(self, image_size: int, channels: Sequence[int], latent_dim: int, architecture: str):
        super().__init__(image_size, channels, latent_dim)
        self.hparams["architecture"] = architecture
        self.encoder = Encoder(image_size, channels, latent_dim, architecture)
        self.decoder = Decoder(image_size, channels, latent_dim, architecture)
        # Set after training by latent_flow.fit_flow: the flow's to_state(); None means no learned prior.
        self.latent_flow: dict | None = None
        self._flow: LatentFlow | None = None  # built from latent_flow on first use

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return (reconstruction, mean, log_var) of a batch of images."""
        mean, log_var = self.encoder(images)
        latents = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)  # reparameterisation trick
        return self.decoder(latents), mean, log_var

    def sample_latents(
        self, count: int, generator: torch.Generator | None = None, sampler: str = "auto"
    ) -> torch.Tensor:
        """`count` latent codes (on the CPU) from the prior N(0, I) (`normal`), from the Gaussian mixture
        fitted to the training codes (`gmm`), from the flow fitted to them (`flow`), or `auto`: the flow
        when the model has one, else the mixture when it has one, else N(0, I)."""
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, not {sampler!r}")
        if sampler == "auto":
            sampler = "flow" if self.latent_flow else "gmm" if self.latent_density else "normal"
        if sampler == "gmm":
            if self.latent_density is None:
                raise ValueError("this model has no fitted latent mixture")
            return sample_gmm(self.latent_density, count, generator)
        if sampler == "flow":
            if self.latent_flow is None:
                raise ValueError("this model has no fitted latent flow")
            if self._flow is None:
                self._flow = LatentFlow.from_state(self.latent_flow)
            return self._flow.sample(count, generator)
        return torch.randn(count, self.latent_dim, generator=generator)

    @torch.inference_mode()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """The mean latent code of each image in [0, 1]: the deterministic code used to edit real photos."""
        weight = next(self.parameters())
        return self.encoder(images.to(weight.device, weight.dtype))[0].float()
