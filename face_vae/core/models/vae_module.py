"""The LightningModule that trains the VAE: the loss, the optimiser and what is logged."""

import random
from collections.abc import Callable

import lightning as L
import torch

from face_vae.core.errors import UserError
from face_vae.core.models.nets import build_network
from face_vae.core.models.priors import StandardNormal

LIKELIHOODS = ("calibrated", "fixed")
# Reading a GPU's loss on the host stalls it until the step is done: there the loss is checked every this
# many steps (a NaN still stops the run before the model is saved); on a CPU every step costs nothing.
FINITE_CHECK_EVERY = 50


def kl_divergence(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(q(z | x) || N(0, I)) of each image, summed over latent dimensions: shape (N,)."""
    return -0.5 * (1 + log_var - mean.square() - log_var.exp()).sum(dim=1)


def calibrated_sigma(images: torch.Tensor, reconstructions: torch.Tensor) -> torch.Tensor:
    """The sigma that maximises the batch's likelihood: the root mean squared error (sigma-VAE,
    Rybkin et al. 2021), held constant for the gradient and kept above 1e-3."""
    return (images - reconstructions).square().mean().detach().sqrt().clamp_min(1e-3)


def reconstruction_nll(images: torch.Tensor, reconstructions: torch.Tensor, sigma: float) -> torch.Tensor:
    """Negative log-likelihood of each image under N(reconstruction, sigma^2 I), summed over pixels.

    The constant D * log(sigma * sqrt(2 pi)) is left out: it has no gradient. Summing over pixels
    (not averaging) keeps the likelihood and the KL term on the scale of the ELBO; sigma then sets
    their balance: sigma=0.1 means errors of about 10% of the pixel range are expected.
    """
    return (images - reconstructions).square().flatten(1).sum(dim=1) / (2 * sigma**2)


class VAEModule(L.LightningModule):
    """Maximises the ELBO: loss = reconstruction NLL + beta * KL, both per image, averaged over the batch.

    `net` is the network (face_vae/core/models/nets/), `optimizer` a torch.optim class awaiting the parameters (Hydra's
    `_partial_`; None when Lightning loads the module from a checkpoint). likelihood `fixed` uses the decoder sigma
    given; `calibrated` sets it to the batch's RMSE each step. beta ramps from 0 to 1 over `kl_warmup_steps` (0: no
    warm-up), so the decoder learns to reconstruct before the KL term pulls the codes towards the prior. After
    training, the stage fits `prior` (None: N(0, I)) to the training codes: it is what `infer` samples from. The
    values come from the config (face_vae/core/models/settings.py VAEModel), the one place that sets their defaults.
    """

    def __init__(  # pylint: disable=too-many-arguments  # the config keys, each a named argument
        self,
        net: torch.nn.Module | dict,
        *,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        likelihood: str,
        sigma: float,
        kl_warmup_steps: int,
        prior: StandardNormal | None = None,
        compile: bool = False,  # pylint: disable=redefined-builtin  # the config key's name
        channels_last: bool = False,
    ):
        super().__init__()
        # Lightning's own VAEModule.load_from_checkpoint(path) rebuilds the module from the saved arguments: the net by
        # its name and arguments; the prior, fitted after training, is left out (a checkpoint's module samples N(0, I)).
        net = build_network(net["name"], net["config"]) if isinstance(net, dict) else net
        self.save_hyperparameters(ignore=["net", "optimizer", "prior"])
        self.hparams["net"] = {"name": net.NAME, "config": net.config}
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be {' or '.join(LIKELIHOODS)}, not {likelihood!r}")
        self.vae = net.to(memory_format=torch.channels_last) if channels_last else net
        self.optimizer = optimizer
        self.sigma = sigma
        self.likelihood = likelihood
        self.kl_warmup_steps = kl_warmup_steps
        self.channels_last = channels_last
        self.prior = prior or StandardNormal()
        if not self.prior.needs_codes:  # N(0, I) learns only the code size
            self.prior.fit(torch.empty(0, net.latent_dim))
        # torch.compile'd forward, kept outside the module tree so checkpoints hold plain `vae.*` weights.
        object.__setattr__(self, "_forward", torch.compile(self.vae) if compile else self.vae)

    @property
    def network(self) -> torch.nn.Module:
        """What `train` saves and samples from."""
        return self.vae

    def kl_weight(self) -> float:
        """beta for the current training step."""
        if self.kl_warmup_steps <= 0:
            return 1.0
        return min(1.0, self.global_step / self.kl_warmup_steps)

    def _elbo(self, images: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(loss, reconstruction NLL, KL) of a batch, each averaged over images."""
        images = images.contiguous(memory_format=torch.channels_last) if self.channels_last else images
        reconstructions, mean, log_var = self._forward(images)
        reconstructions = reconstructions.float()
        if self.likelihood == "calibrated":
            # With sigma fitted to the batch, the NLL's D * log(sigma) term is what moves: keep it.
            sigma = calibrated_sigma(images, reconstructions)
            nll = reconstruction_nll(images, reconstructions, sigma) + images[0].numel() * sigma.log()
        else:
            nll = reconstruction_nll(images, reconstructions, self.sigma)
        reconstruction, kl = nll.mean(), kl_divergence(mean.float(), log_var.float()).mean()
        return reconstruction + beta * kl, reconstruction, kl

    def _log_elbo(self, stage: str, loss: torch.Tensor, reconstruction: torch.Tensor, kl: torch.Tensor) -> None:
        on_step = stage == "train"
        # Validation is averaged over every DDP rank's shard (once an epoch), so best.ckpt is chosen on all of
        # val; the per-step training values stay each rank's own (a sync every step would stall the GPUs).
        sync = stage == "val"
        self.log(f"loss_{stage}", loss, prog_bar=True, on_step=on_step, on_epoch=True, sync_dist=sync)
        self.log(f"reconstruction_{stage}", reconstruction, on_step=on_step, on_epoch=True, sync_dist=sync)
        self.log(f"kl_{stage}", kl, on_step=on_step, on_epoch=True, sync_dist=sync)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        loss, reconstruction, kl = self._elbo(batch, self.kl_weight())
        checked = loss.device.type == "cpu" or self.global_step % FINITE_CHECK_EVERY == 0
        if checked and not torch.isfinite(loss):
            # Stop before the optimiser spreads it into the weights; checkpoints hold the last good state.
            raise UserError(
                f"The training loss became {loss.item()} at step {self.global_step}: lower model.optimizer.lr or raise "
                "model.sigma; the last checkpoint (checkpoints_dir) keeps the last good state and the saved model was "
                "not replaced."
            )
        self._log_elbo("train", loss, reconstruction, kl)
        return loss

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        loss, reconstruction, kl = self._elbo(batch, 1.0)
        self._log_elbo("val", loss, reconstruction, kl)
        return loss

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # Lightning saves weights, optimiser and loop state but not the random generators: without them
        # a resumed run would draw other noise and shuffles than the run it continues.
        checkpoint["rng_states"] = {"torch": torch.get_rng_state(), "python": random.getstate()}
        if torch.cuda.is_available():
            checkpoint["rng_states"]["cuda"] = torch.cuda.get_rng_state_all()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        states = checkpoint.get("rng_states", {})
        if "torch" in states:
            torch.set_rng_state(states["torch"])
            random.setstate(states["python"])
        if "cuda" in states and torch.cuda.is_available():
            # A run resumed on fewer GPUs than it was saved on restores the states of the GPUs it has.
            for device, state in enumerate(states["cuda"][: torch.cuda.device_count()]):
                torch.cuda.set_rng_state(state, device)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        if self.optimizer is None:  # Lightning's load_from_checkpoint: the optimizer is config, not a saved value
            raise ValueError("this module was loaded without an optimizer: build it from the config to train it")
        return self.optimizer(self.vae.parameters())
