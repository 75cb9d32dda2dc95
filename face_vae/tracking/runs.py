"""One MLflow run per call of a command that does not train (infer, evaluate, reconstruct, interpolate)."""

import time
from pathlib import Path

from face_vae.core.errors import UserError
from face_vae.tracking.provenance import git_state


def log_stage_run(  # pylint: disable=too-many-arguments  # the run's store, then what it logs
    uri: str,
    experiment: str,
    params: dict,
    metrics: dict[str, float],
    files: list[Path] = (),
    model_id: str = "",
    training_run: tuple[str, str] = ("", ""),
) -> None:
    """One MLflow run for an `infer` or `evaluate` call: params with the git commit, metrics, files; with a
    `model_id` (MLflow 3's logged model), the metrics are linked to that model too. With a `training_run` (run id,
    prefix) in this store, the metrics are also logged there under the prefix, and this run is tagged with it, so
    that the training run shows how its model scored."""
    import mlflow
    from mlflow.entities import Metric
    from mlflow.exceptions import MlflowException

    commit, dirty = git_state()
    try:
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(experiment)
        with mlflow.start_run():
            mlflow.set_tag("mlflow.source.git.commit", commit)
            mlflow.log_params({**params, "git_commit": commit, "git_dirty": dirty})
            mlflow.log_metrics(metrics, **({"model_id": model_id} if model_id else {}))
            for path in files:
                mlflow.log_artifact(str(path), artifact_path="faces")
            if training_run[0] and _in_store(training_run[0]):
                mlflow.set_tag("training_run_id", training_run[0])
                mlflow.MlflowClient().log_batch(
                    training_run[0], metrics=[Metric(f"{training_run[1]}{key}", value, _now_ms(), 0)
                                              for key, value in metrics.items()]
                )  # fmt: skip
    except (MlflowException, OSError) as error:  # the command's own files are written by now
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise UserError(
            f"The results are written, but MLflow at {uri} could not log the run ({first}): run again once the "
            "server works, or with tracking.enabled=false."
        ) from error


def _in_store(run_id: str) -> bool:
    """Whether the current MLflow store holds the run `run_id` (a model trained against another store does not)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        mlflow.MlflowClient().get_run(run_id)
        return True
    except MlflowException:
        return False


def _now_ms() -> int:
    return int(time.time() * 1000)
