"""Ctrl-C during fit: face_vae's own line and exit code 130, saying that resume=true continues (Lightning turns the
interrupt into exit code 1 and its own message)."""

import os
import signal

import pytest

from face_vae import cli
from face_vae.core.models.vae_module import VAEModule
from tests.conftest import FAST_TRAIN


def _train_stopped_on_the_second_step(monkeypatch, capsys, stop, signal_number: int) -> tuple[int, str]:
    """Train with `stop()` called on the second training step; (exit code, stderr). The handler of `signal_number`
    is restored afterwards (Lightning ignores SIGINT once interrupted; cli.run installs face_vae's for SIGTERM)."""
    handler = signal.getsignal(signal_number)
    real_step, steps = VAEModule.training_step, []

    def stopped_on_the_second_step(self, *args, **kwargs):
        steps.append(1)
        if len(steps) == 2:
            stop()
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(VAEModule, "training_step", stopped_on_the_second_step)
    try:
        with pytest.raises(SystemExit) as stopped:
            cli.run("train", [*FAST_TRAIN, "tracking.enabled=false", "model_file=models/smoke.pt"])
    finally:
        signal.signal(signal_number, handler)
    return stopped.value.code, capsys.readouterr().err


def _ctrl_c() -> None:
    raise KeyboardInterrupt


def test_ctrl_c_while_fitting_says_how_to_resume_and_exits_130(workdir, capsys, monkeypatch):
    code, err = _train_stopped_on_the_second_step(monkeypatch, capsys, _ctrl_c, signal.SIGINT)
    assert code == 130
    assert "error: train stopped by Ctrl-C" in err and "resume=true continues" in err, err[-1500:]
    assert not (workdir / "models" / "smoke.pt").exists()


def test_sigterm_while_fitting_is_named_as_sigterm_and_exits_143(workdir, capsys, monkeypatch):
    code, err = _train_stopped_on_the_second_step(
        monkeypatch, capsys, lambda: os.kill(os.getpid(), signal.SIGTERM), signal.SIGTERM
    )
    assert code == 143
    assert "error: train stopped by SIGTERM" in err and "Ctrl-C" not in err and "resume=true continues" in err
    assert not (workdir / "models" / "smoke.pt").exists()
