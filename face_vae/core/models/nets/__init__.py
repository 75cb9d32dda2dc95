"""Networks by name. `model/net=NAME` builds the class registered as NAME; a model file stores that name and the
arguments the network was built with, and loading builds the same class again from them (nanoGPT's `model_args`).

A new network is one module in this folder and its config, face_vae/configs/model/net/NAME.yaml (`_target_` and its
arguments). The module registers its class with `@register("NAME")`; the class takes its sizes as keyword arguments
(a new argument with a default leaves older model files loadable) and offers what every command uses:

    image_size, latent_dim     the pictures it reads and makes, the size of its codes
    forward(images)            (reconstruction, mean, log_var) of a batch: what training maximises the ELBO of
    encode(images)             the mean code of each image in [0, 1]
    decode(codes)              images in [0, 1] (float32) decoded from codes

Modules are found by name only in this folder: a model file can name a network, never code to import.
"""

import inspect
from collections.abc import Callable
from functools import wraps
from typing import Any

from face_vae.core.by_name import registered

NETWORKS: dict[str, type] = {}


def register(name: str) -> Callable[[type], type]:
    """Register a network class as `name`; each instance records the arguments it was built with as `config`."""

    def add(cls: type) -> type:
        signature = inspect.signature(cls.__init__)
        built = cls.__init__

        @wraps(built)
        def init(self, *args: Any, **kwargs: Any) -> None:
            arguments = signature.bind(self, *args, **kwargs)
            arguments.apply_defaults()
            built(self, *args, **kwargs)
            # After nn.Module.__init__ has run, so the dict is a plain attribute; lists as lists (tuples and
            # ListConfig from Hydra would not survive torch's weights-only load).
            self.config = {key: _plain(value) for key, value in list(arguments.arguments.items())[1:]}

        cls.__init__ = init
        cls.NAME = name
        NETWORKS[name] = cls
        return cls

    return add


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig":
        return [_plain(item) for item in value]
    return value


def network_class(name: str) -> type:
    """The network registered as `name`, looked up among the modules of this folder."""
    advice = "add its module to face_vae/core/models/nets/ or use a model file of a known network"
    return registered(NETWORKS, name, [__name__], "network", advice)


def build_network(name: str, config: dict) -> Any:
    """The network `name` built from the arguments a model file or checkpoint recorded."""
    return network_class(name)(**config)
