"""Ctrl-C during fit: face_vae's own line and exit code 130, saying that resume=true continues (Lightning turns the
interrupt into exit code 1 and its own message)."""

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
