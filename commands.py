"""Command-line entry point: `python commands.py COMMAND [key=value ...]`.

The commands are the configs: each `configs/COMMAND.yaml` is one command, whose first comment line is its
summary, composed with the overrides and handed to `face_vae/stages/COMMAND.py`. Run
`python commands.py --help` for the list, `python commands.py COMMAND --help` for one command's keys.
"""

import sys
from collections.abc import Callable

import fire

from face_vae import cli
from face_vae.config import command_names, command_summary, config_help


def _command(name: str) -> Callable[..., None]:
    def command(*overrides: str) -> None:
        cli.run(name, overrides)

    command.__name__ = name
    # `--help` shows the summary, then the command's keys, defaults and comments, and its groups.
    command.__doc__ = f"{command_summary(name)}\n\n{config_help(name)}"
    return command


COMMANDS = {name: _command(name) for name in command_names()}

if __name__ == "__main__":
    # Words after the command that fire would act on only after running it (`--help`, `-m`, ...) are answered
    # or refused here first: asking for help never trains.
    cli.answer_flags(sys.argv[1:], COMMANDS)
    fire.Fire(COMMANDS)
