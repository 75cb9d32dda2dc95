"""`serve`: MLflow's scoring server for a registered version, behind a body-size and a nesting limit: a hostile body
is one sentence (413 or 400) before MLflow reads it, and the server goes on answering."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
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
        _register_a_pickled_model_that_runs_code(folder)
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
        os.environ.pop("MLFLOW_REGISTRY_URI", None)
    return folder


class _Planted(mlflow.pyfunc.PythonModel):  # pylint: disable=abstract-method  # never served
    """A pickled pyfunc whose loading writes a file: what a hostile registered version would run."""

    def __init__(self, marker: str):
        self.marker = marker

    def load_context(self, context):
        Path(self.marker).write_text("code from the registry ran", encoding="utf-8")

    def predict(self, context, model_input, params=None):
        return model_input


def _register_a_pickled_model_that_runs_code(folder: Path) -> None:
    """models:/planted/1: a cloudpickled pyfunc that also carries a face_vae model file as `model_file`."""
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="planted", python_model=_Planted(str(folder / "planted_code_ran.txt")),
            artifacts={"model_file": str(folder / "vae.pt")},
        )  # fmt: skip
    mlflow.register_model(info.model_uri, "planted")
    (folder / "planted_code_ran.txt").unlink(missing_ok=True)  # logging ran it once, to check the input example


@pytest.fixture(scope="module")
def server(store):
    """`python commands.py serve` on a free loopback port; its URL."""
    port = free_port()
    env = subprocess_env(ROOT) | {"XDG_CACHE_HOME": str(store / "cache")}
    command = [sys.executable, str(ROOT / "commands.py"), "serve", "model_uri=models:/serve_load/1",
               f"tracking.uri=sqlite:///{store}/mlflow.db", f"port={port}", "workers=2", "timeout_s=30"]  # fmt: skip
    with open(store / "serve.log", "wb") as log_file:
        # pylint: disable-next=consider-using-with  # stopped at the end of the module
        process = subprocess.Popen(command, cwd=store, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        assert answers(f"{url}/ping", process, 180), (store / "serve.log").read_text()[-3000:]
        assert "with 2 worker process(es), each request stopped after 30 s" in (store / "serve.log").read_text()
        yield url
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=60)


def _post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, bytes]:
    request = urllib.request.Request(f"{url}/invocations", data=body, headers={"Content-Type": content_type})
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


def _raw_post(url: str, body: bytes, headers: list[tuple[str, str]]) -> tuple[int, bytes]:
    """A POST with exactly these headers (repeated or missing ones included)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        connection.putrequest("POST", "/invocations", skip_accept_encoding=True)
        for name, value in [*headers, ("Content-Length", str(len(body)))]:
            connection.putheader(name, value)
        connection.endheaders(body)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def test_an_unterminated_string_of_escaped_quotes_at_the_limit_is_answered_at_once_and_others_are_served(server):
    body = b'{"dataframe_records": [{"n": 1, "attributes": "' + b'\\"' * ((guard.MAX_BODY_BYTES - 100) // 2)
    other: dict = {}

    def another_client():
        time.sleep(0.2)
        started = time.perf_counter()
        other["status"] = _post(server, b'{"dataframe_records": [{"n": 1}]}')[0]
        other["seconds"] = time.perf_counter() - started

    client = threading.Thread(target=another_client)
    client.start()
    started = time.perf_counter()
    status, answer = _post(server, body)
    seconds = time.perf_counter() - started
    client.join(timeout=60)
    assert status == 400 and json.loads(answer)["message"].startswith("The body is not JSON (Unterminated string")
    assert seconds < 1.0, seconds
    assert other == {"status": 200, "seconds": other["seconds"]} and other["seconds"] < 1.0, other


def test_the_nesting_check_is_linear_in_the_body_size():
    quadratic_before = b'"' + b'\\"' * ((guard.MAX_BODY_BYTES - 1) // 2)
    started = time.perf_counter()
    assert guard.nesting_depth(quadratic_before) == 0
    assert time.perf_counter() - started < 0.5
    assert guard.nesting_depth(b'["\\\\", [["\\"]"]]]') == 3  # an escaped backslash ends its string


@pytest.mark.parametrize(
    "headers, said",
    [
        ([("Content-Type", "application/json"), ("Content-Type", "text/csv")], "Send one Content-Type header"),
        ([], "Send one Content-Type header, application/json (this request has 0)"),
        ([("Content-Type", "text/csv")], "The body is 'text/csv', not JSON"),
    ],
    ids=["two Content-Type headers", "no Content-Type", "CSV"],
)
def test_a_body_that_is_not_one_json_is_a_415_before_mlflow_reads_it(server, headers, said):
    status, answer = _raw_post(server, b"n\n" + b"[" * 100_000, headers)
    assert status == 415 and json.loads(answer)["message"].startswith(said), answer[:300]
    assert b"[[[" not in answer and b"stack_trace" not in answer


def test_no_error_answer_carries_a_traceback_or_a_huge_value(server):
    deep = "[" * 100_000 + "]" * 100_000
    nested = json.dumps({"dataframe_records": [{"n": 1, "attributes": deep}]}).encode()
    status, answer = _post(server, nested)
    assert status == 400 and b"stack_trace" not in answer and b"Traceback" not in answer, answer[:300]
    assert '"attributes" must be a JSON object of numbers' in json.loads(answer)["message"]
    assert len(answer) < 2_000
    assert _post(server, b'{"dataframe_records": [{"n": 1}]}')[0] == 200


def test_a_version_that_is_not_a_face_vae_generator_is_refused_and_none_of_its_code_runs(store, capsys, monkeypatch):
    monkeypatch.chdir(store)
    monkeypatch.setenv("XDG_CACHE_HOME", str(store / "cache"))
    line = error_line(capsys, "serve", ["model_uri=models:/planted/1", f"tracking.uri=sqlite:///{store}/mlflow.db",
                                        f"port={free_port()}"])  # fmt: skip
    assert line.startswith("error: models:/planted/1 is not a face_generator logged by face_vae"), line
    assert not (store / "planted_code_ran.txt").exists()
