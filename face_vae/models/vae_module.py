"""The LightningModule that trains the VAE: the loss, the optimiser and what is logged."""

import random
from collections.abc import Callable
from dataclasses import dataclass

import lightning as L
import torch
from torch import nn

from face_vae.models.discriminator import diff_augment, feature_matching, hinge_discriminator_loss
from face_vae.models.vae import VAE

ADAPTIVE_WEIGHT_MAX = 1e6  # VQGAN clamps at 1e4 for a mean loss; this NLL is summed over pixels


class NonFiniteLoss(ValueError):
    """The training loss became NaN or infinite (the stage says which settings to change)."""


@dataclass
class AdversarialTerm:
    """The adversarial term's settings (`model.adversarial_*`); `weight` 0 switches it off."""

    weight: float = 0.0  # times the adaptive balance of the term against the NLL
    start: int = 0  # training batches before the term switches on
    critic_start: int = 0  # training batches before the critic starts to learn (at most `start`)
    feature_matching: float = 0.0  # weight of the critic-feature distance inside the term
    discriminator: Callable[[], nn.Module] | None = None  # builds the critic
    optimizer: Callable[..., torch.optim.Optimizer] | None = None  # the critic's optimiser, given its parameters
    augment: bool = True  # DiffAugment on everything the critic sees

    def __post_init__(self) -> None:
        if self.weight < 0 or self.feature_matching < 0:
            raise ValueError("the adversarial weight and the feature-matching weight must be 0 (off) or positive")
        if self.weight > 0 and (self.discriminator is None or self.optimizer is None):
            raise ValueError("an adversarial weight > 0 needs a discriminator and its optimizer")
        if not 0 <= self.critic_start <= self.start:
            raise ValueError(
                f"the critic must start learning before its term switches on: critic start {self.critic_start} "
                f"is not between 0 and the term's start {self.start}"
            )


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


def calibrated_laplace_scale(images: torch.Tensor, reconstructions: torch.Tensor) -> torch.Tensor:
    """The Laplace scale that maximises the batch's likelihood: the mean absolute error, held constant
    for the gradient and kept above 1e-3 (the calibrated sigma's counterpart for an L1 likelihood)."""
    return (images - reconstructions).abs().mean().detach().clamp_min(1e-3)


