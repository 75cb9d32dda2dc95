"""The adversarial term's critic (`model.adversarial_weight > 0`): a small patch discriminator with
spectral norm, trained from scratch (no pretrained weights), and the differentiable augmentation
that keeps it from memorising a small training set (DiffAugment, Zhao et al. 2020)."""

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class PatchDiscriminator(nn.Module):
    """Image (N, 3, H, W) in [0, 1] -> a grid of real/fake logits, one per overlapping patch (PatchGAN,
    Isola et al. 2017), plus the features of each layer for the feature-matching term.

    Spectral norm on every convolution bounds the critic's Lipschitz constant: with the hinge loss it
    trains stably without a gradient penalty (Miyato et al. 2018)."""

    def __init__(self, channels: Sequence[int] = (64, 128, 256)):
        super().__init__()
        layers, in_channels = [], 3
        for out_channels in channels:
            conv = spectral_norm(nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1))
            layers.append(nn.Sequential(conv, nn.LeakyReLU(0.2)))
            in_channels = out_channels
        self.layers = nn.ModuleList(layers)
        self.logits = spectral_norm(nn.Conv2d(in_channels, 1, 3, padding=1))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(logits (N, 1, h, w), [features of each layer])."""
        features, values = [], images * 2 - 1
        for layer in self.layers:
            values = layer(values)
            features.append(values)
        return self.logits(values), features


def diff_augment(batches: Sequence[torch.Tensor], generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """The same random brightness, saturation, contrast, translation (up to 1/8 of the size, zeros
    shifted in) and cutout (a 1/4-size square) applied to each batch of `batches` (image i of each
    batch gets the same draw), differentiably."""
    first = batches[0]
    count, _, height, width = first.shape

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator).to(first.device, first.dtype)

    colour = (uniform(count, 1, 1, 1) - 0.5, uniform(count, 1, 1, 1) * 2, uniform(count, 1, 1, 1) + 0.5)
    shift = [(uniform(count) * (side // 4 + 1)).long() - side // 8 for side in (height, width)]
    cut = [(uniform(count) * (side + 1 - side // 4)).long() for side in (height, width)]
    index, mask = _move_and_cut(height, width, shift, cut, first.device)

    def augment(images: torch.Tensor) -> torch.Tensor:
        values = _colour(images, *colour)
        moved = values.flatten(2).gather(2, index.expand(-1, values.shape[1], -1)).view_as(values)
        return moved * mask.unsqueeze(1).to(values.dtype)

    return [augment(images) for images in batches]


def _colour(
    images: torch.Tensor, brightness: torch.Tensor, saturation: torch.Tensor, contrast: torch.Tensor
) -> torch.Tensor:
    """DiffAugment's colour transform: add brightness, scale saturation and contrast about the means."""
    values = images + brightness
    mean = values.mean(dim=1, keepdim=True)
    values = (values - mean) * saturation + mean
    mean = values.mean(dim=(1, 2, 3), keepdim=True)
    return (values - mean) * contrast + mean


def _move_and_cut(
    height: int, width: int, shift: list[torch.Tensor], cut: list[torch.Tensor], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(flat source index of each output pixel (N, 1, H*W), mask of the pixels kept (N, H, W))."""
    rows = torch.arange(height, device=device).view(1, height, 1) - shift[0].view(-1, 1, 1)
    cols = torch.arange(width, device=device).view(1, 1, width) - shift[1].view(-1, 1, 1)
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)  # shifted in from outside: zeros
    out_rows = torch.arange(height, device=device).view(1, height, 1) - cut[0].view(-1, 1, 1)
    out_cols = torch.arange(width, device=device).view(1, 1, width) - cut[1].view(-1, 1, 1)
    in_cutout = (out_rows >= 0) & (out_rows < height // 4) & (out_cols >= 0) & (out_cols < width // 4)
    index = rows.clamp(0, height - 1) * width + cols.clamp(0, width - 1)
    return index.expand(-1, height, width).reshape(len(shift[0]), 1, -1), inside & ~in_cutout


def hinge_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """relu(1 - D(real)) + relu(1 + D(fake)), averaged over patches and images."""
    return torch.relu(1 - real_logits).mean() + torch.relu(1 + fake_logits).mean()


def feature_matching(real: Sequence[torch.Tensor], fake: Sequence[torch.Tensor]) -> torch.Tensor:
    """Mean absolute difference of the discriminator's features of real and reconstructed images, per
    layer, averaged over layers: a learned similarity (Larsen et al. 2016) that needs no pretrained net."""
    return torch.stack([(r.detach() - f).abs().mean() for r, f in zip(real, fake)]).mean()
