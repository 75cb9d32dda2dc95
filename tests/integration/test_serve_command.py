"""`serve`: MLflow's scoring server for a registered version, behind a body-size and a nesting limit: a hostile body
is one sentence (413 or 400) before MLflow reads it, and the server goes on answering."""

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
import pytest

from benchmarks.serve_load import tiny_registered_model
from face_vae.serving import guard
from face_vae.serving.face_generator import face_jpegs_from_response
from tests.conftest import answers, error_line, free_port, subprocess_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A scratch MLflow store holding a tiny face_generator registered as models:/serve_load/1."""
    folder = tmp_path_factory.mktemp("serve")
    try:
        tiny_registered_model(folder)
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
        os.environ.pop("MLFLOW_REGISTRY_URI", None)
    return folder


@pytest.fixture(scope="module")
def server(store):
    """`python commands.py serve` on a free loopback port; its URL."""
    port = free_port()
    env = subprocess_env(ROOT) | {"XDG_CACHE_HOME": str(store / "cache")}
    command = [sys.executable, str(ROOT / "commands.py"), "serve", "model_uri=models:/serve_load/1",
               f"tracking.uri=sqlite:///{store}/mlflow.db", f"port={port}"]  # fmt: skip
    with open(store / "serve.log", "wb") as log_file:
        # pylint: disable-next=consider-using-with  # stopped at the end of the module
        process = subprocess.Popen(command, cwd=store, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        assert answers(f"{url}/ping", process, 180), (store / "serve.log").read_text()[-3000:]
        yield url
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=60)


def _post(url: str, body: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_a_request_is_answered_with_faces(server):
    status, answer = _post(server, b'{"dataframe_records": [{"n": 2, "seed": 0}]}')
    assert status == 200
    assert [jpeg[:2] for jpeg in face_jpegs_from_response(json.loads(answer))] == [b"\xff\xd8", b"\xff\xd8"]


@pytest.mark.parametrize(
    "body, status, said",
    [
        (b'{"dataframe_records": [{"n": 1, "attributes": "' + b"x" * 10_000_000 + b'"}]}', 413,
         "The body is 10,000,0"),
        (b'{"dataframe_records": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400,
         "The body's JSON is nested 100,001 deep, more than 32"),
        (b"not json " + b"y" * 100_000, 400, "The body is not JSON (Expecting value at line 1, column 1)"),
    ],
    ids=["10 MB body", "nested 100,000 deep", "not JSON"],
)  # fmt: skip
def test_a_hostile_body_is_one_sentence_and_the_server_goes_on(server, body, status, said):
    answered, answer = _post(server, body)
    assert answered == status
    message = json.loads(answer)["message"]
    assert message.startswith(said) and len(answer) < 300, message[:300]  # nothing echoed back
    assert _post(server, b'{"dataframe_records": [{"n": 1}]}')[0] == 200


def test_a_bad_value_is_still_mlflows_400_from_the_model(server):
    status, answer = _post(server, b'{"dataframe_records": [{"n": 1.5}]}')
    assert status == 400 and '"n" must be a whole number of at least 1, not 1.5' in json.loads(answer)["message"]


def test_a_port_that_is_taken_is_one_sentence(store, capsys, monkeypatch):
    monkeypatch.chdir(store)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = error_line(capsys, "serve", [f"port={port}", f"tracking.uri=sqlite:///{store}/mlflow.db"])
    assert line.startswith(f"error: Cannot listen on 127.0.0.1:{port} (Address already in use): choose another port=")


def test_a_version_that_is_not_registered_is_one_sentence(store, capsys, monkeypatch):
    monkeypatch.chdir(store)
    line = error_line(capsys, "serve", ["model_uri=models:/serve_load/7", f"tracking.uri=sqlite:///{store}/mlflow.db",
                                        f"port={free_port()}"])  # fmt: skip
    assert line.startswith("error: There is no models:/serve_load/7 in the model registry at sqlite:///")


def test_the_nesting_check_reads_brackets_inside_strings_as_text():
    assert guard.body_problem(b'{"dataframe_records": [{"n": 1, "attributes": "' + b"[" * 100 + b'"}]}') is None
    assert guard.body_problem(b'{"a": ' + b"[" * 33 + b"]" * 33 + b"}").startswith("The body's JSON is nested 34 deep")
