"""One file per trained model: the network's registered name and the arguments it was built with, its weights, and
the prior's name and state. Loading builds the same network and prior again by name."""

import hashlib
import logging
import pickle
import zipfile
from pathlib import Path

import torch

from face_vae.core import atomic
from face_vae.core.errors import UserError
from face_vae.core.models.nets import build_network
from face_vae.core.models.priors import GaussianMixture, Prior, StandardNormal, prior_class

log = logging.getLogger(__name__)
MODEL_FORMAT = "face_vae.VAE/2"
# The format of the model models.dvc holds: `latent_density`/`latent_flow` dicts and an `architecture` key.
FIRST_VAE_FORMAT = "face_vae.VAE/1"
DEFAULT_NETWORK = "resnet"  # files written before the network's name was recorded hold this one


def save_model(  # pylint: disable=too-many-arguments  # the network, where, then what it records of its making
    network: torch.nn.Module, path: Path, trained_on: str = "celeba", data: dict | None = None, run_id: str = ""
) -> None:
    """Save the network (its name, arguments and weights, on CPU) and its prior in one file that `load_model`
    reads anywhere; `trained_on` names the data (`synthetic` for a smoke run), so that a smoke run never replaces a
    real model, and `data` is the recipe of the crops it learnt from (kind, image size, crop, split), so that the
    commands that read faces for it can say what they need; `run_id` is the MLflow run that trained it (evaluate
    logs its scores there too)."""
    state = {name: tensor.cpu() for name, tensor in network.state_dict().items()}
    saved = {"format": MODEL_FORMAT, "network": network.NAME, "hparams": network.config, "state_dict": state}
    saved["trained_on"] = trained_on
    if data is not None:
        saved["data"] = data
    if run_id:
        saved["mlflow_run_id"] = run_id
    saved["prior"] = network.prior.to_state()
    saved["checksum"] = tensors_checksum(state)
    saved["prior_checksum"] = tensors_checksum(_prior_tensors(saved["prior"]))
    write_torch_file(saved, path, "or choose another model_file")


def write_torch_file(content: dict, path: Path, then: str) -> None:
    """`torch.save` under a temporary name beside `path`, renamed over it once complete; a failed write is a
    UserError whose advice ends with `then`."""
    with atomic.atomic_path(Path(path)) as tmp_path:
        try:
            torch.save(content, tmp_path)
        except RuntimeError as error:  # torch's zip writer reports a failed write (a full disk) this way
            raise UserError(
                f"Cannot write {path} ({str(error).splitlines()[0]}): the disk may be full; free some space {then}."
            ) from error


def load_model(path: Path) -> torch.nn.Module:
    """The network saved by `save_model` (or in the first format), on the CPU, in eval mode, with its prior as
    `.prior`."""
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
        if saved["format"] == FIRST_VAE_FORMAT:
            saved = _from_first_format(saved, path)
        _check_weights(saved, path)
        if saved["format"] != MODEL_FORMAT:
            raise UserError(f"{path} holds a {saved['format']} file, not a VAE: use a model file written by train.")
        network = build_network(saved.get("network", DEFAULT_NETWORK), saved["hparams"])
        network.load_state_dict(saved["state_dict"])
        network.prior = _prior(saved, network.latent_dim, path)
    # A hand-made file (a bare tensor, an empty `channels`) fails in any of these ways inside torch or the VAE.
    except (
        RuntimeError, KeyError, TypeError, EOFError, ValueError, IndexError, AttributeError, ZeroDivisionError,
        pickle.UnpicklingError,
    ) as error:  # fmt: skip
        raise UserError(
            f"{path} is not a model saved by face_vae train, or is damaged ({str(error).splitlines()[0]}): "
            "train again or pull models.dvc."
        ) from error
    return network.eval()


def tensors_checksum(state: dict[str, torch.Tensor]) -> str:
    """The sha256 of the tensors' names, shapes, types and bytes, in name order: what `save_model` records."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _check_weights(saved: dict, path: Path) -> None:
    """Refuse weights that changed since `save_model` wrote them, or that hold NaN or infinity (every face black)."""
    state = saved["state_dict"]
    if "checksum" in saved and tensors_checksum(state) != saved["checksum"]:
        raise UserError(
            f"{path} has changed since it was saved (its weights do not match the checksum it records): pull or "
            "train it again."
        )
    broken = [name for name, tensor in state.items() if tensor.is_floating_point() and not torch.isfinite(tensor).all()]
    if broken:
        raise UserError(
            f"{path} holds weights that are not finite (NaN or infinity in {broken[0]}"
            f"{f' and {len(broken) - 1} more' if len(broken) > 1 else ''}): it would draw black faces; train again."
        )


def _prior(saved: dict, latent_dim: int, path: Path) -> Prior:
    """The stored prior as its own class, refused in one sentence when it would draw nonsense: arrays of the wrong
    kind or size, NaN, infinity, huge values, or a change since it was saved."""
    state = saved.get("prior") or saved.get("latent_density")  # the first format's name for the prior
    if not state:
        return StandardNormal(latent_dim)
    if not isinstance(state, dict):
        raise UserError(f"{path} holds a prior that is not one face_vae saves: train again or run fit_prior on it.")
    checksum = saved.get("prior_checksum")
    if checksum is not None and tensors_checksum(_prior_tensors(state)) != checksum:
        raise UserError(
            f"{path} has changed since it was saved (its prior does not match the checksum it records): pull it, "
            "refit it with `python commands.py fit_prior`, or train again."
        )
    prior_type = prior_class(str(state.get("name", GaussianMixture.NAME)))  # the first format's mixture has no name
    problem = prior_type.state_problem(state, latent_dim)
    if problem:
        raise UserError(f"{path} holds {problem}: refit it with `python commands.py fit_prior`, or train again.")
    return prior_type.from_state(state)


def _prior_tensors(state: dict) -> dict[str, torch.Tensor]:
    return {key: value for key, value in state.items() if isinstance(value, torch.Tensor)}


def _from_first_format(saved: dict, path: Path) -> dict:
    """A file in the first format (what models.dvc holds), in today's terms."""
    hparams = dict(saved["hparams"])
    if hparams.pop("architecture", "conv") != "resnet":  # files before the argument existed held the conv model
        raise UserError(f"{path} holds a network face_vae no longer builds (the `conv` decoder): train a new model.")
    if saved.get("latent_flow"):
        instead = "its Gaussian mixture" if saved.get("latent_density") else "N(0, I)"
        log.warning("%s also holds a latent flow, which face_vae no longer samples: drawing from %s.", path, instead)
    return saved | {"format": MODEL_FORMAT, "network": DEFAULT_NETWORK, "hparams": hparams}
