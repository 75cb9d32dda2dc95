"""The residual encoder and decoder layers of the `resnet` network: detail without stripes.

The decoder upsamples by nearest-neighbour interpolation to the encoder's exact sizes and then convolves:
stride-2 transposed convolutions overlap their kernels unevenly and draw a checkerboard and faint stripes. Residual
blocks let each resolution add detail on top of what arrives from below. GroupNorm normalises each image on its own,
so a batch of one (sampling, or a resumed tiny run) behaves as in training, and train and eval modes agree.
"""

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with groups of at least 4 channels (at most 32 groups)."""
    return nn.GroupNorm(max(1, min(32, channels // 4)), channels)


class ResidualBlock(nn.Module):
    """x + conv(act(norm(conv(act(norm(x)))))): the pre-activation block of He et al. 2016."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            group_norm(channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            group_norm(channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """The features plus what the block adds."""
        return features + self.body(features)


class Upsample(nn.Module):
    """Nearest-neighbour resize to an exact size (75 -> 150, 19 -> 38, 5 -> 10, and odd ones such as 38 -> 75)."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Each pixel repeated up to the target size."""
        return F.interpolate(features, size=(self.size, self.size), mode="nearest")


class ResidualEncoder(nn.Module):
    """Image (N, 3, H, W) -> features (N, channels[-1] * s * s): a stride-2 convolution per entry of
    `channels`, with GroupNorm and SiLU between them, and a residual block at the smallest size."""

    def __init__(self, channels: Sequence[int]):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, channels[0], 3, stride=2, padding=1)]
        for in_channels, out_channels in zip(channels, channels[1:]):
            layers += [group_norm(in_channels), nn.SiLU(), nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1)]
        layers += [ResidualBlock(channels[-1]), group_norm(channels[-1]), nn.SiLU(), nn.Flatten()]
        self.layers = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The flattened features of each image."""
        return self.layers(images)


class ResidualDecoderLayers(nn.Module):
    """Features (N, channels[0], sizes[0], sizes[0]) -> image (N, 3, sizes[-1], sizes[-1]) in [0, 1].

    `channels` from the widest (smallest size) down; `sizes` has one more entry than `channels`
    (the encoder's sizes, reversed). Each step: upsample to the next size and convolve to the next
    width; the last `residual_levels` steps before full resolution add a residual block, where the
    detail is drawn (measured: blocks at every level cost 4.5x the plain decoder's time on a CPU).
    The last step upsamples to full resolution and only convolves to RGB.
    """

    def __init__(self, channels: Sequence[int], sizes: Sequence[int], residual_levels: int = 2):
        super().__init__()
        layers: list[nn.Module] = []
        steps = list(zip(channels, channels[1:], sizes[1:]))
        for index, (in_channels, out_channels, size) in enumerate(steps):
            layers += [
                group_norm(in_channels),
                nn.SiLU(),
                Upsample(size),
                nn.Conv2d(in_channels, out_channels, 3, padding=1),
            ]
            if index >= len(steps) - residual_levels:
                layers.append(ResidualBlock(out_channels))
        self.to_rgb = nn.Conv2d(channels[-1], 3, 3, padding=1)
        layers += [group_norm(channels[-1]), nn.SiLU(), Upsample(sizes[-1]), self.to_rgb, nn.Sigmoid()]
        self.layers = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """The images drawn from the features."""
        return self.layers(features)
