"""Command-line entry point: `python commands.py COMMAND [key=value ...]`.

Each command composes its Hydra config from `configs/COMMAND.yaml` with the given overrides and
hands it to its stage. Run `python commands.py --help` for the list.
"""

import fire

from face_vae import cli
from face_vae.config import config_help


def download(*overrides: str) -> None:
    """Fetch CelebA's official files (aligned images zip, partition, attributes) into data.source_dir, MD5-checked."""
    cli.run("download", overrides)


def prepare(*overrides: str) -> None:
    """Decode, crop and store the dataset once in a training-ready form (uint8 memory maps)."""
    cli.run("prepare", overrides)


def train(*overrides: str) -> None:
    """Train the VAE on the train split, validate on val, save models/vae.pt, log to MLflow."""
    cli.run("train", overrides)


def infer(*overrides: str) -> None:
    """Sample n faces from the trained model and write them as JPGs to result/ (attributes= steers them)."""
    cli.run("infer", overrides)


def evaluate(*overrides: str) -> None:
    """Score a trained model: FID, KID, face-detection rate of samples; reconstruction error of real faces."""
    cli.run("evaluate", overrides)


def train_classifier(*overrides: str) -> None:
    """Train a classifier of CelebA's 40 attributes on the VAE's codes; print its per-attribute scores."""
    cli.run("train_classifier", overrides)


def reconstruct(*overrides: str) -> None:
    """Encode real photos (input=FOLDER or FILE) and write original | reconstruction JPGs to result/."""
    cli.run("reconstruct", overrides)


def interpolate(*overrides: str) -> None:
    """Walk the latent space between two photos (start=, end=) or two samples: a strip JPG and a GIF."""
    cli.run("interpolate", overrides)


COMMANDS = {
    "download": download,
    "prepare": prepare,
    "train": train,
    "infer": infer,
    "evaluate": evaluate,
    "train_classifier": train_classifier,
    "reconstruct": reconstruct,
    "interpolate": interpolate,
}

for _name, _command in COMMANDS.items():
    # `python commands.py train --help` lists the command's keys, defaults and comments, and its groups.
    _command.__doc__ = f"{_command.__doc__}\n\n{config_help(_name)}"

if __name__ == "__main__":
    fire.Fire(COMMANDS)
