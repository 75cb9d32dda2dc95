"""The network's mean codes of a whole split, a batch at a time: what a prior is fitted to."""

import torch
from torch import nn
from torch.utils.data import DataLoader

from face_vae.core.data.face_crops import FaceCrops, as_floats, batched
from face_vae.core.progress import progress


@torch.inference_mode()
def encoder_means(
    network: nn.Module, images: FaceCrops, batch_size: int = 128, desc: str = "encode train"
) -> torch.Tensor:
    """The network's mean code (`encode`) of every image of `images`, as (N, latent_dim)."""
    network.eval()
    device = next(network.parameters()).device
    means = []
    batches = DataLoader(images, batch_size=batch_size, collate_fn=batched)
    for batch in progress(batches, len(batches), desc):
        means.append(network.encode(as_floats(batch.to(device))).float().cpu())
    return torch.cat(means)
