"""Priors by name: the densities latent codes are drawn from. `model/prior=NAME` builds one (train fits it after
training, fit_prior fits it again); the model file stores its name and state, and loading builds the same class
from them.

A VAE's aggregate posterior rarely fills N(0, I): decoding prior samples from its holes gives the blurry, odd
faces. Sampling from a density fitted to where the training images really land (the two-stage / RAE idea) avoids
them.

A new prior is one module in this folder (a `Prior` subclass with its own NAME) and its config,
face_vae/configs/model/prior/NAME.yaml. Drawing is shared: a prior that states its sampling as `arrays()` (N(0, I) or
a Gaussian mixture's weights, means and Cholesky factors) is drawn through the random stream of
serving/sample_faces.py, so infer, the served model, the ONNX export and the web page draw the same codes for a seed;
a prior that cannot returns None there, overrides `sample`, and the exports refuse it by name.
"""

from face_vae.core.models.priors.base import PRIORS, Prior, prior_class
from face_vae.core.models.priors.gmm import GaussianMixture
from face_vae.core.models.priors.normal import StandardNormal

__all__ = ["PRIORS", "GaussianMixture", "Prior", "StandardNormal", "prior_class"]
