"""The README's (and docs/'s) commands run as written from a fresh clone: each through Poetry's environment, each
`commands.py` line a command and keys that compose."""

import re
import shlex
from pathlib import Path

import pytest

from face_vae.core.config import compose

ROOT = Path(__file__).resolve().parents[2]
# The README and what moved out of it; docs/RESULTS.md is left out: its rows name the commit their commands ran at.
DOCUMENTS = [ROOT / "README.md", *sorted(path for path in (ROOT / "docs").glob("*.md") if path.name != "RESULTS.md")]
NEEDS_THE_VENV = ("python", "pytest", "mlflow", "dvc", "torchrun", "pre-commit", "pip")


def _shell_lines() -> list[str]:
    lines = []
    text = "\n".join(path.read_text(encoding="utf-8") for path in DOCUMENTS)
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" # ")[0].strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


LINES = _shell_lines()
COMMAND_LINES = [line for line in LINES if "commands.py " in line]


def test_the_commands_checked_are_read_from_the_readme_and_docs():
    """The parser finds the quick start's and docs/'s lines, so the checks below are not run over nothing."""
    assert "poetry run python commands.py train data=synthetic trainer.max_epochs=2" in COMMAND_LINES
    assert "poetry run python commands.py pull storage.remote=local targets=[models.dvc]" in COMMAND_LINES
    assert any(line.startswith("poetry run dvc ") for line in LINES)


def test_every_tool_of_the_project_runs_through_poetry():
    """mlflow, dvc and the project's python are in Poetry's venv, not on a fresh machine's PATH."""
    bare = [line for line in LINES if line.split()[0] in NEEDS_THE_VENV]
    assert not bare, f"these need `poetry run` in front: {bare}"


@pytest.mark.parametrize("line", COMMAND_LINES)
def test_each_commands_py_line_names_a_command_whose_keys_compose(line):
    words = shlex.split(line.split("commands.py ", 1)[1])
    command, overrides = words[0], [word for word in words[1:] if "=" in word]
    compose(command, overrides)  # a UserError names the unknown command, key or value


def test_the_readme_stays_short_enough_to_read():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    prose, in_code = [], False
    for line in lines:
        in_code = in_code != line.startswith("```")
        if not in_code and not line.startswith("```"):
            prose.append(line)
    assert len(lines) <= 300 and max(len(line) for line in prose) <= 200
