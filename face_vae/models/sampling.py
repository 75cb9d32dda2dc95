"""Latent codes drawn and decoded a batch at a time, so that memory stays flat however many faces."""

from collections.abc import Iterator

import torch

from face_vae.models.priors import StandardNormal
from face_vae.models.vae import LatentImageModel


def latent_batches(prior: StandardNormal, count: int, batch_size: int, seed: int) -> Iterator[torch.Tensor]:
    """`count` latent codes from `prior`, `batch_size` at a time; the same seed (and batch size), the
    same codes."""
    generator = torch.Generator().manual_seed(seed)
    for start in range(0, count, batch_size):
        yield prior.sample(min(batch_size, count - start), generator)


def decoded_batches(network: LatentImageModel, latents: Iterator[torch.Tensor]) -> Iterator[torch.Tensor]:
    """The images (N, 3, H, W) in [0, 1], on the CPU, of each batch of latents."""
    network.eval()
    for batch in latents:
        yield network.decode(batch).cpu()


def decode_all(network: LatentImageModel, latents: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Images (N, 3, H, W) in [0, 1] of all `latents`, decoded `batch_size` at a time, on the CPU."""
    return torch.cat(list(decoded_batches(network, latents.split(batch_size))))
