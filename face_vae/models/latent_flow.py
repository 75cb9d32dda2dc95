"""A learned latent prior (`sampler=flow`): a small RealNVP flow fitted to the training codes.

The Gaussian mixture (latent_density) models the codes' clusters but each cluster as an ellipsoid;
a flow learns a smooth density of any shape. It first whitens the codes (their mean and Cholesky
factor), so an untrained flow is already the codes' own Gaussian, then stacks affine coupling layers
(Dinh et al. 2017) trained by maximum likelihood. Samples are drawn by running it backwards from
N(0, I). It is stored in the model file as plain tensors (`to_state` / `from_state`).
"""

import copy

import torch
from torch import nn
from tqdm import tqdm


class Coupling(nn.Module):
    """y = x on the kept half; the other half is scaled and shifted by an MLP of the kept half."""

    def __init__(self, dim: int, hidden: int, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask)
        self.net = nn.Sequential(
            nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 2 * dim)
        )
        nn.init.zeros_(self.net[-1].weight)  # starts as the identity: training begins from the whitened Gaussian
        nn.init.zeros_(self.net[-1].bias)

    def _scale_shift(self, kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scale, shift = self.net(kept).chunk(2, dim=1)
        scale = torch.tanh(scale) * (1 - self.mask)  # bounded scales keep the inverse stable
        return scale, shift * (1 - self.mask)

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data -> noise direction: (outputs, log |det J|) of each row."""
        scale, shift = self._scale_shift(inputs * self.mask)
        return inputs * torch.exp(scale) + shift, scale.sum(dim=1)

    def inverse(self, outputs: torch.Tensor) -> torch.Tensor:
        """Noise -> data direction."""
        scale, shift = self._scale_shift(outputs * self.mask)
        return (outputs - shift) * torch.exp(-scale)


class LatentFlow(nn.Module):
    """Whitening followed by `layers` couplings with random half masks (fixed by `seed`)."""

    def __init__(self, dim: int, layers: int = 6, hidden: int = 256, seed: int = 0):
        super().__init__()
        self.hparams = {"dim": dim, "layers": layers, "hidden": hidden, "seed": seed}
        generator = torch.Generator().manual_seed(seed)
        masks = [(torch.randperm(dim, generator=generator) < dim // 2).float() for _ in range(layers)]
        self.couplings = nn.ModuleList(Coupling(dim, hidden, mask) for mask in masks)
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("cholesky", torch.eye(dim))

    def whiten_to(self, codes: torch.Tensor) -> None:
        """Set the whitening to the codes' mean and covariance (slightly regularised)."""
        self.mean.copy_(codes.mean(0))
        covariance = torch.cov(codes.T.double()) + 1e-4 * torch.eye(codes.shape[1], dtype=torch.float64)
        self.cholesky.copy_(torch.linalg.cholesky(covariance).float())

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """log p(code) of each row (see `log_prob`)."""
        return self.log_prob(codes)

    def log_prob(self, codes: torch.Tensor) -> torch.Tensor:
        """log p(code) of each row (the whitening's constant Jacobian is left out: it has no gradient)."""
        centred = (codes - self.mean).T
        noise = torch.linalg.solve_triangular(self.cholesky, centred, upper=False).T
        log_det = torch.zeros(len(codes), device=codes.device)
        for coupling in self.couplings:
            noise, layer_log_det = coupling(noise)
            log_det = log_det + layer_log_det
        return -0.5 * noise.square().sum(dim=1) + log_det

    @torch.no_grad()
    def sample(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """`count` codes drawn from the flow."""
        values = torch.randn(count, self.hparams["dim"], generator=generator)
        for coupling in reversed(self.couplings):
            values = coupling.inverse(values)
        return self.mean + values @ self.cholesky.T

    def to_state(self) -> dict:
        """The flow as plain tensors and numbers, for the model file."""
        return {"hparams": dict(self.hparams), "state_dict": {k: v.cpu() for k, v in self.state_dict().items()}}

    @classmethod
    def from_state(cls, state: dict) -> "LatentFlow":
        """Rebuild a flow saved by `to_state`."""
        flow = cls(**state["hparams"])
        flow.load_state_dict(state["state_dict"])
        return flow.eval()


def fit_flow(codes: torch.Tensor, layers: int = 6, hidden: int = 256, epochs: int = 100, seed: int = 0) -> LatentFlow:
    """Fit a LatentFlow to codes (N, dim) by maximum likelihood; keep the epoch with the best likelihood on
    a tenth of the codes held out (a flow this size can memorise 4,560 codes)."""
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, not {epochs}")
    generator = torch.Generator().manual_seed(seed)
    codes = codes.float()[torch.randperm(len(codes), generator=generator)]
    held_out = max(1, len(codes) // 10) if len(codes) >= 20 else 0
    train, check = codes[held_out:], codes[:held_out] if held_out else codes
    flow = LatentFlow(codes.shape[1], layers, hidden, seed)
    flow.whiten_to(train)
    optimizer = torch.optim.AdamW(flow.couplings.parameters(), lr=1e-3, weight_decay=1e-4)
    best_score, best_state = float("-inf"), copy.deepcopy(flow.state_dict())
    batch_size = min(256, len(train))
    for _ in tqdm(range(epochs), desc="fit latent flow"):
        flow.train()
        for batch in train[torch.randperm(len(train), generator=generator)].split(batch_size):
            loss = -flow.log_prob(batch).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            score = flow.log_prob(check).mean().item()
        if score > best_score:
            best_score, best_state = score, copy.deepcopy(flow.state_dict())
    flow.load_state_dict(best_state)
    return flow.eval()
