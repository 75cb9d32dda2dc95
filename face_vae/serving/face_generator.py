"""`face_generator`: a trained face_vae model as an MLflow pyfunc model, which `mlflow models serve` answers with.

A request is a table with one row per call, e.g. `{"dataframe_records": [{"n": 4, "seed": 0}]}`; the
answer has one row per face: `request` (the row it answers), `face` (0, 1, ...) and `jpeg` (the JPEG,
base64). The same `n` and `seed` give the same pixels as `python commands.py infer n=4 seed=0` on the
same machine: the same prior, batches, precision and JPEG encoder. `attributes` ('{"Smiling": 1.5}', a
JSON object) steers the faces when an attribute classifier was logged with the model.
"""

import base64
import json
import math
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.types.schema import AnyType, ColSpec, Schema

MODEL_ARTIFACT = "model_file"  # the project's own model file: decoder, fitted prior and sizes
CLASSIFIER_ARTIFACT = "classifier_file"
BATCH_SIZE = 16  # infer's default batch_size: the fastest on a 2-core CPU (the faces of a seed do not depend on it)
MAX_FACES = 256  # per request: a JPEG answer of 256 faces at 150 px is ~2.5 MB of JSON
# `n` and `seed` are typed Any: with `long`, MLflow casts 1.5 and true to 1 before `predict` sees them, so a wrong
# value would be served instead of refused. `_request` checks each value as it was sent.
INPUT_SCHEMA = Schema(
    [
        ColSpec(AnyType(), "n"),
        ColSpec(AnyType(), "seed", required=False),
        ColSpec("string", "attributes", required=False),
    ]
)
SHOWN_CHARS = 60  # of a refused value: a 10 MB value is not echoed back
OUTPUT_SCHEMA = Schema([ColSpec("long", "request"), ColSpec("long", "face"), ColSpec("string", "jpeg")])
INPUT_EXAMPLE = pd.DataFrame([{"n": 2, "seed": 0}])


class BadRequest(MlflowException):
    """A request the scoring server answers with 400 and this one sentence."""

    def __init__(self, message: str):
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)


class FaceGenerator(mlflow.pyfunc.PythonModel):  # pylint: disable=abstract-method  # no streaming
    """Faces from a face_vae model file (and steering from its attribute classifier, when one is logged)."""

    def load_context(self, context) -> None:
        # pylint: disable=attribute-defined-outside-init  # MLflow loads, then calls this
        from face_vae import hardware
        from face_vae.core.models.model_file import load_model
        from face_vae.models.classifier import load_classifier

        model_file = Path(context.artifacts[MODEL_ARTIFACT])
        # The precision and layout `infer` chooses on this machine by default (runtime.*=auto): the same pixels.
        self.runtime = hardware.resolve("auto", "auto", "auto")
        self.network = self.runtime.place(load_model(model_file))
        self.prior = self.network.prior  # infer's default sampler=auto: the prior the model was trained with
        classifier_file = context.artifacts.get(CLASSIFIER_ARTIFACT)
        self.classifier = load_classifier(Path(classifier_file), model_file) if classifier_file else None

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """One row per face of each request row: request, face, jpeg (base64)."""
        del context, params
        requests = [_request(row) for row in _records(model_input)]
        if sum(n for n, _, _ in requests) > MAX_FACES:
            raise BadRequest(f"At most {MAX_FACES} faces per request: ask for fewer, or send several requests.")
        rows = []
        for index, (n, seed, attributes) in enumerate(requests):
            for face, jpeg in enumerate(self.faces(n, seed, attributes)):
                rows.append({"request": index, "face": face, "jpeg": base64.b64encode(jpeg).decode("ascii")})
        return pd.DataFrame(rows, columns=["request", "face", "jpeg"])

    def faces(self, n: int, seed: int, attributes: dict[str, float]) -> list[bytes]:
        """`n` faces as JPEG bytes, drawn as `infer n=N seed=SEED attributes=...` draws them."""
        from face_vae.core.models.sampling import decoded_batches, latent_batches
        from face_vae.core.pictures import jpeg_bytes

        latents = latent_batches(self.prior, n, BATCH_SIZE, seed)
        if attributes:
            shift = self._shift(attributes)
            latents = (batch + shift for batch in latents)
        return [jpeg_bytes(face) for batch in decoded_batches(self.network, latents) for face in batch]

    def _shift(self, attributes: dict[str, float]):
        if self.classifier is None:
            raise BadRequest(
                "This model was registered without an attribute classifier, so it cannot steer attributes: leave "
                "out `attributes`, or use a version logged by `train_classifier`."
            )
        unknown = sorted(set(attributes) - set(self.classifier.attributes))
        if unknown:
            names, known = ", ".join(unknown), ", ".join(self.classifier.attributes)
            if len(names) > SHOWN_CHARS:  # a 900 KB name is not echoed back
                names = f"{names[:SHOWN_CHARS]}... ({len(names):,} characters)"
            raise BadRequest(f"Unknown attribute {names}: the model knows {known}.")
        return self.classifier.shift(attributes)


def _records(model_input) -> list[dict]:
    if isinstance(model_input, pd.DataFrame):
        return model_input.to_dict(orient="records")
    if isinstance(model_input, dict):
        return [model_input]
    if isinstance(model_input, list) and all(isinstance(row, dict) for row in model_input):
        return model_input
    raise BadRequest('Send rows like {"dataframe_records": [{"n": 4, "seed": 0}]}.')


