"""The ASGI app `serve` runs in each uvicorn worker (uvicorn starts workers from an import string): the registered
face_generator that `serve` downloaded, in MLflow's scoring server, behind BodyGuard. MLflow's app reads its request
timeout (MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT) when it is built."""

import os
from pathlib import Path

from mlflow.pyfunc import scoring_server

from face_vae.serving import guard
from face_vae.serving.face_generator import SERVED_FOLDER_VARIABLE, SERVED_URI_VARIABLE, served_model

app = guard.BodyGuard(
    scoring_server.init(served_model(Path(os.environ[SERVED_FOLDER_VARIABLE]), os.environ[SERVED_URI_VARIABLE]))
)
