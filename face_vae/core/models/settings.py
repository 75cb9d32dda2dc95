"""The settings of the `model` group (the VAE: its net, optimizer and loss) and the priors (model/prior=gmm|normal):
defaults, rules, `--help` comments. Torch-free: the command line reads them first."""

from dataclasses import dataclass, field
from typing import Any

from face_vae.core.rules import AT_LEAST_0, POSITIVE, WIDTHS, at_least, one_of, positive, setting


@dataclass
class MixturePrior:
    """prior=gmm: a Gaussian mixture fitted to the training codes (face_vae/core/models/priors/gmm.py)."""

    _target_: str = "face_vae.core.models.priors.gmm.GaussianMixture"
    components: int = setting(200, "why 200: docs/RESULTS.md", POSITIVE)
    max_codes: int = setting(
        20000,
        "fitted to at most this many codes, drawn at random (what it costs: benchmarks/prior_fit.py)",
        at_least(2, "at least 2 (a mixture is fitted to 2 codes or more)"),
    )


@dataclass
class NormalPrior:
    """prior=normal: N(0, I), the prior the VAE is trained with; nothing to fit."""

    _target_: str = "face_vae.core.models.priors.normal.StandardNormal"


@dataclass
class ResNetSettings:
    """net=resnet (face_vae/core/models/nets/resnet.py VAE): residual encoder and decoder."""

    _target_: str = "face_vae.core.models.nets.resnet.VAE"
    image_size: Any = setting("${data.image_size}", "the data's")
    latent_dim: int = setting(128, "size of the latent code", POSITIVE)
    channels: list[int] = setting(
        [16, 32, 64, 128, 256], "one stride-2 level per entry in the residual encoder, mirrored in the decoder", WIDTHS
    )


@dataclass
class Optimizer:
    """Any torch.optim class, given the parameters by the module (`_partial_`): model.optimizer._target_=..."""

    _target_: str = setting("torch.optim.Adam")
    _partial_: bool = True
    lr: float = setting(0.001, "the learning rate", positive("a positive learning rate"))


@dataclass
class VAEModel:
    """The VAE and its training loss (face_vae/core/models/vae_module.py); net, optimizer and prior are built here and
    handed to it."""

    # The network and the prior are groups of their own inside the model: model/net=resnet|..., model.net.KEY=VALUE;
    # model/prior=gmm|normal|..., model.prior.KEY=VALUE (face_vae/core/models/nets/, face_vae/core/models/priors/).
    defaults: list[Any] = field(default_factory=lambda: ["_self_", {"net": "resnet"}, {"prior": "gmm"}])
    _target_: str = "face_vae.core.models.vae_module.VAEModule"
    net: Any = setting(None, "the network, chosen by name: model/net=resnet|...")
    optimizer: Optimizer = setting(Optimizer())
    likelihood: str = setting(
        "calibrated",
        "calibrated: sigma = the batch's RMSE each step (sigma-VAE; the winner in docs/RESULTS.md); fixed: sigma below",
        one_of("calibrated", "fixed"),
    )
    sigma: float = setting(
        0.1,
        "decoder std of the Gaussian likelihood with likelihood=fixed: balances reconstruction against KL",
        positive("positive (it is the decoder's standard deviation)"),
    )
    kl_warmup_steps: int = setting(0, "KL weight ramps 0 -> 1 over these steps (0: none)", AT_LEAST_0)
    prior: Any = setting(None, "fitted to the training codes after training, sampled by infer: model/prior=gmm|normal")
    compile: bool = setting(False, "torch.compile the VAE's forward (minutes of compilation first)")


PRIORS = {"gmm": MixturePrior, "normal": NormalPrior}
NETS = {"resnet": ResNetSettings}
