"""The face_generator pyfunc model as MLflow's "models from code" loads it: this file is logged with the model
and run when the model loads, so nothing is pickled."""

from mlflow.models import set_model

from face_vae.serving.face_generator import FaceGenerator

set_model(FaceGenerator())
