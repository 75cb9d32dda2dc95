"""Command-line entry point: `python commands.py COMMAND [key=value ...]`.

Each command composes its Hydra config from `configs/COMMAND.yaml` with the given overrides and
hands it to its stage. Run `python commands.py --help` for the list.
"""

import fire

from face_vae import cli


def prepare(*overrides: str) -> None:
    """Decode, crop and store the dataset once in a training-ready form (uint8 memory maps)."""
    cli.run("prepare", overrides)


def train(*overrides: str) -> None:
    """Train the VAE on the train split, validate on val, save models/vae.pt, log to MLflow."""
    cli.run("train", overrides)


def infer(*overrides: str) -> None:
    """Sample n faces from the trained VAE and write them as JPGs to result/."""
    cli.run("infer", overrides)


def evaluate(*overrides: str) -> None:
    """Score a trained model: FID, KID, face-detection rate of samples; reconstruction error of real faces."""
    cli.run("evaluate", overrides)


COMMANDS = {"prepare": prepare, "train": train, "infer": infer, "evaluate": evaluate}

if __name__ == "__main__":
    fire.Fire(COMMANDS)
