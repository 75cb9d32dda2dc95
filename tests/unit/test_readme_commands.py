"""The README's commands run as written from a fresh clone: each through Poetry's environment, each
`commands.py` line a command and keys that compose."""

import re
import shlex
from pathlib import Path

import pytest

from face_vae.config import compose

README = Path(__file__).resolve().parents[2] / "README.md"
NEEDS_THE_VENV = ("python", "pytest", "mlflow", "dvc", "torchrun", "pre-commit", "pip")


def _shell_lines() -> list[str]:
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" # ")[0].strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


LINES = _shell_lines()
COMMAND_LINES = [line for line in LINES if "commands.py " in line]


def test_the_readme_has_commands_to_check():
    assert len(COMMAND_LINES) >= 15


def test_every_tool_of_the_project_runs_through_poetry():
    """mlflow, dvc and the project's python are in Poetry's venv, not on a fresh machine's PATH."""
    bare = [line for line in LINES if line.split()[0] in NEEDS_THE_VENV]
    assert not bare, f"these need `poetry run` in front: {bare}"
    assert sum(line.startswith("poetry run ") for line in LINES) >= 30


@pytest.mark.parametrize("line", COMMAND_LINES)
def test_each_commands_py_line_names_a_command_whose_keys_compose(line):
    words = shlex.split(line.split("commands.py ", 1)[1])
    command, overrides = words[0], [word for word in words[1:] if "=" in word]
    compose(command, overrides)  # a UserError names the unknown command, key or value
