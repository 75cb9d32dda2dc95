"""Quiet by default: library noise filtered at the CLI edge, everything shown with debug=true."""

import os
import pty
import subprocess
import sys
from pathlib import Path

from face_vae.cli import NOISE_LINES
from tests.conftest import FAST_TRAIN, subprocess_env

ROOT = Path(__file__).resolve().parents[2]
NOISE = ("exists and is not empty", "LeafSpec", "not supported by the model summary", *NOISE_LINES)


def _train_output(workdir: Path, *extra: str) -> str:
    command = [sys.executable, str(ROOT / "commands.py"), "train", *FAST_TRAIN, "data.image_size=32", *extra]
    result = subprocess.run(command, cwd=workdir, env=subprocess_env(ROOT), capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout + result.stderr


def test_a_train_run_prints_its_own_lines_without_the_libraries_noise(workdir):
    output = _train_output(workdir)
    assert "epoch 1/1:" in output and "Saved the model to" in output
    assert not [noise for noise in NOISE if noise in output], output[-3000:]


def test_a_fresh_run_leaves_its_checkpoint_folder_empty_until_lightning_has_looked_and_debug_shows_the_filtered(
    workdir,
):
    first = _train_output(workdir, "debug=true")
    assert "exists and is not empty" not in first, "a fresh run writes its own files once fitting starts"
    assert {path.name for path in (workdir / "checkpoints").iterdir()} >= {"run.json", "run_config.yaml", "last.ckpt"}
    resumed = _train_output(workdir, "debug=true", "resume=true", "trainer.max_epochs=2")
    assert "exists and is not empty" in resumed, "on resume the folder holds the run's checkpoints: filtered by default"
    assert "exists and is not empty" not in _train_output(workdir, "resume=true", "trainer.max_epochs=3")


def test_in_a_terminal_the_bar_counts_epochs_from_one_as_the_epoch_lines_do(workdir):
    main, terminal = pty.openpty()
    command = [sys.executable, str(ROOT / "commands.py"), "train", *FAST_TRAIN, "data.image_size=32"]
    with subprocess.Popen(
        [*command, "trainer.max_epochs=2", "tracking.enabled=false"],
        cwd=workdir, env=subprocess_env(ROOT), stdout=terminal, stderr=terminal,
    ) as process:  # fmt: skip
        os.close(terminal)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal closes when the process ends
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=300) == 0
    os.close(main)
    shown = b"".join(chunks).decode(errors="replace")
    assert "Epoch 1/2" in shown and "Epoch 2/2" in shown, shown[-2000:]
    assert "Epoch 0/" not in shown and "Epoch 2/1" not in shown
