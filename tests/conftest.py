"""Shared fixtures: a scratch working folder and small, fast config overrides."""

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# pylint: disable-next=unused-import  # the tests' name for it
from face_vae.data.synthetic import write_celeba_layout as write_fake_celeba  # noqa: F401

# The CelebA sample the tests that need real faces read (they skip without it): FACE_VAE_CELEBA_SAMPLE, or the
# shared folder beside the project.
SHARED_SAMPLE = Path(
    os.environ.get("FACE_VAE_CELEBA_SAMPLE")
    or Path(__file__).resolve().parents[2] / "shared" / "data" / "celeba_sample"
)

# A narrow network and a few synthetic faces: a whole train run takes seconds on a CPU.
FAST_TRAIN = [
    "data=synthetic",
    "data.num_images.train=64",
    "data.num_images.val=32",
    "data.num_images.test=16",
    "data.batch_size=16",
    "model.net.channels=[8,16,32,64,128]",
    "model.net.latent_dim=16",
    "trainer.max_epochs=1",
    "trainer.log_every_n_steps=1",
    "trainer.enable_model_summary=false",
]


def subprocess_env(project_root: Path) -> dict[str, str]:
    """The environment for a commands.py subprocess: the project importable, and none of the
    MLFLOW_* variables that MLflow's fluent API sets in this process (experiment id, tracking URI)
    while earlier tests ran in it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    return {**env, "PYTHONPATH": str(project_root)}


@pytest.fixture(autouse=True)
def _no_mlflow_state_from_earlier_tests(monkeypatch: pytest.MonkeyPatch):
    """MLflow's fluent API leaves MLFLOW_EXPERIMENT_ID and MLFLOW_TRACKING_URI in os.environ."""
    for key in [key for key in os.environ if key.startswith("MLFLOW_")]:
        monkeypatch.delenv(key)


@pytest.fixture(autouse=True)
def _library_logs_to_the_process_stderr():
    """Lightning's and MLflow's log handlers keep the stream they were created with, which under
    pytest is one test's capture buffer, closed after it; point them at the process's stderr."""
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):
            if type(handler) is logging.StreamHandler:  # pylint: disable=unidiomatic-typecheck  # not FileHandler
                handler.stream = sys.__stderr__  # not setStream: it flushes the closed one


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test inside an empty folder, as a user would run the commands in the project root."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def image_array(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def error_line(capsys: pytest.CaptureFixture, command: str, overrides: list[str]) -> str:
    """Run a command that must fail; return its one printed error line (exit code 1, no traceback)."""
    from face_vae import cli

    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        cli.run(command, overrides)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err, err[-3000:]
    return err.strip().splitlines()[-1]


def answers(url: str, process: subprocess.Popen, seconds: float) -> bool:
    """Whether `url` answers within `seconds`, while the server `process` that should answer it keeps running."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(1)


def free_port() -> int:
    """A loopback port nothing listens on (for a server to start on, or one that does not answer)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RunningServer(str):
    """A server's URI that also holds its process (a test may stop it with SIGSTOP)."""

    process: subprocess.Popen

    def __new__(cls, uri: str, process: subprocess.Popen) -> "RunningServer":
        running = super().__new__(cls, uri)
        running.process = process
        return running


@pytest.fixture
def mlflow_server(tmp_path_factory):
    """An `mlflow server` on 127.0.0.1 with its own sqlite store, stopped by its PID at the end."""
    store = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    command += [
        "--backend-store-uri",
        f"sqlite:///{store}/mlflow.db",
        "--artifacts-destination",
        str(store / "artifacts"),
    ]
    # The server outlives this statement (it is stopped after the test), so no `with` here.
    server = subprocess.Popen(  # pylint: disable=consider-using-with
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    uri = f"http://127.0.0.1:{port}"
    if not answers(f"{uri}/health", server, 120):
        server.kill()
        pytest.fail("mlflow server did not start within 120 s")
    yield RunningServer(uri, server)
    os.killpg(server.pid, signal.SIGCONT)  # a test may have stopped it
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