def _request(row: dict) -> tuple[int, int, dict[str, float]]:
    """(n, seed, attributes) of one request row; a BadRequest names what is wrong."""
    n, seed = _whole(row.get("n"), "n", 1), _whole(row.get("seed", 0), "seed", 0)
    if n > MAX_FACES:
        raise BadRequest(f"n={n} is more than {MAX_FACES} faces per request: ask for fewer, or send several requests.")
    return n, seed, _attributes(row.get("attributes"))


def _whole(value, name: str, least: int) -> int:
    """`value` as an int when it was sent as a whole JSON number (not a bool, text or fraction)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        if name == "seed":
            return 0
        raise BadRequest(f'Each row needs "{name}", a whole number of at least {least}.')
    value = value.item() if isinstance(value, np.generic) else value  # pandas hands numpy scalars
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole or value < least:
        raise BadRequest(f'"{name}" must be a whole number of at least {least}, not {_shown(value)}.')
    if value >= 2**63:
        raise BadRequest(f'"{name}" must be a whole number of at least {least} and below 2**63, not {_shown(value)}.')
    return int(value)


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}... ({len(text):,} characters)"


def _attributes(value) -> dict[str, float]:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return {}
    try:
        strengths = json.loads(value) if isinstance(value, str) else value
        if not isinstance(strengths, dict):
            raise ValueError
        parsed = {str(name): float(strength) for name, strength in strengths.items()}
    except (ValueError, TypeError, RecursionError) as error:  # RecursionError: a value nested thousands deep
        raise BadRequest(
            f'"attributes" must be a JSON object of numbers like {{"Smiling": 1.5}}, not {_shown(value)}.'
        ) from error
    if not all(math.isfinite(strength) and abs(strength) <= 10 for strength in parsed.values()):
        raise BadRequest(f'"attributes" strengths must lie between -10 and 10, not {_shown(value)}.')
    return parsed


# Where `serve` tells its uvicorn workers (face_vae/serving/served_app.py) which downloaded version to load.
SERVED_FOLDER_VARIABLE = "FACE_VAE_SERVED_FOLDER"
SERVED_URI_VARIABLE = "FACE_VAE_SERVED_URI"


def served_model(folder: Path, uri: str):
    """The registered face_generator downloaded into `folder`, as the scoring server's model: face_vae's own
    FaceGenerator over the version's model file (read as weights only). Nothing the version holds is run, and a
    version whose MLmodel names other code (a pickled model, another module) is refused."""
    from types import SimpleNamespace

    from mlflow.models import Model
    from mlflow.pyfunc import PyFuncModel

    from face_vae.core.errors import UserError

    meta = Model.load(str(folder / "MLmodel"))
    flavor = meta.flavors.get("python_function", {})
    artifacts = {name: (folder / spec["path"]).resolve() for name, spec in flavor.get("artifacts", {}).items()}
    ours = (
        flavor.get("loader_module") == "mlflow.pyfunc.loaders.code_model"
        and Path(str(flavor.get("model_code_path", ""))).name == "generator_model.py"
        and MODEL_ARTIFACT in artifacts
        and set(artifacts) <= {MODEL_ARTIFACT, CLASSIFIER_ARTIFACT}
        and all(path.is_relative_to(folder.resolve()) for path in artifacts.values())
    )
    if not ours:
        raise UserError(
            f"{uri} is not a face_generator logged by face_vae (its MLmodel names other code or files, which serve "
            "never runs): serve a version that train or train_classifier registered."
        )
    generator = FaceGenerator()
    generator.load_context(SimpleNamespace(artifacts={name: str(path) for name, path in artifacts.items()}))
    return PyFuncModel(model_meta=meta, model_impl=_Predictor(generator))


class _Predictor:  # pylint: disable=too-few-public-methods  # the one call PyFuncModel makes
    def __init__(self, generator: FaceGenerator):
        self.generator = generator

    def predict(self, data, params=None):
        """What MLflow's own wrapper would call: the generator's predict, with no context."""
        return self.generator.predict(None, data, params)


def face_jpegs_from_response(answer: dict) -> list[bytes]:
    """The JPEG bytes of each face in a scoring server's answer, in order (for clients and tests)."""
    return [base64.b64decode(row["jpeg"]) for row in answer["predictions"]]


def log_face_generator(model_file: Path, classifier_file: Path | None = None, name: str = "face_generator") -> str:
    """Log `model_file` (and a classifier of its codes) as the pyfunc model `name` in the active MLflow
    run, with its code and explicit requirements; return the model's URI."""
    from importlib.metadata import version

    from mlflow.models import ModelSignature

    import face_vae

    artifacts = {MODEL_ARTIFACT: str(model_file)}
    if classifier_file is not None:
        artifacts[CLASSIFIER_ARTIFACT] = str(classifier_file)
    # Without local labels (torch==2.x+cu130): no public index serves those; the CPU or CUDA build is the installer's.
    requirements = [
        f"{package}=={version(package).split('+')[0]}" for package in ("mlflow", "torch", "numpy", "pandas", "pillow")
    ]
    info = mlflow.pyfunc.log_model(
        name=name,
        python_model=str(Path(__file__).with_name("generator_model.py")),  # models from code: nothing pickled
        artifacts=artifacts,
        code_paths=[str(Path(face_vae.__file__).parent)],
        signature=ModelSignature(inputs=INPUT_SCHEMA, outputs=OUTPUT_SCHEMA),
        input_example=INPUT_EXAMPLE,
        pip_requirements=requirements,  # explicit: MLflow would otherwise import the model in a subprocess to guess
    )
    return info.model_uri
