"""Command-line entry point: `python commands.py COMMAND [key=value ...]` (installed: `face-vae COMMAND ...`).

The commands are registered in face_vae/core/settings.py (prepare, train) and face_vae/stages/settings.py (the
extras'): name -> settings class (whose docstring is its summary) and the module whose `run(cfg)` carries it out
(face_vae/core/train.py, face_vae/stages/COMMAND.py); each is composed with the overrides and handed to it. Run
`python commands.py --help` for the list, `python commands.py COMMAND --help` for one command's keys.
"""

from face_vae.cli import main

if __name__ == "__main__":
    main()
