"""Command-line entry point: `python commands.py COMMAND [key=value ...]` (installed: `face-vae COMMAND ...`).

The commands are the configs: each `configs/COMMAND.yaml` is one command, whose first comment line is its
summary, composed with the overrides and handed to `face_vae/stages/COMMAND.py`. Run
`python commands.py --help` for the list, `python commands.py COMMAND --help` for one command's keys.
"""

from face_vae.cli import main

if __name__ == "__main__":
    main()
