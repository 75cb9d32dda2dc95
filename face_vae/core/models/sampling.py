"""Latent codes drawn and decoded a batch at a time, so that memory stays flat however many faces."""

from collections.abc import Iterator

import torch
from torch import nn

from face_vae.core.models.face_vae_stream import face_latents
from face_vae.core.models.priors import Prior


def latent_batches(prior: Prior, count: int, batch_size: int, seed: int) -> Iterator[torch.Tensor]:
    """`count` latent codes from `prior`, `batch_size` at a time: codes 0 ... count-1 of `seed`'s stream, the
    same whatever the batch size (and the same as the export's sampler and web page draw)."""
    arrays = prior.arrays()  # once: a mixture's arrays are converted for the sampler
    for start in range(0, count, batch_size):
        size = min(batch_size, count - start)
        if arrays is None:  # a prior that draws its own way
            yield prior.sample(size, seed, first=start)
        else:
            yield torch.from_numpy(face_latents(arrays, seed, start, size))


def decoded_batches(network: nn.Module, latents: Iterator[torch.Tensor]) -> Iterator[torch.Tensor]:
    """The images (N, 3, H, W) in [0, 1], on the CPU, of each batch of latents."""
    network.eval()
    for batch in latents:
        yield network.decode(batch).cpu()


def decode_all(network: nn.Module, latents: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Images (N, 3, H, W) in [0, 1] of all `latents`, decoded `batch_size` at a time, on the CPU."""
    return torch.cat(list(decoded_batches(network, latents.split(batch_size))))
