"""Credentials in a tracking or DVC URI work and are never written: not to stderr, the params, the config
artifact or run_config.yaml, and a DVC remote's error masks them."""

import base64
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from face_vae import cli, credentials
from face_vae.core.config import compose
from face_vae.core.errors import UserError
from face_vae.stages.shared import tracking_uri
from tests.conftest import FAST_TRAIN, error_line, free_port


@pytest.fixture(autouse=True)
def _own_lock_folder(tmp_path_factory, monkeypatch):
    """Locks and the registry cache in the test's own folder (they live under XDG_CACHE_HOME)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


# ---- credentials in a URI work and are never written ---------------------------------------------------------


class _BasicAuthHealth(http.server.BaseHTTPRequestHandler):
    """/health answers 200 to alice:s3cret only, 401 to anyone else."""

    def do_GET(self):  # noqa: N802  # http.server's name  # pylint: disable=invalid-name
        expected = "Basic " + base64.b64encode(b"alice:s3cret").decode()
        self.send_response(200 if self.headers.get("Authorization") == expected else 401)
        self.end_headers()

    def log_message(self, *args):  # quiet
        del args


def test_credentials_in_the_tracking_uri_reach_the_server_and_stay_out_of_the_config(workdir):
    server = http.server.HTTPServer(("127.0.0.1", 0), _BasicAuthHealth)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        cfg = compose("infer", [f"tracking.uri=http://alice:s3cret@127.0.0.1:{port}"])
        assert cfg.tracking.uri == f"http://***@127.0.0.1:{port}", "the config (logged, saved) holds no password"
        assert tracking_uri(cfg) == f"http://127.0.0.1:{port}", "the server answered with the credentials"
        assert os.environ["MLFLOW_TRACKING_USERNAME"] == "alice" and os.environ["MLFLOW_TRACKING_PASSWORD"] == "s3cret"
        os.environ["MLFLOW_TRACKING_PASSWORD"] = "wrong"
        with pytest.raises(UserError, match=r"refused the credentials \(401"):
            tracking_uri(cfg)
    finally:
        server.shutdown()


def test_a_password_never_reaches_stderr_params_the_config_artifact_or_run_config(workdir, capfd):
    dead = f"http://alice:s3cret@127.0.0.1:{free_port()}"
    words = [f"tracking.uri={dead}", "tracking.fallback_local=true", "tracking.health_timeout_s=1"]
    cli.run("train", [*FAST_TRAIN, *words])
    assert "s3cret" not in "".join(capfd.readouterr())
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("train_VAE").experiment_id])
    assert run.data.params["tracking.uri"] == dead.replace("alice:s3cret", "***")
    assert "s3cret" not in json.dumps(run.data.params)
    assert "s3cret" not in Path(client.download_artifacts(run.info.run_id, "config.yaml")).read_text("utf-8")
    assert "s3cret" not in (workdir / "checkpoints" / "run_config.yaml").read_text()


def test_a_dvc_remote_url_with_credentials_is_masked_in_the_error(workdir, capsys):
    subprocess.run(["git", "init", "-q"], check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], check=True)
    subprocess.run([sys.executable, "-m", "dvc", "remote", "add", "-d", "web", "https://bob:hunter2@127.0.0.1:9/s"],
                   check=True)  # fmt: skip
    Path("data.dvc").write_text("outs:\n- md5: 0123456789abcdef0123456789abcdef.dir\n  path: data\n")
    line = error_line(capsys, "prepare", ["data.source_dir=data/celeba"])
    assert "hunter2" not in line and "bob" not in line, line


def test_the_fallback_stores_credentials_never_reach_the_server_nor_the_servers_the_fallback(workdir, monkeypatch):
    del workdir
    server = http.server.HTTPServer(("127.0.0.1", 0), _BasicAuthHealth)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        cfg = compose(
            "infer",
            [f"tracking.uri=http://alice:s3cret@127.0.0.1:{port}", "tracking.local_uri=http://bob:other@127.0.0.1:9"],
        )
        assert tracking_uri(cfg) == f"http://127.0.0.1:{port}", "the server got alice's password, not bob's"
        assert cfg.tracking.local_uri == "http://***@127.0.0.1:9"
    finally:
        server.shutdown()
    dead = free_port()
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    cfg = compose(
        "infer",
        [
            f"tracking.uri=http://alice:s3cret@127.0.0.1:{dead}",
            "tracking.local_uri=http://bob:other@127.0.0.1:9",
            "tracking.fallback_local=true",
            "tracking.health_timeout_s=1",
        ],
    )
    assert tracking_uri(cfg) == "http://127.0.0.1:9"
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "bob" and os.environ["MLFLOW_TRACKING_PASSWORD"] == "other"
    cfg = compose("infer", [f"tracking.uri=http://alice:s3cret@127.0.0.1:{dead}", "tracking.fallback_local=true"])
    tracking_uri(cfg)
    assert "MLFLOW_TRACKING_PASSWORD" not in os.environ, "a fallback without credentials gets none of the server's"


@pytest.mark.parametrize("password", ["pa/ss", "pa?ss", "pa#ss"])
def test_a_password_a_url_must_encode_is_one_sentence_that_does_not_show_it(workdir, capsys, password):
    del workdir
    with pytest.raises(SystemExit):
        cli.run("infer", [f"tracking.uri=http://alice:{password}@127.0.0.1:5000"])
    err = capsys.readouterr().err
    assert ("percent-encode" in err or "quote" in err) and "Traceback" not in err
    assert password not in err and password[2:] not in err


def test_a_password_beyond_ascii_works_quoted_and_is_not_echoed_unquoted(workdir, capsys):
    del workdir
    cfg = compose("infer", ["tracking.uri='http://alice:пароль@127.0.0.1:5000'"])
    assert cfg.tracking.uri == "http://***@127.0.0.1:5000"
    header = credentials.basic_auth_header()["Authorization"]
    assert base64.b64decode(header.split()[1]) == "alice:пароль".encode(), "sent as its UTF-8 bytes"
    with pytest.raises(SystemExit):
        cli.run("infer", ["tracking.uri=http://alice:пароль@127.0.0.1:5000"])
    err = capsys.readouterr().err
    assert "quote" in err and "пароль" not in err