def laplace_nll(images: torch.Tensor, reconstructions: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of each image under Laplace(reconstruction, scale), summed over pixels,
    without the constant D * log(2); as `reconstruction_nll`, without the D * log(scale) term."""
    return (images - reconstructions).abs().flatten(1).sum(dim=1) / scale


def focal_frequency_error(images: torch.Tensor, reconstructions: torch.Tensor) -> torch.Tensor:
    """The focal frequency loss of each image (Jiang et al., ICCV 2021, alpha 1), summed, not averaged:
    the squared error of every frequency of the orthonormal 2-D FFT, weighted by that error's magnitude
    over the largest one of its image and channel (held constant for the gradient).

    With every weight at 1 it would be the pixels' squared error (Parseval); the weights leave out what
    the decoder already gets right and keep the frequencies it misses, which a blurred face's are.
    """
    spectrum = torch.fft.fft2(reconstructions - images, norm="ortho")  # the FFT is linear: one transform
    distance = spectrum.real.square() + spectrum.imag.square()
    magnitude = distance.sqrt().detach()
    weight = magnitude / magnitude.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    return (weight * distance).flatten(1).sum(dim=1)


# The likelihoods whose scale is fitted to each batch: (the fitted scale, the NLL at that scale).
CALIBRATED = {"calibrated": (calibrated_sigma, reconstruction_nll), "laplace": (calibrated_laplace_scale, laplace_nll)}


class VAEModule(L.LightningModule):
    """Maximises the ELBO: loss = reconstruction NLL + beta * KL, both per image, averaged over the batch.

    likelihood `fixed` uses the decoder sigma given; `calibrated` sets it to the batch's RMSE each step;
    `laplace` is the calibrated L1 likelihood: a Laplace whose scale is the batch's mean absolute error.
    The L1 error is the median's loss, not the mean's: where the decoder is unsure (an edge here or a
    pixel beside), it pulls towards one of the outcomes instead of their blurred average.

    `frequency_weight` > 0 adds the focal frequency loss in the likelihood's units: over twice the
    batch's mean squared error, as the calibrated sigma's NLL divides the squared error by 2 sigma^2; 1 is
    the paper's balance (the two terms of equal scale).

    beta ramps from 0 to 1 over `kl_warmup_steps` (0: no warm-up), so the decoder learns to
    reconstruct before the KL term pulls the codes towards the prior.

    With `adversarial_weight > 0` a patch discriminator joins (the VAE-GAN family): from batch
    `adversarial_start` on, the decoder also minimises the hinge generator loss on its reconstructions
    plus `feature_matching` x the distance of their discriminator features to the real images'. That
    term's weight is set each step as VQGAN does: the ratio of the NLL's gradient norm to the term's at
    the decoder's last layer, times `adversarial_weight`, so neither swamps the other as sigma moves.
    The two networks then have their own optimisers, stepped by hand each batch; the discriminator's
    from batch `critic_start` (<= `adversarial_start`), so it is already a critic when its term switches
    on. A late `critic_start` leaves the batches before it at the plain VAE's cost.
    """

    # The config's knobs, each passed by name (keyword-only) by Hydra's instantiate.
    def __init__(  # pylint: disable=too-many-arguments
        self,
        vae: VAE,
        optimizer: Callable[..., torch.optim.Optimizer],
        *,
        sigma: float = 0.1,
        kl_warmup_steps: int = 0,
        channels_last: bool = False,
        likelihood: str = "fixed",
        compile_model: bool = False,
        adversarial: AdversarialTerm | None = None,
        frequency_weight: float = 0.0,
    ):
        super().__init__()
        if likelihood != "fixed" and likelihood not in CALIBRATED:
            raise ValueError(f"likelihood must be fixed, calibrated or laplace, not {likelihood!r}")
        if sigma <= 0:
            raise ValueError(f"sigma must be positive (it is the decoder's standard deviation), not {sigma}")
        self.vae = vae.to(memory_format=torch.channels_last) if channels_last else vae
        self.optimizer = optimizer
        self.sigma = sigma
        self.kl_warmup_steps = kl_warmup_steps
        self.channels_last = channels_last
        self.likelihood = likelihood
        self.frequency_weight = frequency_weight
        # torch.compile'd forward, kept outside the module tree so checkpoints hold plain `vae.*` weights.
        object.__setattr__(self, "_forward", torch.compile(self.vae) if compile_model else self.vae)
        self.adversarial = adversarial or AdversarialTerm()
        self.discriminator: nn.Module | None = None
        if self.adversarial.weight > 0:
            self.automatic_optimization = False
            self.discriminator = self.adversarial.discriminator()
            if channels_last:
                self.discriminator = self.discriminator.to(memory_format=torch.channels_last)

    @property
    def leaves_parameters_unused(self) -> bool:
        """Under DDP the critic is outside the VAE's loss before `start`, and the VAE outside the critic's
        loss: DDP must be told to look for parameters a backward pass leaves out."""
        return self.discriminator is not None

    @property
    def network(self) -> VAE:
        """What `train` saves and samples from."""
        return self.vae

    @property
    def batches_done(self) -> int:
        """Training batches so far (Lightning's global_step counts optimiser steps: two per batch here once
        the discriminator trains, from batch `critic_start` on)."""
        steps = self.global_step
        if self.discriminator is None or steps <= self.adversarial.critic_start:
            return steps
        return self.adversarial.critic_start + (steps - self.adversarial.critic_start) // 2

    def kl_weight(self) -> float:
        """beta for the current training step."""
        if self.kl_warmup_steps <= 0:
            return 1.0
        return min(1.0, self.batches_done / self.kl_warmup_steps)

    def _elbo(self, images: torch.Tensor, beta: float) -> tuple[torch.Tensor, ...]:
        """(loss, reconstruction NLL, KL, reconstructions) of a batch, each loss averaged over images."""
        reconstructions, mean, log_var = self._forward(images)
        reconstructions_float = reconstructions.float()
        if self.likelihood in CALIBRATED:
            # With the scale fitted to the batch, the NLL's D * log(scale) term is what moves: keep it.
            fit_scale, nll = CALIBRATED[self.likelihood]
            scale = fit_scale(images, reconstructions_float)
            reconstruction = (nll(images, reconstructions_float, scale) + images[0].numel() * scale.log()).mean()
        else:
            reconstruction = reconstruction_nll(images, reconstructions_float, self.sigma).mean()
        kl = kl_divergence(mean.float(), log_var.float()).mean()
        loss = reconstruction + beta * kl
        if self.frequency_weight > 0:
            variance = calibrated_sigma(images, reconstructions_float).square()  # the batch MSE, held constant
            loss = loss + self.frequency_weight * focal_frequency_error(images, reconstructions_float).mean() / (
                2 * variance
            )
        return loss, reconstruction, kl, reconstructions

    def _check_finite(self, loss: torch.Tensor) -> None:
        if not torch.isfinite(loss):
            # Stop before the optimiser spreads it into the weights; checkpoints hold the last good state.
            raise NonFiniteLoss(f"The training loss became {loss.item()} at step {self.global_step}")

    def _layout(self, images: torch.Tensor) -> torch.Tensor:
        return images.contiguous(memory_format=torch.channels_last) if self.channels_last else images

    def _log_elbo(self, stage: str, loss: torch.Tensor, reconstruction: torch.Tensor, kl: torch.Tensor) -> None:
        on_step = stage == "train"
        self.log(f"loss_{stage}", loss, prog_bar=True, on_step=on_step, on_epoch=True)
        self.log(f"reconstruction_{stage}", reconstruction, on_step=on_step, on_epoch=True)
        self.log(f"kl_{stage}", kl, on_step=on_step, on_epoch=True)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor | None:
        if self.discriminator is not None:
            self._adversarial_step(self._layout(batch))
            return None
        loss, reconstruction, kl, _ = self._elbo(self._layout(batch), self.kl_weight())
        self._check_finite(loss)
        self._log_elbo("train", loss, reconstruction, kl)
        return loss

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        loss, reconstruction, kl, _ = self._elbo(self._layout(batch), 1.0)
        self._log_elbo("val", loss, reconstruction, kl)
        return loss

    def _adversarial_step(self, images: torch.Tensor) -> None:
        """One batch of manual optimisation: the VAE (ELBO + balanced adversarial term), then the critic."""
        vae_optimizer, discriminator_optimizer = self.optimizers()
        batch = self.batches_done  # before the VAE's step counts in global_step
        loss, reconstruction, kl, reconstructions = self._elbo(images, self.kl_weight())
        elbo = loss
        if batch >= self.adversarial.start:
            term, generator_loss = self._adversarial_term(images, reconstructions)
            weight = self._adaptive_weight(reconstruction, term)
            loss = loss + weight * term
            self.log("adversarial_generator", generator_loss, on_step=True, on_epoch=True)
            self.log("adversarial_weight", weight, on_step=True, on_epoch=True)
        self._check_finite(loss)
        vae_optimizer.zero_grad()
        self.manual_backward(loss)
        vae_optimizer.step()
        self._log_elbo("train", elbo, reconstruction, kl)
        if batch >= self.adversarial.critic_start:
            self._critic_step(discriminator_optimizer, images, reconstructions)

    def _critic_step(
        self, optimizer: torch.optim.Optimizer, images: torch.Tensor, reconstructions: torch.Tensor
    ) -> None:
        """One step of the discriminator's hinge loss: real images against the (detached) reconstructions."""
        real, fake = [images, reconstructions.detach()]
        if self.adversarial.augment:
            real, fake = diff_augment([real, fake])
        critic_loss = hinge_discriminator_loss(
            self.discriminator(real)[0].float(), self.discriminator(fake.detach())[0].float()
        )
        self._check_finite(critic_loss)
        optimizer.zero_grad()
        self.manual_backward(critic_loss)
        optimizer.step()
        self.log("adversarial_discriminator", critic_loss, on_step=True, on_epoch=True)

    def _adversarial_term(
        self, images: torch.Tensor, reconstructions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(generator loss + feature matching, generator loss) of the reconstructions, through the critic."""
        real, fake = diff_augment([images, reconstructions]) if self.adversarial.augment else [images, reconstructions]
        fake_logits, fake_features = self.discriminator(fake)
        generator_loss = -fake_logits.float().mean()
        if self.adversarial.feature_matching <= 0:
            return generator_loss, generator_loss
        with torch.no_grad():
            real_features = self.discriminator(real)[1]
        matching = feature_matching(real_features, fake_features).float()
        self.log("feature_matching", matching, on_step=True, on_epoch=True)
        return generator_loss + self.adversarial.feature_matching * matching, generator_loss

    def _adaptive_weight(self, reconstruction: torch.Tensor, term: torch.Tensor) -> torch.Tensor:
        """adversarial_weight x |grad NLL| / |grad term| at the decoder's last layer (VQGAN's balance)."""
        last_layer = self.vae.decoder.last_layer
        nll_grad = torch.autograd.grad(reconstruction, last_layer, retain_graph=True)[0]
        term_grad = torch.autograd.grad(term, last_layer, retain_graph=True)[0]
        ratio = nll_grad.norm() / (term_grad.norm() + 1e-4)
        return (ratio.clamp(0, ADAPTIVE_WEIGHT_MAX) * self.adversarial.weight).detach()

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
            torch.cuda.set_rng_state_all(states["cuda"])

    def configure_optimizers(self) -> torch.optim.Optimizer | list[torch.optim.Optimizer]:
        if self.discriminator is None:
            return self.optimizer(self.vae.parameters())
        return [self.optimizer(self.vae.parameters()), self.adversarial.optimizer(self.discriminator.parameters())]
