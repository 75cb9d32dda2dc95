"""The served face_generator reads each request value as sent: no float, bool or text taken as a count, and a
refusal never echoes a huge value back. MLflow's own scoring code (the server's request handler) in-process."""

from pathlib import Path

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import scoring_server

from face_vae.core.models.model_file import save_model
from face_vae.core.models.nets.resnet import VAE
from face_vae.serving.face_generator import log_face_generator


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A tiny face_generator logged to a scratch store and loaded as the scoring server loads it."""
    folder = tmp_path_factory.mktemp("served")
    model_file = folder / "vae.pt"
    save_model(VAE(32, [8, 16], 4), model_file)
    mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
    try:
        mlflow.set_experiment("served_input")  # not an experiment id an earlier test's store left active
        with mlflow.start_run():
            uri = log_face_generator(Path(model_file))
        model = mlflow.pyfunc.load_model(uri)
    finally:
        mlflow.set_tracking_uri(None)
    return model


def _status_and_text(model, body: bytes) -> tuple[int, str]:
    try:
        answer = scoring_server.invocations(body, "application/json", model, model.metadata.get_input_schema())
    except MlflowException as error:
        return error.get_http_status_code(), error.message
    return answer.status, str(answer.response)


def test_a_whole_number_is_served(served):
    status, text = _status_and_text(served, b'{"dataframe_records": [{"n": 2, "seed": 3}]}')
    assert status == 200 and text.count('"jpeg"') == 2


@pytest.mark.parametrize(
    "row, said",
    [
        ('{"n": 1.5}', '"n" must be a whole number of at least 1, not 1.5'),
        ('{"n": true}', '"n" must be a whole number of at least 1, not True'),
        ('{"n": "3"}', "\"n\" must be a whole number of at least 1, not '3'"),
        ('{"n": 1, "seed": -4}', '"seed" must be a whole number of at least 0, not -4'),
        ('{"n": 1, "seed": 1e30}', '"seed" must be a whole number of at least 0 and below 2**63'),
        ('{"n": 1, "seed": false}', '"seed" must be a whole number of at least 0, not False'),
    ],
)
def test_a_value_that_is_not_a_whole_number_is_a_400_saying_so(served, row, said):
    status, text = _status_and_text(served, f'{{"dataframe_records": [{row}]}}'.encode())
    assert status == 400 and said in text, (status, text[:300])


def test_a_refusal_never_echoes_a_huge_value(served):
    huge = "x" * 1_000_000
    status, text = _status_and_text(served, f'{{"dataframe_records": [{{"n": 1, "attributes": "{huge}"}}]}}'.encode())
    assert status == 400 and len(text) < 1000 and '"attributes" must be a JSON object' in text
