"""One file per trained generator (a VAE or the DCGAN baseline): architecture, weights, latent mixture."""

import hashlib
import pickle
import zipfile
from pathlib import Path

import torch
from torch import nn

from face_vae import atomic
from face_vae.errors import UserError
from face_vae.models.dcgan import DCGAN
from face_vae.models.vae import VAE

# What `format` says in a file -> the class that rebuilds it from its hparams.
NETWORKS: dict[str, type[nn.Module]] = {VAE.FORMAT: VAE, DCGAN.FORMAT: DCGAN}
# A VAE file written before `architecture` was an argument holds the conv model.
BEFORE_ARCHITECTURES: dict[str, dict] = {VAE.FORMAT: {"architecture": "conv"}}


def save_model(network: VAE | DCGAN, path: Path) -> None:
    """Save the architecture and weights (on CPU) in one file that `load_model` reads anywhere."""
    state = {name: tensor.cpu() for name, tensor in network.state_dict().items()}
    with atomic.atomic_path(path) as tmp_path:
        saved = {"format": network.FORMAT, "hparams": network.hparams, "state_dict": state}
        saved["latent_density"] = network.latent_density
        saved["latent_flow"] = getattr(network, "latent_flow", None)  # the DCGAN has none
        torch.save(saved, tmp_path)


def load_model(path: Path) -> VAE | DCGAN:
    """Load a model saved by `save_model`, on the CPU, in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"There is no model at {path}: train one with `python commands.py train` or pull it with DVC.")
    if not zipfile.is_zipfile(path):  # every torch.save file since torch 1.6 is a zip archive
        raise UserError(
            f"{path} is not a model file saved by face_vae (it is not a torch archive): point model_file at a "
            "models/*.pt written by `train`, or pull models.dvc."
        )
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        network = NETWORKS[saved["format"]](**(BEFORE_ARCHITECTURES.get(saved["format"], {}) | saved["hparams"]))
        network.load_state_dict(saved["state_dict"])
        network.latent_density = saved.get("latent_density")
        if isinstance(network, VAE):
            network.latent_flow = saved.get("latent_flow")
    except (RuntimeError, KeyError, TypeError, EOFError, ValueError, pickle.UnpicklingError) as error:
        raise UserError(
            f"{path} is not a model saved by face_vae train, or is damaged ({str(error).splitlines()[0]}): "
            "train again or pull models.dvc."
        ) from error
    return network.eval()


def require_encoder(network: VAE | DCGAN, path: Path, task: str) -> VAE:
    """The model itself when it can encode photos; a UserError for the DCGAN, which cannot."""
    if not isinstance(network, VAE):
        raise UserError(
            f"{path} is a DCGAN, which has no encoder, so it cannot {task}: use a VAE's model_file "
            "(trained with the default model=vae)."
        )
    return network


def file_md5(path: Path) -> str:
    """The md5 of a model file: what a classifier of its codes records, to refuse another model's."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "md5").hexdigest()
