"""Ctrl-C during fit: face_vae's own line and exit code 130, saying that resume=true continues (Lightning turns the
interrupt into exit code 1 and its own message)."""

import os
import signal

import pytest

from face_vae import cli
from face_vae.models.vae_module import VAEModule
from tests.conftest import FAST_TRAIN


def test_ctrl_c_while_fitting_says_how_to_resume_and_exits_130(workdir, capsys, monkeypatch):
    handler = signal.getsignal(signal.SIGINT)  # Lightning ignores SIGINT once interrupted: restored below
    real_step, steps = VAEModule.training_step, []

    def interrupted_on_the_second_step(self, *args, **kwargs):
        steps.append(1)
        if len(steps) == 2:
            raise KeyboardInterrupt
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(VAEModule, "training_step", interrupted_on_the_second_step)
    try:
        with pytest.raises(SystemExit) as stopped:
            cli.run("train", [*FAST_TRAIN, "tracking.enabled=false", "model_file=models/smoke.pt"])
    finally:
        signal.signal(signal.SIGINT, handler)
    assert stopped.value.code == 130
    err = capsys.readouterr().err
    assert "error: train stopped by Ctrl-C" in err and "resume=true continues" in err, err[-1500:]
    assert not (workdir / "models" / "smoke.pt").exists()


def test_sigterm_while_fitting_is_named_as_sigterm_and_exits_143(workdir, capsys, monkeypatch):
    handler = signal.getsignal(signal.SIGTERM)  # cli.run installs face_vae's: restored below
    real_step, steps = VAEModule.training_step, []

    def terminated_on_the_second_step(self, *args, **kwargs):
        steps.append(1)
        if len(steps) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(VAEModule, "training_step", terminated_on_the_second_step)
    try:
        with pytest.raises(SystemExit) as stopped:
            cli.run("train", [*FAST_TRAIN, "tracking.enabled=false", "model_file=models/smoke.pt"])
    finally:
        signal.signal(signal.SIGTERM, handler)
    assert stopped.value.code == 143
    err = capsys.readouterr().err
    assert "error: train stopped by SIGTERM" in err and "Ctrl-C" not in err and "resume=true continues" in err
    assert not (workdir / "models" / "smoke.pt").exists()
